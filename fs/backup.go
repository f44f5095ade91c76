package fs

import (
	"context"
	"strings"
	"syscall"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// backupName ends every file of backup/: NAME.tar.gz is index NAME's
// current snapshot.
const backupSuffix = ".tar.gz"

// backupDir is MOUNT/backup/: a flat, read-only directory where each index's
// current snapshot is a file NAME.tar.gz, the very node of
// indexes/NAME/snapshot.tar.gz (snapshotFile: lookup starts no work, open
// creates or joins a snapshot, the exact size after open, passthrough), so
// that `rsync -a MOUNT/backup/ DEST/` and `cp MOUNT/backup/*.tar.gz DEST/`
// back up every index and nothing else. Its mtime is the index's updatedAt,
// its size that of the stored snapshot of that state: a second rsync of an
// unchanged index finds size and mtime equal and sends nothing.
type backupDir struct {
	gofs.Inode
	refusingDir
	m *mountState
}

var _ = (gofs.NodeGetattrer)((*backupDir)(nil))

func (d *backupDir) Getattr(ctx context.Context, f gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	d.m.dirAttr(&out.Attr, d.m.indexesMtime(), 2)
	return 0
}

var _ = (gofs.NodeReaddirer)((*backupDir)(nil))

func (d *backupDir) Readdir(ctx context.Context) (gofs.DirStream, syscall.Errno) {
	ins, err := d.m.store.List(ctx)
	if err != nil {
		return nil, toErrno(d.m.log, "readdir", err)
	}
	es := make([]fuse.DirEntry, 0, len(ins))
	for _, in := range ins {
		es = append(es, fuse.DirEntry{Name: in.UID + backupSuffix, Mode: syscall.S_IFREG})
	}
	return gofs.NewListDirStream(es), 0
}

var _ = (gofs.NodeLookuper)((*backupDir)(nil))

func (d *backupDir) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	uid, ok := strings.CutSuffix(name, backupSuffix)
	if !ok || uid == "" {
		return nil, syscall.ENOENT
	}
	in, err := d.m.store.Get(ctx, uid)
	if err != nil {
		return nil, toErrno(d.m.log, "lookup", err)
	}
	return lookupSnapshotFile(ctx, d.m, &d.Inode, indexRef{store: d.m.store, lineage: in.Lineage, last: in.UID}, in, out)
}
