package fs

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/idxfs/idxfs/index"
	"github.com/idxfs/idxfs/index/indextest"
)

// TestStatusShowsSnapshotReuse: indexes/NAME/status.json and status say
// how much of the latest snapshot was copied from the one before.
func TestStatusShowsSnapshotReuse(t *testing.T) {
	f := mountFS(t, map[string]int{"movies": 40_000}, nil)
	f.read("indexes", "movies", "snapshot.tar.gz")
	// Pebble compacts in the background: of several rounds of +1 %
	// documents, some find sstables the previous snapshot holds.
	for round := 1; round <= 4; round++ {
		from := 40_001 + round*400
		if _, err := f.store.AddDocuments(context.Background(), "movies", bytes.NewReader(indextest.NDJSON(from, from+399)), index.WriteOptions{}); err != nil {
			t.Fatal(err)
		}
		f.read("indexes", "movies", "snapshot.tar.gz")
		var st struct {
			LatestSnapshot struct {
				ReusedFiles *int   `json:"reusedFiles"`
				ReusedBytes *int64 `json:"reusedBytes"`
			} `json:"latestSnapshot"`
		}
		if err := json.Unmarshal(f.read("indexes", "movies", "status.json"), &st); err != nil {
			t.Fatal(err)
		}
		ls := st.LatestSnapshot
		if ls.ReusedFiles == nil || ls.ReusedBytes == nil {
			t.Fatal("status.json: latestSnapshot has no reusedFiles/reusedBytes")
		}
		text := string(f.read("indexes", "movies", "status"))
		if !strings.Contains(text, "latest snapshot reuse:") {
			t.Fatalf("status has no reuse row:\n%s", text)
		}
		if *ls.ReusedFiles > 0 {
			if *ls.ReusedBytes <= 0 || !strings.Contains(text, "copied from the snapshot before") {
				t.Fatalf("status.json says %d files reused, %d bytes; status:\n%s", *ls.ReusedFiles, *ls.ReusedBytes, text)
			}
			return
		}
	}
	t.Fatal("four snapshots after +1 % documents reused nothing")
}
