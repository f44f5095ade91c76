package fs

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/idxfs/idxfs/index"
	"github.com/idxfs/idxfs/task"
)

// documentsFile is indexes/NAME/documents.ndjson. Reading it exports the
// documents with the guarantees of snapshot.tar.gz: lstat starts no work and
// reports the size of an export of the current version if one is cached (0
// if not); open exports (or reuses the cached export), and every getattr
// after it reports the export's true size. Writing with O_TRUNC (cp, >)
// replaces all documents, with O_APPEND (>>) adds or updates them; the
// writer's close waits for the task and reports its failure.
type documentsFile struct {
	gofs.Inode
	m   *mountState
	uid string
	id  string

	mu     sync.Mutex
	served *export // what the newest read open got
}

func (d *indexDir) lookupDocuments(ctx context.Context, in index.Info, out *fuse.EntryOut) *gofs.Inode {
	node := &documentsFile{m: d.m, uid: d.uid, id: d.id}
	ch := d.NewInode(ctx, node, gofs.StableAttr{Mode: syscall.S_IFREG, Ino: ino("documents", d.id)})
	ch.Operations().(*documentsFile).attr(in, &out.Attr)
	return ch
}

func (f *documentsFile) attr(in index.Info, a *fuse.Attr) {
	var size int64
	f.mu.Lock()
	served := f.served
	f.mu.Unlock()
	switch {
	case served != nil && served.version == in.Version:
		size = served.size
	default:
		if e, ok := f.m.exports.fresh(in); ok {
			size = e.size
		}
	}
	f.m.fileAttr(a, 0o644, size, in.UpdatedAt)
}

var _ = (gofs.NodeGetattrer)((*documentsFile)(nil))

func (f *documentsFile) Getattr(ctx context.Context, fh gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	in, err := f.m.store.Get(ctx, f.uid)
	if err != nil {
		return toErrno(f.m.log, "getattr", err)
	}
	f.mu.Lock()
	served := f.served
	f.mu.Unlock()
	if served != nil {
		// After an open: the size of what it got, even if the index has
		// moved on since.
		f.m.fileAttr(&out.Attr, 0o644, served.size, served.updatedAt)
		return 0
	}
	f.attr(in, &out.Attr)
	return 0
}

var _ = (gofs.NodeSetattrer)((*documentsFile)(nil))

// Setattr accepts times and mode as no-ops (the file's times are the
// index's), and a truncate only through an open handle (O_TRUNC).
func (f *documentsFile) Setattr(ctx context.Context, fh gofs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	if size, ok := in.GetSize(); ok {
		h, isWriter := fh.(*documentsWriter)
		if !isWriter {
			f.m.log.Info("truncate of documents.ndjson refused: open it with O_TRUNC (cp, >) to replace the documents", "index", f.uid)
			return syscall.EPERM
		}
		if err := h.stage.Truncate(int64(size)); err != nil {
			return toErrno(f.m.log, "setattr", err)
		}
	}
	return f.Getattr(ctx, fh, out)
}

var _ = (gofs.NodeOpener)((*documentsFile)(nil))

func (f *documentsFile) Open(ctx context.Context, flags uint32) (gofs.FileHandle, uint32, syscall.Errno) {
	if flags&(syscall.O_WRONLY|syscall.O_RDWR) != 0 {
		return f.openWriter(flags)
	}
	exp, err := f.m.exports.get(ctx, f.uid)
	if err != nil {
		return nil, 0, toErrno(f.m.log, "open", err)
	}
	fd, err := os.Open(exp.path)
	if err != nil {
		return nil, 0, toErrno(f.m.log, "open", err)
	}
	if exp.version == 0 {
		os.Remove(exp.path) // not cached: gone when this reader is done
	}
	f.mu.Lock()
	f.served = exp
	f.mu.Unlock()
	return &readFile{f: fd}, 0, 0
}

// openWriter stages what is written for a documents task.
func (f *documentsFile) openWriter(flags uint32) (gofs.FileHandle, uint32, syscall.Errno) {
	var replace bool
	switch {
	case flags&syscall.O_APPEND != 0:
	case flags&syscall.O_TRUNC != 0:
		replace = true
	default:
		f.m.log.Info("open of documents.ndjson for writing refused: use O_TRUNC (cp, >) to replace the documents or O_APPEND (>>) to add them", "index", f.uid)
		return nil, 0, syscall.EINVAL
	}
	st, err := newStaging(f.m.store.TmpDir(), "documents-*.staging")
	if err != nil {
		return nil, 0, toErrno(f.m.log, "open", err)
	}
	// Direct I/O: the writes reach the handle with the offsets the writer
	// meant, not ones the kernel derived from the export's size.
	return &documentsWriter{f: f, stage: st, replace: replace, dirty: replace}, fuse.FOPEN_DIRECT_IO, 0
}

// documentsWriter is an open of documents.ndjson for writing.
type documentsWriter struct {
	f       *documentsFile
	replace bool

	mu    sync.Mutex
	stage *staging
	end   int64 // append mode: where the next write goes
	dirty bool  // there is something to commit (a replace always has)
}

var _ = (gofs.FileWriter)((*documentsWriter)(nil))

