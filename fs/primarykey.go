package fs

import (
	"fmt"
	"strings"

	"github.com/idxfs/idxfs/index"
	"github.com/idxfs/idxfs/task"
)

// primaryKeyName is the file of an index directory that holds its primary
// key.
const primaryKeyName = "primary-key"

// primaryKeyFile is indexes/NAME/primary-key: it reads as the index's
// primary key and a newline (empty while it has none); write a key to it and
// its close hands it to one indexUpdate task and waits: EINVAL if the index
// has another key or documents, or the key is not one.
func (d *indexDir) primaryKeyFile() *requestFile {
	return &requestFile{m: d.m, indexRef: d.indexRef, name: primaryKeyName,
		read: func(in index.Info) string {
			if in.PrimaryKey == "" {
				return ""
			}
			return in.PrimaryKey + "\n"
		},
		request: func(uid, written string) (task.Request, error) {
			key := strings.TrimSuffix(strings.TrimSuffix(written, "\n"), "\r")
			if key == "" || strings.ContainsAny(key, "\r\n") {
				return task.Request{}, fmt.Errorf("%w: write one primary key, on one line, to %s", task.ErrInvalid, primaryKeyName)
			}
			return task.Request{Kind: task.IndexUpdate, IndexUID: uid, PrimaryKey: key}, nil
		}}
}
