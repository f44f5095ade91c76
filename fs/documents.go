package fs

import (
	"bufio"
	"context"
	"errors"
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
	m *mountState
	indexRef
	id string // the index's lineage

	mu     sync.Mutex
	served *export // what the newest read open got
}

func (d *indexDir) lookupDocuments(ctx context.Context, in index.Info, out *fuse.EntryOut) *gofs.Inode {
	node := &documentsFile{m: d.m, indexRef: d.indexRef, id: d.lineage}
	ch := d.NewInode(ctx, node, gofs.StableAttr{Mode: syscall.S_IFREG, Ino: ino("documents", d.lineage)})
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
	in, err := f.m.store.Get(ctx, f.uid())
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
	if errno := truncateWriter(f.m, fh, in, "truncate of documents.ndjson refused: open it with O_TRUNC (cp, >) to replace the documents", f.uid()); errno != 0 {
		return errno
	}
	return f.Getattr(ctx, fh, out)
}

// truncateWriter does a setattr's truncate, if it asks one, through the
// write handle fh; without one it refuses with EPERM and logs refusal.
func truncateWriter(m *mountState, fh gofs.FileHandle, in *fuse.SetAttrIn, refusal, uid string) syscall.Errno {
	size, ok := in.GetSize()
	if !ok {
		return 0
	}
	h, isWriter := fh.(*documentsWriter)
	if !isWriter {
		m.log.Info(refusal, "index", uid)
		return syscall.EPERM
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.stage.Truncate(int64(size)); err != nil {
		return toErrno(m.log, "setattr", err)
	}
	return 0
}

var _ = (gofs.NodeOpener)((*documentsFile)(nil))

func (f *documentsFile) Open(ctx context.Context, flags uint32) (gofs.FileHandle, uint32, syscall.Errno) {
	if flags&(syscall.O_WRONLY|syscall.O_RDWR) != 0 {
		return f.openWriter(flags)
	}
	exp, err := f.m.exports.get(ctx, f.uid())
	if err != nil {
		return nil, 0, toErrno(f.m.log, "open", err)
	}
	fd, err := os.Open(exp.path)
	if err != nil {
		f.m.exports.release(exp)
		return nil, 0, toErrno(f.m.log, "open", err)
	}
	f.mu.Lock()
	f.served = exp
	f.mu.Unlock()
	// Direct I/O: each handle reads its own export, also when a newer
	// version was opened since (the page cache is per inode, not per
	// version).
	return &exportReader{readFile: &readFile{f: fd}, c: f.m.exports, exp: exp}, fuse.FOPEN_DIRECT_IO, 0
}

// exportReader is a read open of documents.ndjson: it holds its export
// until it is released.
type exportReader struct {
	*readFile
	c   *exportCache
	exp *export
}

var _ = (gofs.FileReleaser)((*exportReader)(nil))

func (h *exportReader) Release(ctx context.Context) syscall.Errno {
	h.readFile.Release(ctx)
	h.c.release(h.exp)
	return 0
}

// openWriter stages what is written for a documents task.
func (f *documentsFile) openWriter(flags uint32) (gofs.FileHandle, uint32, syscall.Errno) {
	var replace bool
	switch {
	case flags&syscall.O_APPEND != 0:
	case flags&syscall.O_TRUNC != 0:
		replace = true
	default:
		f.m.log.Info("open of documents.ndjson for writing refused: use O_TRUNC (cp, >) to replace the documents or O_APPEND (>>) to add them", "index", f.uid())
		return nil, 0, syscall.EINVAL
	}
	st, err := newStaging(f.m.store.TmpDir(), "documents-*.staging")
	if err != nil {
		return nil, 0, toErrno(f.m.log, "open", err)
	}
	// Direct I/O: the writes reach the handle with the offsets the writer
	// meant, not ones the kernel derived from the export's size.
	w := &documentsWriter{m: f.m, indexRef: f.indexRef, name: documentsName, stage: st, replace: replace, dirty: replace}
	w.request = func(payload *staging, replace bool) (task.Request, error) {
		return task.Request{
			Kind: task.DocumentAdditionOrUpdate, IndexUID: w.uid(),
			DocumentsFile: payload.path, ReplaceAll: replace,
		}, nil
	}
	return w, fuse.FOPEN_DIRECT_IO, 0
}

// documentsWriter is an open for writing of a file whose close hands what
// was written to a task: documents.ndjson, delete-documents.
type documentsWriter struct {
	m *mountState
	indexRef
	name    string // the file's, for log lines
	replace bool   // offsets are the writer's (else each write appends)
	// request makes the task of a flush from what was written (closed;
	// the request's task, or request itself, removes it).
	request func(payload *staging, replace bool) (task.Request, error)

	mu     sync.Mutex
	stage  *staging
	end    int64         // append mode: where the next write goes
	dirty  bool          // there is something to commit (a replace always has)
	failed syscall.Errno // a write failed: nothing from this handle is committed
}

var _ = (gofs.FileWriter)((*documentsWriter)(nil))

func (h *documentsWriter) Write(ctx context.Context, data []byte, off int64) (uint32, syscall.Errno) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.failed != 0 {
		return 0, h.failed
	}
	if !h.replace {
		off = h.end // O_APPEND: the offsets mean "at the end"
	}
	n, err := h.stage.WriteAt(data, off)
	h.end = max(h.end, off+int64(n))
	if n > 0 {
		h.dirty = true
	}
	if err != nil {
		// DESIGN §5's rule for import/ holds here too: a handle one of whose
		// writes failed commits nothing, whatever happens before its close.
		h.failed = toErrno(h.m.log, "write", err)
		h.m.log.Warn(h.name+" write failed: nothing written through this open will be committed", "op", "write", "index", h.uid(), "err", err)
		h.stage.Truncate(0)
		return 0, h.failed
	}
	return uint32(n), 0
}

