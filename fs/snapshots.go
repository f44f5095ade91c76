package fs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"syscall"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/idxfs/idxfs/task"
)

// snapshotsDir is MOUNT/snapshots/: a read-only view of the snapshot store,
// one directory per index that has stored snapshots (deleted indexes'
// included: they are backups).
type snapshotsDir struct {
	gofs.Inode
	refusingDir
	m *mountState
}

var _ = (gofs.NodeGetattrer)((*snapshotsDir)(nil))

func (d *snapshotsDir) Getattr(ctx context.Context, f gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	mtime := d.m.started
	if st, err := os.Stat(d.m.store.SnapshotsDir()); err == nil {
		mtime = st.ModTime()
	}
	d.m.dirAttr(&out.Attr, mtime, 2)
	return 0
}

func (d *snapshotsDir) names() ([]string, error) {
	ents, err := os.ReadDir(d.m.store.SnapshotsDir())
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		if e.IsDir() {
			out = append(out, e.Name())
		}
	}
	sort.Strings(out)
	return out, nil
}

var _ = (gofs.NodeReaddirer)((*snapshotsDir)(nil))

func (d *snapshotsDir) Readdir(ctx context.Context) (gofs.DirStream, syscall.Errno) {
	names, err := d.names()
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
	st, err := os.Lstat(filepath.Join(d.m.store.SnapshotsDir(), name))
	if err != nil || !st.IsDir() {
		return nil, syscall.ENOENT
	}
	d.m.dirAttr(&out.Attr, st.ModTime(), 2)
	return d.NewInode(ctx, &snapshotsIndexDir{m: d.m, uid: name}, gofs.StableAttr{Mode: syscall.S_IFDIR, Ino: ino("snapdir", name)}), 0
}

// snapshotsIndexDir is MOUNT/snapshots/NAME/.
type snapshotsIndexDir struct {
	gofs.Inode
	refusingDir
	m   *mountState
	uid string
}

func (d *snapshotsIndexDir) path(name string) string {
	return filepath.Join(d.m.store.SnapshotsDir(), d.uid, name)
}

var _ = (gofs.NodeGetattrer)((*snapshotsIndexDir)(nil))

func (d *snapshotsIndexDir) Getattr(ctx context.Context, f gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	st, err := os.Lstat(d.path(""))
	if err != nil {
		return toErrno(d.m.log, "getattr", err)
	}
	d.m.dirAttr(&out.Attr, st.ModTime(), 2)
	return 0
}

var _ = (gofs.NodeReaddirer)((*snapshotsIndexDir)(nil))

func (d *snapshotsIndexDir) Readdir(ctx context.Context) (gofs.DirStream, syscall.Errno) {
	ents, err := os.ReadDir(d.path(""))
	if err != nil {
		return nil, toErrno(d.m.log, "readdir", err)
	}
	var es []fuse.DirEntry
	for _, e := range ents {
		if e.Type().IsRegular() && filepath.Ext(e.Name()) == filepath.Ext(task.SnapshotSuffix) {
			es = append(es, fuse.DirEntry{Name: e.Name(), Mode: syscall.S_IFREG, Ino: ino("stored", d.path(e.Name()))})
		}
	}
	return gofs.NewListDirStream(es), 0
}

var _ = (gofs.NodeLookuper)((*snapshotsIndexDir)(nil))

func (d *snapshotsIndexDir) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	p := d.path(name)
	st, err := os.Lstat(p) // a symbolic link is no stored snapshot
	if err != nil || !st.Mode().IsRegular() || filepath.Ext(name) != filepath.Ext(task.SnapshotSuffix) {
		return nil, syscall.ENOENT
	}
	d.m.fileAttr(&out.Attr, readOnlyMode, st.Size(), st.ModTime())
	out.SetEntryTimeout(dirTimeout)
	out.SetAttrTimeout(dirTimeout)
	return d.NewInode(ctx, &storedFile{m: d.m, path: p}, gofs.StableAttr{Mode: syscall.S_IFREG, Ino: ino("stored", p)}), 0
}

// storedFile is a completed snapshot in the store: an immutable file,
// served by passthrough where the kernel allows.
type storedFile struct {
	gofs.Inode
	refusingFile
	m    *mountState
	path string
}

var _ = (gofs.NodeGetattrer)((*storedFile)(nil))

func (f *storedFile) Getattr(ctx context.Context, fh gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	st, err := os.Lstat(f.path)
	if err != nil {
		return toErrno(f.m.log, "getattr", err)
	}
	f.m.fileAttr(&out.Attr, readOnlyMode, st.Size(), st.ModTime())
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