func (h *documentsWriter) Write(ctx context.Context, data []byte, off int64) (uint32, syscall.Errno) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.replace {
		off = h.end // O_APPEND: the offsets mean "at the end"
	}
	n, err := h.stage.WriteAt(data, off)
	h.end = max(h.end, off+int64(n))
	if n > 0 {
		h.dirty = true
	}
	if err != nil {
		return uint32(n), toErrno(h.f.m.log, "write", err)
	}
	return uint32(n), 0
}

var _ = (gofs.FileReader)((*documentsWriter)(nil))

func (h *documentsWriter) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	h.mu.Lock()
	defer h.mu.Unlock()
	n, err := h.stage.ReadAt(dest, off)
	if err != nil && n == 0 && !isEOF(err) {
		return nil, toErrno(h.f.m.log, "read", err)
	}
	return fuse.ReadResultData(dest[:n]), 0
}

var _ = (gofs.FileFlusher)((*documentsWriter)(nil))

// Flush hands what was written to a documentsAdditionOrUpdate task and
// waits for it: bad JSON fails the close (EINVAL) and leaves the index as it
// was. A replace commits even with nothing written (the index is emptied,
// as `: > documents.ndjson` asks). What is written after a flush is a new
// batch, added or updated at the next one.
func (h *documentsWriter) Flush(ctx context.Context) syscall.Errno {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.dirty {
		return 0
	}
	m := h.f.m
	next, err := newStaging(m.store.TmpDir(), "documents-*.staging")
	if err != nil {
		return toErrno(m.log, "flush", err)
	}
	payload := h.stage
	payload.f.Close()
	r := task.Request{
		Kind: task.DocumentAdditionOrUpdate, IndexUID: h.f.uid,
		DocumentsFile: payload.path, ReplaceAll: h.replace,
	}
	h.stage, h.end, h.dirty, h.replace = next, 0, false, false
	t, errno := m.run(ctx, "flush", r)
	if errno != 0 && t.Error != nil {
		m.log.Warn("documents.ndjson write failed", "op", "flush", "index", h.f.uid, "task", t.UID, "err", t.Error.Message)
	}
	return errno
}

var _ = (gofs.FileReleaser)((*documentsWriter)(nil))

func (h *documentsWriter) Release(ctx context.Context) syscall.Errno {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.stage.remove()
	return 0
}

var _ = (gofs.FileFsyncer)((*documentsWriter)(nil))

func (h *documentsWriter) Fsync(ctx context.Context, flags uint32) syscall.Errno { return 0 }

// export is a cached export of one index version, in DATA/tmp/exports.
type export struct {
	path      string
	size      int64
	id        string
	version   uint64
	updatedAt time.Time
}

// exportCache keeps the newest export of each index and makes concurrent
// opens of one version share one export.
type exportCache struct {
	m   *mountState
	dir string

	mu       sync.Mutex
	newest   map[string]*export       // by index uid
	inflight map[string]chan struct{} // by index uid: closed when the export ends
	seq      int
}

func newExportCache(m *mountState) *exportCache {
	return &exportCache{
		m: m, dir: filepath.Join(m.store.TmpDir(), "exports"),
		newest: map[string]*export{}, inflight: map[string]chan struct{}{},
	}
}

func (c *exportCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	os.RemoveAll(c.dir)
}

// fresh returns the cached export of in's current state.
func (c *exportCache) fresh(in index.Info) (*export, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.newest[in.UID]
	if !ok || e.id != in.ID || e.version != in.Version || !e.updatedAt.Equal(in.UpdatedAt) {
		return nil, false
	}
	return e, true
}

// get returns an export of index uid's current state, making one if none is
// cached or joining the one being made. An interrupted wait returns
// ctx.Err(); the export goes on.
func (c *exportCache) get(ctx context.Context, uid string) (*export, error) {
	for {
		in, err := c.m.store.Get(ctx, uid)
		if err != nil {
			return nil, err
		}
		if e, ok := c.fresh(in); ok {
			return e, nil
		}
		c.mu.Lock()
		ch, busy := c.inflight[uid]
		if !busy {
			ch = make(chan struct{})
			c.inflight[uid] = ch
			c.seq++
			seq := c.seq
			c.mu.Unlock()
			e, err := c.make(in, seq)
			c.mu.Lock()
			delete(c.inflight, uid)
			close(ch)
			if err == nil && e.version == in.Version {
				if old := c.newest[uid]; old != nil && old.path != e.path {
					os.Remove(old.path) // readers keep their open file
				}
				c.newest[uid] = e
			}
			c.mu.Unlock()
			return e, err
		}
		c.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// make exports the index. The export is labelled with the index version
// only if the version did not move while it was written (an export is one
// consistent point in time, but not necessarily the version read before).
func (c *exportCache) make(in index.Info, seq int) (*export, error) {
	if err := os.MkdirAll(c.dir, 0o755); err != nil {
		return nil, err
	}
	path := filepath.Join(c.dir, fmt.Sprintf("%s-%d-%d.ndjson", in.ID, in.Version, seq))
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	ctx := c.m.ctx // shared by every opener: not cancelled by one of them
	_, err = c.m.store.Export(ctx, in.UID, bw)
	if err == nil {
		err = bw.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return nil, fmt.Errorf("export %q: %w", in.UID, err)
	}
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	e := &export{path: path, size: st.Size(), id: in.ID, version: in.Version, updatedAt: in.UpdatedAt}
	if after, err := c.m.store.Get(ctx, in.UID); err != nil || after.Version != in.Version {
		e.version = 0 // not known exactly: serve it, do not cache it
	}
	return e, nil
}