var _ = (gofs.FileReader)((*documentsWriter)(nil))

func (h *documentsWriter) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	h.mu.Lock()
	defer h.mu.Unlock()
	n, err := h.stage.ReadAt(dest, off)
	if err != nil && n == 0 && !isEOF(err) {
		return nil, toErrno(h.m.log, "read", err)
	}
	return fuse.ReadResultData(dest[:n]), 0
}

var _ = (gofs.FileFlusher)((*documentsWriter)(nil))

// Flush hands what was written to a documentAdditionOrUpdate task and
// waits for it: bad JSON fails the close (EINVAL) and leaves the index as it
// was. A replace commits even with nothing written (the index is emptied,
// as `: > documents.ndjson` asks). What is written after a flush is a new
// batch, added or updated at the next one. Once a write failed, every
// flush of the handle fails with that write's errno and commits nothing.
func (h *documentsWriter) Flush(ctx context.Context) syscall.Errno {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.failed != 0 {
		return h.failed
	}
	if !h.dirty {
		return 0
	}
	m := h.m
	next, err := newStaging(m.store.TmpDir(), "documents-*.staging")
	if err != nil {
		return toErrno(m.log, "flush", err)
	}
	payload := h.stage
	payload.f.Close()
	r, err := h.request(payload, h.replace)
	h.stage, h.end, h.dirty, h.replace = next, 0, false, false
	if err != nil {
		m.log.Info(h.name+" write refused", "op", "flush", "index", h.uid(), "err", err)
		return toErrno(m.log, "flush", err)
	}
	t, errno := m.run(ctx, "flush", r)
	m.exports.prune()
	if errno != 0 && t.Error != nil {
		m.log.Warn(h.name+" write failed", "op", "flush", "index", h.uid(), "task", t.UID, "err", t.Error.Message)
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

// export is an export of one index version, in DATA/tmp/exports.
type export struct {
	path      string
	size      int64
	uid       string
	id        string
	version   uint64 // 0: the version moved while it was written; never cached
	updatedAt time.Time

	refs  int  // open handles; guarded by exportCache.mu
	stale bool // no longer served to new opens: removed when refs reach 0
}

// exportCache keeps the newest export of each index, so that lstat after a
// read reports its size and the next open reuses it, and makes concurrent
// opens of one version share one export. An export that is no longer of the
// index's current version is removed as soon as no handle has it open.
type exportCache struct {
	m   *mountState
	dir string

	mu       sync.Mutex
	newest   map[string]*export       // by index uid
	files    map[*export]bool         // every export on disk
	inflight map[string]chan struct{} // by index uid: closed when the export ends
	seq      int
}

// exportSweep is how often exports are checked against their index when
// nothing else prunes them (a change made by a task the mount did not wait
// for, such as an index deletion).
const exportSweep = 2 * time.Second

func newExportCache(m *mountState) *exportCache {
	c := &exportCache{
		m: m, dir: filepath.Join(m.store.TmpDir(), "exports"),
		newest: map[string]*export{}, files: map[*export]bool{}, inflight: map[string]chan struct{}{},
	}
	go c.sweep()
	return c
}

func (c *exportCache) sweep() {
	tk := time.NewTicker(exportSweep)
	defer tk.Stop()
	for {
		select {
		case <-c.m.ctx.Done():
			return
		case <-tk.C:
			c.prune()
		}
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
	return c.freshLocked(in)
}

func (c *exportCache) freshLocked(in index.Info) (*export, bool) {
	e, ok := c.newest[in.UID]
	if !ok || !e.current(in) {
		return nil, false
	}
	return e, true
}

func (e *export) current(in index.Info) bool {
	return e.id == in.ID && e.version == in.Version && e.updatedAt.Equal(in.UpdatedAt)
}

// get returns an export of index uid's current state, making one if none is
// cached or joining the one being made, and holds it for the caller, who
// must release it. An interrupted wait returns ctx.Err(); the export goes
// on.
func (c *exportCache) get(ctx context.Context, uid string) (*export, error) {
	for {
		in, err := c.m.store.Get(ctx, uid)
		if err != nil {
			return nil, err
		}
		c.mu.Lock()
		if e, ok := c.freshLocked(in); ok {
			e.refs++
			c.mu.Unlock()
			return e, nil
		}
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
			if err == nil {
				e.refs = 1
				c.files[e] = true
				if e.version == in.Version {
					if old := c.newest[uid]; old != nil {
						c.retireLocked(old)
					}
					c.newest[uid] = e
				} else {
					e.stale = true // served to this open only
				}
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

// release ends a hold that get gave.
func (c *exportCache) release(e *export) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e.refs--
	if e.stale && e.refs == 0 {
		c.removeLocked(e)
	}
}

// retireLocked stops serving e to new opens and removes it once no handle
// has it open.
func (c *exportCache) retireLocked(e *export) {
	if c.newest[e.uid] == e {
		delete(c.newest, e.uid)
	}
	e.stale = true
	if e.refs == 0 {
		c.removeLocked(e)
	}
}

func (c *exportCache) removeLocked(e *export) {
	if c.files[e] {
		delete(c.files, e)
		if err := os.Remove(e.path); err != nil && !os.IsNotExist(err) {
			c.m.log.Warn("cannot remove an export", "path", e.path, "err", err)
		}
	}
}

// prune retires every cached export that is no longer of its index's
// current state (the index changed or is gone).
func (c *exportCache) prune() {
	c.mu.Lock()
	cached := make([]*export, 0, len(c.newest))
	for _, e := range c.newest {
		cached = append(cached, e)
	}
	c.mu.Unlock()
	for _, e := range cached {
		in, err := c.m.store.Get(c.m.ctx, e.uid)
		if err != nil && !errors.Is(err, index.ErrNotFound) {
			continue // not known: keep it
		}
		if err == nil && e.current(in) {
			continue
		}
		c.mu.Lock()
		if c.newest[e.uid] == e {
			c.retireLocked(e)
		}
		c.mu.Unlock()
	}
}

// usage returns how many export files there are and the bytes they take,
// in all (uid "") or of one index.
func (c *exportCache) usage(uid string) (files int, bytes int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for e := range c.files {
		if uid == "" || e.uid == uid {
			files++
			bytes += e.size
		}
	}
	return files, bytes
}

// make exports the index into a new private file. The export is labelled
// with the index version only if the version did not move while it was
// written (an export is one consistent point in time, but not necessarily
// the version read before).
func (c *exportCache) make(in index.Info, seq int) (*export, error) {
	if err := os.MkdirAll(c.dir, 0o700); err != nil {
		return nil, err
	}
	path := filepath.Join(c.dir, fmt.Sprintf("%s-%d-%d.ndjson", in.ID, in.Version, seq))
	// An export holds the user's documents: 0600, like the data dir.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
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
		os.Remove(path)
		return nil, err
	}
	e := &export{path: path, size: st.Size(), uid: in.UID, id: in.ID, version: in.Version, updatedAt: in.UpdatedAt}
	if after, err := c.m.store.Get(ctx, in.UID); err != nil || after.Version != in.Version {
		e.version = 0 // not known exactly: serve it, do not cache it
	}
	return e, nil
}
