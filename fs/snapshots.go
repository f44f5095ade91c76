package fs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/idxfs/idxfs/task"
)

// snapshotsDir is MOUNT/snapshots/: a view of the snapshot store, read-only
// but for rm of a stored snapshot (snapshotsIndexDir.Unlink),
// as the engine lists it, one directory per index that has stored snapshots
// (deleted indexes' included: they are backups).
type snapshotsDir struct {
	gofs.Inode
	refusingDir
	m *mountState
}

var _ = (gofs.NodeGetattrer)((*snapshotsDir)(nil))

func (d *snapshotsDir) Getattr(ctx context.Context, f gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	mtime := d.m.started
	if sd, err := d.m.engine.SnapshotDir(""); err == nil {
		mtime = sd.ModTime
	}
	d.m.dirAttr(&out.Attr, mtime, 2)
	return 0
}

var _ = (gofs.NodeReaddirer)((*snapshotsDir)(nil))

func (d *snapshotsDir) Readdir(ctx context.Context) (gofs.DirStream, syscall.Errno) {
	names, err := d.m.engine.SnapshotDirs()
	if err != nil {
		return nil, toErrno(d.m.log, "readdir", err)
	}
	es := make([]fuse.DirEntry, 0, len(names))
	for _, n := range names {
		es = append(es, fuse.DirEntry{Name: n, Mode: syscall.S_IFDIR, Ino: ino("snapdir", n)})
	}
	return gofs.NewListDirStream(es), 0
}

var _ = (gofs.NodeLookuper)((*snapshotsDir)(nil))

func (d *snapshotsDir) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	sd, err := d.m.engine.SnapshotDir(name)
	if err != nil {
		return nil, syscall.ENOENT
	}
	d.m.dirAttr(&out.Attr, sd.ModTime, 2)
	return d.NewInode(ctx, &snapshotsIndexDir{m: d.m, uid: name}, gofs.StableAttr{Mode: syscall.S_IFDIR, Ino: ino("snapdir", name)}), 0
}

// snapshotsIndexDir is MOUNT/snapshots/NAME/: the files of the index's
// directory in the store that the store counts as stored snapshots (by
// name: task.Engine.SnapshotFiles).
type snapshotsIndexDir struct {
	gofs.Inode
	refusingDir
	m   *mountState
	uid string
}

var _ = (gofs.NodeGetattrer)((*snapshotsIndexDir)(nil))

func (d *snapshotsIndexDir) Getattr(ctx context.Context, f gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	sd, err := d.m.engine.SnapshotDir(d.uid)
	if err != nil {
		return toErrno(d.m.log, "getattr", err)
	}
	d.m.dirAttr(&out.Attr, sd.ModTime, 2)
	return 0
}

var _ = (gofs.NodeReaddirer)((*snapshotsIndexDir)(nil))

func (d *snapshotsIndexDir) Readdir(ctx context.Context) (gofs.DirStream, syscall.Errno) {
	files, err := d.m.engine.SnapshotFiles(d.uid)
	if err != nil {
		return nil, toErrno(d.m.log, "readdir", err)
	}
	var es []fuse.DirEntry
	for _, sf := range files {
		es = append(es, fuse.DirEntry{Name: sf.Name, Mode: syscall.S_IFREG, Ino: ino("stored", sf.Path)})
	}
	return gofs.NewListDirStream(es), 0
}

var _ = (gofs.NodeLookuper)((*snapshotsIndexDir)(nil))

func (d *snapshotsIndexDir) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	sf, err := d.m.engine.SnapshotFile(d.uid, name) // a symbolic link is no stored snapshot
	if err != nil {
		return nil, syscall.ENOENT
	}
	d.m.fileAttr(&out.Attr, readOnlyMode, sf.Size, sf.ModTime)
	out.SetEntryTimeout(dirTimeout)
	out.SetAttrTimeout(dirTimeout)
	return d.NewInode(ctx, &storedFile{m: d.m, uid: d.uid, name: name, path: sf.Path}, gofs.StableAttr{Mode: syscall.S_IFREG, Ino: ino("stored", sf.Path)}), 0
}

var _ = (gofs.NodeUnlinker)((*snapshotsIndexDir)(nil))

// Unlink deletes a stored snapshot from the store (task.Engine.DeleteSnapshot:
// unlinked, the directory synced); a reader that has it open reads on. The
// one built-in entry whose rm does something: only a stored snapshot file
// can go, anything else there is ENOENT.
func (d *snapshotsIndexDir) Unlink(ctx context.Context, name string) syscall.Errno {
	sf, err := d.m.engine.SnapshotFile(d.uid, name)
	if err != nil {
		return syscall.ENOENT
	}
	if err := d.m.engine.DeleteSnapshot(sf); err != nil {
		return toErrno(d.m.log, "unlink", err)
	}
	return 0
}

// storedFile is a completed snapshot in the store: an immutable file,
// served by passthrough where the kernel allows.
type storedFile struct {
	gofs.Inode
	refusingFile
	m         *mountState
	uid, name string // its index and its name in the store
	path      string
}

var _ = (gofs.NodeGetattrer)((*storedFile)(nil))

func (f *storedFile) Getattr(ctx context.Context, fh gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	sf, err := f.m.engine.SnapshotFile(f.uid, f.name)
	if err != nil {
		return toErrno(f.m.log, "getattr", err)
	}
	f.m.fileAttr(&out.Attr, readOnlyMode, sf.Size, sf.ModTime)
	out.SetTimeout(dirTimeout)
	return 0
}

var _ = (gofs.NodeOpener)((*storedFile)(nil))

func (f *storedFile) Open(ctx context.Context, flags uint32) (gofs.FileHandle, uint32, syscall.Errno) {
	if flags&(syscall.O_WRONLY|syscall.O_RDWR) != 0 {
		return nil, 0, syscall.EACCES
	}
	fd, err := openStored(f.m, f.path)
	if err != nil {
		return nil, 0, toErrno(f.m.log, "open", err)
	}
	return &passthroughFile{readFile: &readFile{f: fd}}, 0, 0
}

// openStored opens a file of the snapshot store with task.OpenStored, which
// refuses what the store did not write (a symbolic link placed there, say).
// A refusal is EACCES and a warning: someone put a file there by hand.
func openStored(m *mountState, path string) (*os.File, error) {
	fd, err := task.OpenStored(path)
	if errors.Is(err, task.ErrNotStored) {
		m.log.Warn("refused to serve a file of the snapshot store that idxfs did not write", "path", path, "err", err)
		return nil, fmt.Errorf("%w: %w", err, syscall.EACCES)
	}
	return fd, err
}
