package fs

import (
	"context"
	"fmt"
	"os"
	"strings"
	"syscall"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/idxfs/idxfs/index"
	"github.com/idxfs/idxfs/task"
)

// deleteDocumentsName is the write-only file of an index directory that
// deletes documents by id.
const deleteDocumentsName = "delete-documents"

// requestFile is a file of an index directory whose close hands what was
// written to one task and waits for it, with the errno of
// documents.ndjson's close (a bad request: EINVAL, nothing changed):
// delete-documents and primary-key. A stat starts no work, and a read gives
// what read returns (delete-documents: nothing), so that tar, rsync and
// cp -r of an index directory copy it rather than fail.
type requestFile struct {
	gofs.Inode
	m *mountState
	indexRef
	name    string
	read    func(index.Info) string                         // the file's content
	request func(uid, written string) (task.Request, error) // the task of a close
}

// deleteDocumentsFile is indexes/NAME/delete-documents: write document ids
// to it, one a line, and its close hands them to one documentDeletion task.
// It is always empty.
func (d *indexDir) deleteDocumentsFile() *requestFile {
	return &requestFile{m: d.m, indexRef: d.indexRef, name: deleteDocumentsName,
		read: func(index.Info) string { return "" },
		request: func(uid, written string) (task.Request, error) {
			ids, err := documentIDs(written)
			return task.Request{Kind: task.DocumentDeletion, IndexUID: uid, IDs: ids}, err
		}}
}

// requestFileMode is the nominal mode of a request file, documents.ndjson's:
// the owner writes, and reading is no secret.
const requestFileMode = 0o644

func (d *indexDir) lookupRequestFile(ctx context.Context, f *requestFile, in index.Info, out *fuse.EntryOut) *gofs.Inode {
	ch := d.NewInode(ctx, f, gofs.StableAttr{Mode: syscall.S_IFREG, Ino: ino(f.name, d.lineage)})
	d.m.fileAttr(&out.Attr, requestFileMode, int64(len(f.read(in))), in.UpdatedAt)
	return ch
}

var _ = (gofs.NodeGetattrer)((*requestFile)(nil))

func (f *requestFile) Getattr(ctx context.Context, fh gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	in, err := f.m.store.Get(ctx, f.uid())
	if err != nil {
		return toErrno(f.m.log, "getattr", err)
	}
	f.m.fileAttr(&out.Attr, requestFileMode, int64(len(f.read(in))), in.UpdatedAt)
	return 0
}

var _ = (gofs.NodeSetattrer)((*requestFile)(nil))

// Setattr accepts a truncate through a write handle (> opens with O_TRUNC)
// and refuses one by path; times and mode are EPERM like the other files.
func (f *requestFile) Setattr(ctx context.Context, fh gofs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	if _, ok := in.GetSize(); !ok {
		return syscall.EPERM
	}
	if errno := truncateWriter(f.m, fh, in, "truncate of "+f.name+" refused: write to it instead", f.uid()); errno != 0 {
		return errno
	}
	return f.Getattr(ctx, fh, out)
}

var _ = (gofs.NodeOpener)((*requestFile)(nil))

func (f *requestFile) Open(ctx context.Context, flags uint32) (gofs.FileHandle, uint32, syscall.Errno) {
	if flags&syscall.O_ACCMODE == syscall.O_RDONLY {
		in, err := f.m.store.Get(ctx, f.uid())
		if err != nil {
			return nil, 0, toErrno(f.m.log, "open", err)
		}
		return textFile(f.read(in)), fuse.FOPEN_DIRECT_IO, 0
	}
	st, err := newStaging(f.m.store.TmpDir(), f.name+"-*.staging")
	if err != nil {
		return nil, 0, toErrno(f.m.log, "open", err)
	}
	w := &documentsWriter{m: f.m, indexRef: f.indexRef, name: f.name, stage: st, replace: flags&syscall.O_APPEND == 0}
	w.request = func(payload *staging, _ bool) (task.Request, error) {
		data, err := os.ReadFile(payload.path)
		os.Remove(payload.path)
		if err != nil {
			return task.Request{}, err
		}
		return f.request(w.uid(), string(data))
	}
	return w, fuse.FOPEN_DIRECT_IO, 0
}

// textFile is a read open of a request file: its content when opened.
type textFile string

var _ = (gofs.FileReader)(textFile(""))

func (t textFile) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	if off >= int64(len(t)) {
		return fuse.ReadResultData(nil), 0
	}
	return fuse.ReadResultData([]byte(t[off:min(int64(len(t)), off+int64(len(dest)))])), 0
}

// documentIDs parses ids written to delete-documents: one a line, blank
// lines skipped. The engine validates each.
func documentIDs(s string) ([]string, error) {
	var ids []string
	for line := range strings.Lines(s) {
		if id := strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r"); id != "" {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("%w: no document id was written to %s", task.ErrInvalid, deleteDocumentsName)
	}
	return ids, nil
}
