package fs

// The go-fuse nodes of import/: they translate FUSE calls into the methods
// of the import table (imports.go) and entries (importentry.go).

import (
	"context"
	"errors"
	"io"
	"syscall"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// importDir is MOUNT/import/.
type importDir struct {
	gofs.Inode
	refusingDir
	m *mountState
}

var _ = (gofs.NodeGetattrer)((*importDir)(nil))

func (d *importDir) Getattr(ctx context.Context, f gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	d.m.dirAttr(&out.Attr, d.m.started, 2)
	return 0
}

var _ = (gofs.NodeLookuper)((*importDir)(nil))

func (d *importDir) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	e := d.m.imports.get(name)
	if e == nil {
		return nil, syscall.ENOENT
	}
	e.fuseAttr(&out.Attr)
	return d.node(ctx, e), 0
}

func (d *importDir) node(ctx context.Context, e *importEntry) *gofs.Inode {
	return d.NewInode(ctx, &importFile{e: e}, gofs.StableAttr{Mode: syscall.S_IFREG, Ino: e.ino})
}

var _ = (gofs.NodeReaddirer)((*importDir)(nil))

func (d *importDir) Readdir(ctx context.Context) (gofs.DirStream, syscall.Errno) {
	var es []fuse.DirEntry
	for _, e := range d.m.imports.list() {
		es = append(es, fuse.DirEntry{Name: e.currentName(), Mode: syscall.S_IFREG, Ino: e.ino})
	}
	return gofs.NewListDirStream(es), 0
}

var _ = (gofs.NodeCreater)((*importDir)(nil))

// Create reserves the name (DESIGN §5) and stages what is written.
func (d *importDir) Create(ctx context.Context, name string, flags uint32, mode uint32, out *fuse.EntryOut) (*gofs.Inode, gofs.FileHandle, uint32, syscall.Errno) {
	e, h, errno := d.m.imports.create(name, mode)
	if errno != 0 {
		return nil, nil, 0, errno
	}
	e.fuseAttr(&out.Attr)
	return d.node(ctx, e), h, 0, 0
}

var _ = (gofs.NodeUnlinker)((*importDir)(nil))

// Unlink abandons an import in progress (its task is canceled) or forgets a
// committed entry (the index stays).
func (d *importDir) Unlink(ctx context.Context, name string) syscall.Errno {
	e := d.m.imports.get(name)
	if e == nil {
		return syscall.ENOENT
	}
	d.m.imports.abandon(e, "unlinked")
	return 0
}

var _ = (gofs.NodeRenamer)((*importDir)(nil))

// Rename commits a temporary name under its final one. Renames into
// import/ from elsewhere in the mount get EXDEV, so mv copies instead.
func (d *importDir) Rename(ctx context.Context, name string, newParent gofs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	if _, ok := newParent.(*importDir); !ok {
		return syscall.EXDEV
	}
	e := d.m.imports.get(name)
	if e == nil {
		return syscall.ENOENT
	}
	if flags&^uint32(1) != 0 { // only RENAME_NOREPLACE, which is what happens anyway
		return syscall.EINVAL
	}
	return d.m.imports.rename(ctx, e, newName)
}

// importFile is a file in import/.
type importFile struct {
	gofs.Inode
	e *importEntry
}

func (e *importEntry) fuseAttr(a *fuse.Attr) {
	at := e.attr()
	a.Mode = syscall.S_IFREG | at.mode
	a.Nlink = 1
	a.Size = uint64(at.size)
	a.Blocks = (uint64(at.size) + 511) / 512
	a.Blksize = ioBlockSize
	a.SetTimes(&at.atime, &at.mtime, &at.mtime)
}

var _ = (gofs.NodeGetattrer)((*importFile)(nil))

func (f *importFile) Getattr(ctx context.Context, fh gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	f.e.fuseAttr(&out.Attr)
	return 0
}

var _ = (gofs.NodeSetattrer)((*importFile)(nil))

// Setattr accepts what cp -a, mv, python's copy2 and rsync set after (or
// before) the data: mode, owner and times are recorded and change nothing;
// a size truncates the staged bytes before the commit and is ignored after.
func (f *importFile) Setattr(ctx context.Context, fh gofs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	if size, ok := in.GetSize(); ok {
		h, _ := fh.(*importHandle)
		if errno := f.e.truncate(h, int64(size)); errno != 0 {
			return errno
		}
	}
	var mode *uint32
	var mtime, atime *time.Time
	if m, ok := in.GetMode(); ok {
		mode = &m
	}
	if t, ok := in.GetMTime(); ok {
		mtime = &t
	}
	if t, ok := in.GetATime(); ok {
		atime = &t
	}
	f.e.setAttr(mode, mtime, atime)
	f.e.fuseAttr(&out.Attr)
	return 0
}

var _ = (gofs.NodeOpener)((*importFile)(nil))

// Open opens an entry for reading back, or for writing if nobody else is
// writing it (importEntry.openHandle).
func (f *importFile) Open(ctx context.Context, flags uint32) (gofs.FileHandle, uint32, syscall.Errno) {
	write := flags&(syscall.O_WRONLY|syscall.O_RDWR|syscall.O_TRUNC) != 0
	h, errno := f.e.openHandle(write, flags&syscall.O_TRUNC != 0)
	if errno != 0 {
		return nil, 0, errno
	}
	return h, 0, 0
}

var _ = (gofs.FileWriter)((*importHandle)(nil))

// Write stages data (importEntry.write).
func (h *importHandle) Write(ctx context.Context, data []byte, off int64) (uint32, syscall.Errno) {
	return h.e.write(ctx, h, data, off)
}

var _ = (gofs.FileReader)((*importHandle)(nil))

func (h *importHandle) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	n, err := h.e.stage.ReadAt(dest, off)
	if err != nil && n == 0 && !isEOF(err) {
		return nil, h.e.streamErrno("read", err)
	}
	return fuse.ReadResultData(dest[:n]), 0
}

var _ = (gofs.FileFlusher)((*importHandle)(nil))

// Flush commits the import if this handle wrote data (importEntry.flush).
func (h *importHandle) Flush(ctx context.Context) syscall.Errno { return h.e.flush(ctx, h) }

var _ = (gofs.FileReleaser)((*importHandle)(nil))

// Release ends a handle (importEntry.release).
func (h *importHandle) Release(ctx context.Context) syscall.Errno {
	h.e.release(h)
	return 0
}

var _ = (gofs.FileFsyncer)((*importHandle)(nil))

func (h *importHandle) Fsync(ctx context.Context, flags uint32) syscall.Errno { return 0 }

var _ = (gofs.FileSetattrer)((*importHandle)(nil))

func (h *importHandle) Setattr(ctx context.Context, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	return (&importFile{e: h.e}).Setattr(ctx, h, in, out)
}

func isEOF(err error) bool { return errors.Is(err, io.EOF) }
