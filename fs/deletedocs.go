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

// deleteDocumentsFile is indexes/NAME/delete-documents: write document ids
// to it, one a line, and its close hands them to one documentDeletion task
// and waits for it, with the errno of documents.ndjson's close (a bad id:
// EINVAL, nothing deleted). It is always empty: a stat starts no work and
// a read gives nothing, so that tar, rsync and cp -r of an index directory
// copy it as an empty file rather than fail.
type deleteDocumentsFile struct {
	gofs.Inode
	m *mountState
	indexRef
}

// deleteDocumentsMode is its nominal mode, documents.ndjson's: the owner
// writes, and reading (nothing) is no secret.
const deleteDocumentsMode = 0o644

func (d *indexDir) lookupDeleteDocuments(ctx context.Context, in index.Info, out *fuse.EntryOut) *gofs.Inode {
	ch := d.NewInode(ctx, &deleteDocumentsFile{m: d.m, indexRef: d.indexRef},
		gofs.StableAttr{Mode: syscall.S_IFREG, Ino: ino(deleteDocumentsName, d.lineage)})
	d.m.fileAttr(&out.Attr, deleteDocumentsMode, 0, in.UpdatedAt)
	return ch
}

var _ = (gofs.NodeGetattrer)((*deleteDocumentsFile)(nil))

func (f *deleteDocumentsFile) Getattr(ctx context.Context, fh gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	in, err := f.m.store.Get(ctx, f.uid())
	if err != nil {
		return toErrno(f.m.log, "getattr", err)
	}
	f.m.fileAttr(&out.Attr, deleteDocumentsMode, 0, in.UpdatedAt)
	return 0
}

var _ = (gofs.NodeSetattrer)((*deleteDocumentsFile)(nil))

// Setattr accepts a truncate through a write handle (> opens with O_TRUNC)
// and refuses one by path; times and mode are EPERM like the other files.
func (f *deleteDocumentsFile) Setattr(ctx context.Context, fh gofs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	if _, ok := in.GetSize(); !ok {
		return syscall.EPERM
	}
	if errno := truncateWriter(f.m, fh, in, "truncate of "+deleteDocumentsName+" refused: write document ids to it, one a line", f.uid()); errno != 0 {
		return errno
	}
	return f.Getattr(ctx, fh, out)
}

var _ = (gofs.NodeOpener)((*deleteDocumentsFile)(nil))

func (f *deleteDocumentsFile) Open(ctx context.Context, flags uint32) (gofs.FileHandle, uint32, syscall.Errno) {
	if flags&syscall.O_ACCMODE == syscall.O_RDONLY {
		return emptyFile{}, fuse.FOPEN_DIRECT_IO, 0
	}
	st, err := newStaging(f.m.store.TmpDir(), "delete-*.staging")
	if err != nil {
		return nil, 0, toErrno(f.m.log, "open", err)
	}
	w := &documentsWriter{m: f.m, indexRef: f.indexRef, name: deleteDocumentsName, stage: st, replace: flags&syscall.O_APPEND == 0}
	w.request = func(payload *staging, _ bool) (task.Request, error) {
		data, err := os.ReadFile(payload.path)
		os.Remove(payload.path)
		if err != nil {
			return task.Request{}, err
		}
		ids, err := documentIDs(string(data))
		return task.Request{Kind: task.DocumentDeletion, IndexUID: w.uid(), IDs: ids}, err
	}
	return w, fuse.FOPEN_DIRECT_IO, 0
}

// emptyFile is a read open of delete-documents: nothing to read.
type emptyFile struct{}

var _ = (gofs.FileReader)(emptyFile{})

func (emptyFile) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	return fuse.ReadResultData(nil), 0
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
