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
// stored, it returns a node for that stored file, with its exact size.
// Otherwise it returns a pending node, of size 0, the same for as long as
// the index's state is (cp checks that stat and open see one inode); its
// open creates the snapshot (or joins the creation in flight) and blocks
// until the archive's bytes are complete — not until the store has synced
// and stored it, which goes on behind (the archive checks itself).
//
// A node serves one file for its whole life: its first open picks it (the
// stored file, or the new snapshot) and every later open shares that open
// file. This is what makes FUSE passthrough safe: the kernel binds one
// backing file to an inode, and an inode may not mix passthrough and plain
// opens. So every open is a passthrough open (where the kernel and
// privileges allow; plain reads otherwise), and getattr after an open
// reports the size of the served file.
//
// Attribute and entry timeouts are 0: every stat asks.
type snapshotFile struct {
	gofs.Inode
	refusingFile
	m *mountState
	indexRef
	stored *task.StoredSnapshot // the stored file this node was looked up as; nil for a pending node

	mu  sync.Mutex
	cur *servedFile // what this node serves, once opened
}

// servedFile is the open stored snapshot a snapshotFile serves, shared by
// all its handles and closed when the kernel forgets the node.
type servedFile struct {
	f  *os.File
	st task.StoredSnapshot
}

// lookupSnapshot answers the lookup of snapshot.tar.gz in index in.
func (d *indexDir) lookupSnapshot(ctx context.Context, in index.Info, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	return lookupSnapshotFile(ctx, d.m, &d.Inode, d.indexRef, in, out)
}

// lookupSnapshotFile answers the lookup, in parent, of a file that is index
// in's current snapshot: indexes/NAME/snapshot.tar.gz and backup/NAME.tar.gz.
// Both are one node (its inode number is the stored file's, or the index
// state's while pending), so that both names serve one file.
func lookupSnapshotFile(ctx context.Context, m *mountState, parent *gofs.Inode, ref indexRef, in index.Info, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	var st task.StoredSnapshot
	var ok bool
	var err error
	if m.opts.ExactStat {
		st, err = m.engine.Snapshot(ctx, in.UID)
		ok = err == nil
	} else {
		st, ok, err = m.engine.FreshSnapshot(ctx, in.UID)
	}
	if err != nil {
		return nil, toErrno(m.log, "lookup", err)
	}
	if ok {
		node := &snapshotFile{m: m, indexRef: ref, stored: &st}
		m.fileAttr(&out.Attr, 0o444, st.Size, in.UpdatedAt)
		return parent.NewInode(ctx, node, gofs.StableAttr{Mode: syscall.S_IFREG, Ino: ino("snapshot", st.Path)}), 0
	}
	m.fileAttr(&out.Attr, 0o444, 0, in.UpdatedAt)
	key := fmt.Sprintf("%s/%d/%d", in.ID, in.Version, in.UpdatedAt.UnixNano())
	return parent.NewInode(ctx, &snapshotFile{m: m, indexRef: ref}, gofs.StableAttr{Mode: syscall.S_IFREG, Ino: ino("pending", key)}), 0
}

var _ = (gofs.NodeGetattrer)((*snapshotFile)(nil))

func (f *snapshotFile) Getattr(ctx context.Context, fh gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	f.mu.Lock()
	cur := f.cur
	f.mu.Unlock()
	switch {
	case cur != nil:
		f.m.fileAttr(&out.Attr, 0o444, cur.st.Size, cur.st.IndexUpdatedAt)
	case f.stored != nil:
		f.m.fileAttr(&out.Attr, 0o444, f.stored.Size, f.stored.IndexUpdatedAt)
	default:
		in, err := f.m.store.Get(ctx, f.uid())
		if err != nil {
			return toErrno(f.m.log, "getattr", err)
		}
		f.m.fileAttr(&out.Attr, 0o444, 0, in.UpdatedAt)
	}
	return 0
}

var _ = (gofs.NodeOpener)((*snapshotFile)(nil))

