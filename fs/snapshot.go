package fs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"syscall"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/idxfs/idxfs/index"
	"github.com/idxfs/idxfs/task"
)

// snapshotFile is indexes/NAME/snapshot.tar.gz (DESIGN §4).
//
// Lookup starts no work. If a snapshot of the index's current state is
// stored, it returns a node for that stored file (one inode per stored
// file: its size is exact and every handle reads that one file, by FUSE
// passthrough where the kernel allows). Otherwise it returns a new pending
// node, of size 0, whose open creates the snapshot (or joins the creation
// in flight), blocks until it is complete and serves it. The pending node
// is the same for as long as the index's state is (cp checks that stat and
// open see one inode), and only its first open uses passthrough: the kernel
// binds a passthrough backing file to an inode, and an inode must never
// serve two different files that way.
//
// Attribute and entry timeouts are 0: every stat asks, and after an open,
// getattr reports the size of what the open got.
type snapshotFile struct {
	gofs.Inode
	m      *mountState
	uid    string
	stored *task.StoredSnapshot // the stored file this node is; nil for a pending node

	mu          sync.Mutex
	served      *task.StoredSnapshot // pending: what the newest open got
	passthrough bool                 // a handle of this node was offered passthrough
}

// lookupSnapshot answers the lookup of snapshot.tar.gz in index in.
func (d *indexDir) lookupSnapshot(ctx context.Context, in index.Info, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	var st task.StoredSnapshot
	var ok bool
	var err error
	if d.m.opts.ExactStat {
		st, err = d.m.engine.Snapshot(ctx, d.uid)
		ok = err == nil
	} else {
		st, ok, err = d.m.engine.FreshSnapshot(ctx, d.uid)
	}
	if err != nil {
		return nil, toErrno(d.m.log, "lookup", err)
	}
	if ok {
		node := &snapshotFile{m: d.m, uid: d.uid, stored: &st}
		fileAttr(&out.Attr, 0o444, st.Size, in.UpdatedAt)
		return d.NewInode(ctx, node, gofs.StableAttr{Mode: syscall.S_IFREG, Ino: ino("snapshot", st.Path)}), 0
	}
	fileAttr(&out.Attr, 0o444, 0, in.UpdatedAt)
	key := fmt.Sprintf("%s/%d/%d", in.ID, in.Version, in.UpdatedAt.UnixNano())
	return d.NewInode(ctx, &snapshotFile{m: d.m, uid: d.uid}, gofs.StableAttr{Mode: syscall.S_IFREG, Ino: ino("pending", key)}), 0
}

var _ = (gofs.NodeGetattrer)((*snapshotFile)(nil))

func (f *snapshotFile) Getattr(ctx context.Context, fh gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	if f.stored != nil {
		fileAttr(&out.Attr, 0o444, f.stored.Size, f.stored.IndexUpdatedAt)
		return 0
	}
	f.mu.Lock()
	served := f.served
	f.mu.Unlock()
	if served != nil {
		fileAttr(&out.Attr, 0o444, served.Size, served.IndexUpdatedAt)
		return 0
	}
	in, err := f.m.store.Get(ctx, f.uid)
	if err != nil {
		return toErrno(f.m.log, "getattr", err)
	}
	fileAttr(&out.Attr, 0o444, 0, in.UpdatedAt)
	return 0
}

var _ = (gofs.NodeOpener)((*snapshotFile)(nil))

// Open serves the stored file, creating the snapshot first if this is a
// pending node. An interrupted wait returns EINTR (the task goes on); a
// failed creation EIO.
func (f *snapshotFile) Open(ctx context.Context, flags uint32) (gofs.FileHandle, uint32, syscall.Errno) {
	if flags&(syscall.O_WRONLY|syscall.O_RDWR) != 0 {
		return nil, 0, syscall.EACCES
	}
	st := f.stored
	if st != nil {
		if fd, err := os.Open(st.Path); err == nil {
			return f.handle(fd, st.Path, true)
		}
		// Removed by retention since the lookup: get the current one,
		// without passthrough (this inode may be bound to the old file).
	}
	cur, err := f.m.engine.Snapshot(ctx, f.uid)
	if err != nil {
		var te *task.Error
		if errors.As(err, &te) {
			f.m.log.Warn("snapshot creation failed", "op", "open", "index", f.uid, "err", te.Message, "code", te.Code)
			return nil, 0, syscall.EIO
		}
		return nil, 0, toErrno(f.m.log, "open", err)
	}
	fd, err := os.Open(cur.Path)
	if err != nil {
		return nil, 0, toErrno(f.m.log, "open", err)
	}
	f.mu.Lock()
	f.served = &cur
	first := st == nil && !f.passthrough
	f.passthrough = true
	f.mu.Unlock()
	return f.handle(fd, cur.Path, first)
}

// handle wraps an open stored file; with passthrough the kernel may read it
// directly.
func (f *snapshotFile) handle(fd *os.File, path string, passthrough bool) (gofs.FileHandle, uint32, syscall.Errno) {
	h := &readFile{f: fd}
	if passthrough {
		return &passthroughFile{readFile: h}, 0, 0
	}
	return h, 0, 0
}

// readFile is an open regular file on the data dir's disk, read by pread or
// splice.
type readFile struct {
	f *os.File
}

var _ = (gofs.FileReader)((*readFile)(nil))

func (h *readFile) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	return fuse.ReadResultFd(h.f.Fd(), off, len(dest)), 0
}

var _ = (gofs.FileReleaser)((*readFile)(nil))

func (h *readFile) Release(ctx context.Context) syscall.Errno {
	h.f.Close()
	return 0
}

var _ = (gofs.FileLseeker)((*readFile)(nil))

// Lseek answers SEEK_DATA and SEEK_HOLE for tools that probe for holes
// (cp): the file has none.
func (h *readFile) Lseek(ctx context.Context, off uint64, whence uint32) (uint64, syscall.Errno) {
	n, err := h.f.Seek(int64(off), int(whence))
	if err != nil {
		return 0, gofs.ToErrno(err)
	}
	return uint64(n), 0
}

// passthroughFile is a readFile that the kernel may read by passthrough.
type passthroughFile struct {
	*readFile
}

var _ = (gofs.FilePassthroughFder)((*passthroughFile)(nil))

func (h *passthroughFile) PassthroughFd() (int, bool) { return int(h.f.Fd()), true }
