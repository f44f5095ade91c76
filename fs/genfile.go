package fs

import (
	"context"
	"sync"
	"syscall"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// genFile is a read-only file whose content is generated when it is opened
// (status files, task files). Each handle reads the content of its open,
// whole and unchanged, so cat, less, grep, jq and python see one consistent
// document. While a handle is open, getattr reports the size of the newest
// open handle's content, so a tool that reads the size that fstat reports
// after open (rsync) gets every byte; otherwise it generates afresh.
type genFile struct {
	gofs.Inode
	refusingFile
	m   *mountState
	gen func(ctx context.Context) ([]byte, time.Time, error)

	mu   sync.Mutex
	open map[*genHandle]bool
	last *genHandle // the newest open handle
}

// lookupGen answers the lookup of a generated file under parent: a new
// inode for gen, with its attributes in out.
func (m *mountState) lookupGen(ctx context.Context, parent *gofs.Inode, gen func(ctx context.Context) ([]byte, time.Time, error), ino uint64, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	ch := parent.NewInode(ctx, &genFile{m: m, gen: gen}, gofs.StableAttr{Mode: syscall.S_IFREG, Ino: ino})
	var a fuse.AttrOut
	// The inode may be one the kernel still knows, with a handle open:
	// ask it, not the new node, for its size.
	if errno := ch.Operations().(*genFile).Getattr(ctx, nil, &a); errno != 0 {
		return nil, errno
	}
	out.Attr = a.Attr
	return ch, 0
}

var _ = (gofs.NodeGetattrer)((*genFile)(nil))

func (g *genFile) Getattr(ctx context.Context, f gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	if h, ok := f.(*genHandle); ok {
		g.m.fileAttr(&out.Attr, readOnlyMode, int64(len(h.data)), h.mtime)
		return 0
	}
	g.mu.Lock()
	h := g.last
	g.mu.Unlock()
	if h != nil {
		g.m.fileAttr(&out.Attr, readOnlyMode, int64(len(h.data)), h.mtime)
		return 0
	}
	data, mtime, err := g.gen(ctx)
	if err != nil {
		return toErrno(g.m.log, "getattr", err)
	}
	g.m.fileAttr(&out.Attr, readOnlyMode, int64(len(data)), mtime)
	return 0
}

var _ = (gofs.NodeOpener)((*genFile)(nil))

func (g *genFile) Open(ctx context.Context, flags uint32) (gofs.FileHandle, uint32, syscall.Errno) {
	if flags&(syscall.O_WRONLY|syscall.O_RDWR) != 0 {
		return nil, 0, syscall.EACCES
	}
	data, mtime, err := g.gen(ctx)
	if err != nil {
		return nil, 0, toErrno(g.m.log, "open", err)
	}
	h := &genHandle{node: g, data: data, mtime: mtime}
	g.mu.Lock()
	if g.open == nil {
		g.open = map[*genHandle]bool{}
	}
	g.open[h] = true
	g.last = h
	g.mu.Unlock()
	// Direct I/O: reads reach the handle whatever size the kernel cached.
	return h, fuse.FOPEN_DIRECT_IO, 0
}

// genHandle is one open of a genFile.
type genHandle struct {
	node  *genFile
	data  []byte
	mtime time.Time
}

var _ = (gofs.FileReader)((*genHandle)(nil))

func (h *genHandle) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	if off >= int64(len(h.data)) {
		return fuse.ReadResultData(nil), 0
	}
	end := min(off+int64(len(dest)), int64(len(h.data)))
	return fuse.ReadResultData(h.data[off:end]), 0
}

var _ = (gofs.FileReleaser)((*genHandle)(nil))

func (h *genHandle) Release(ctx context.Context) syscall.Errno {
	g := h.node
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.open, h)
	if g.last == h {
		g.last = nil
		for o := range g.open {
			g.last = o // any other open one
			break
		}
	}
	return 0
}