// Open serves the node's file, picking it at the first open: the stored
// file it was looked up as or, for a pending node (or a stored file removed
// by retention since), a snapshot of the index's current state, created if
// need be. An interrupted wait returns EINTR (the task goes on); a failed
// creation EIO; a canceled one (rm tasks/UID.json) ECANCELED.
func (f *snapshotFile) Open(ctx context.Context, flags uint32) (gofs.FileHandle, uint32, syscall.Errno) {
	if flags&(syscall.O_WRONLY|syscall.O_RDWR) != 0 {
		return nil, 0, syscall.EACCES
	}
	f.mu.Lock()
	cur := f.cur
	f.mu.Unlock()
	if cur == nil {
		var errno syscall.Errno
		if cur, errno = f.pick(ctx); errno != 0 {
			return nil, 0, errno
		}
		f.mu.Lock()
		if f.cur == nil {
			f.cur = cur
		} else { // another open picked first: share its file
			cur.f.Close()
			cur = f.cur
		}
		f.mu.Unlock()
	}
	return &passthroughFile{readFile: &readFile{f: cur.f, shared: true}}, 0, 0
}

// pick opens the file a node will serve. What it serves it as (size,
// updatedAt) is the engine's record of the stored file, from the lookup or
// from the creation (task.Engine.Snapshot): no archive is inspected here.
func (f *snapshotFile) pick(ctx context.Context) (*servedFile, syscall.Errno) {
	if f.stored != nil {
		if fd, err := openStored(f.m, f.stored.Path); err == nil {
			f.m.engine.SnapshotReused(*f.stored) // for the metrics
			return &servedFile{f: fd, st: *f.stored}, 0
		}
	}
	// The archive is served once its bytes are complete, while the store
	// syncs and stores it (task.Engine.SnapshotEarly).
	st, early, err := f.m.engine.SnapshotEarly(ctx, f.uid())
	if err != nil {
		// A creation task that failed is EIO whatever its code (DESIGN
		// §4: its reason is in the task and the status files); errors of
		// the call itself (an interrupted wait, a canceled task, a gone
		// index) map by their code.
		var te *task.Error
		if errors.As(err, &te) {
			f.m.log.Warn("snapshot creation failed", "op", "open", "index", f.uid(), "err", te.Message, "code", te.Code)
			return nil, syscall.EIO
		}
		return nil, toErrno(f.m.log, "open", err)
	}
	if early != nil {
		return &servedFile{f: early, st: st}, 0
	}
	fd, err := openStored(f.m, st.Path)
	if err != nil {
		return nil, toErrno(f.m.log, "open", err)
	}
	return &servedFile{f: fd, st: st}, 0
}

var _ = (gofs.NodeOnForgetter)((*snapshotFile)(nil))

// OnForget closes the served file once the kernel has no use for the node.
func (f *snapshotFile) OnForget() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.cur != nil {
		f.cur.f.Close()
		f.cur = nil
	}
}

// readFile is an open regular file on the data dir's disk, read by pread or
// splice.
type readFile struct {
	f      *os.File
	shared bool // f belongs to the node, not to this handle
}

var _ = (gofs.FileReader)((*readFile)(nil))

func (h *readFile) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	return fuse.ReadResultFd(h.f.Fd(), off, len(dest)), 0
}

var _ = (gofs.FileReleaser)((*readFile)(nil))

func (h *readFile) Release(ctx context.Context) syscall.Errno {
	if !h.shared {
		h.f.Close()
	}
	return 0
}

var _ = (gofs.FileLseeker)((*readFile)(nil))

// Lseek answers SEEK_DATA and SEEK_HOLE for tools that probe for holes
// (cp): the file has none. (The handle's own offset is the kernel's.)
func (h *readFile) Lseek(ctx context.Context, off uint64, whence uint32) (uint64, syscall.Errno) {
	st, err := h.f.Stat()
	if err != nil {
		return 0, gofs.ToErrno(err)
	}
	switch {
	case int64(off) >= st.Size():
		return 0, syscall.ENXIO
	case whence == 3: // SEEK_DATA
		return off, 0
	case whence == 4: // SEEK_HOLE
		return uint64(st.Size()), 0
	}
	return 0, syscall.EINVAL
}

// passthroughFile is a readFile that the kernel may read by passthrough.
type passthroughFile struct {
	*readFile
}

var _ = (gofs.FilePassthroughFder)((*passthroughFile)(nil))

func (h *passthroughFile) PassthroughFd() (int, bool) { return int(h.f.Fd()), true }
