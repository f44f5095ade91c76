package fs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/idxfs/idxfs/index"
	"github.com/idxfs/idxfs/task"
)

// archiveSuffixes are stripped from a name in import/ to form the index
// name (DESIGN §5).
var archiveSuffixes = []string{".tar.gz", ".tgz", task.SnapshotSuffix}

// storedName matches the stem of a file of the snapshot store,
// NAME_<timestamp>, so that a stored snapshot copied into import/ keeps its
// index's name.
var storedName = regexp.MustCompile(`^(.+)_\d{8}T\d{6}(\.\d+)?Z$`)

// importIndexName returns the index an entry named name imports to.
func importIndexName(name string) string {
	for _, s := range archiveSuffixes {
		if strings.HasSuffix(name, s) && len(name) > len(s) {
			stem := strings.TrimSuffix(name, s)
			if s == task.SnapshotSuffix {
				if m := storedName.FindStringSubmatch(stem); m != nil {
					return m[1]
				}
			}
			return stem
		}
	}
	return name
}

// isTempName reports whether name is a temporary name (".name.XXXXXX" as
// rsync writes): it is committed when renamed to a final name, not at close.
func isTempName(name string) bool { return strings.HasPrefix(name, ".") }

// importState is where an import entry stands.
type importState int

const (
	importWriting   importState = iota // data arriving; a streaming task may be reading it
	importCommitted                    // imported; the entry lingers for the grace period
)

// importEntry is one file in import/.
type importEntry struct {
	t     *importTable
	ino   uint64
	stage *staging

	mu      sync.Mutex // guards the fields below
	name    string     // the name in import/
	index   string     // the index it imports to ("" for a temporary name)
	state   importState
	mode    uint32
	mtime   time.Time
	atime   time.Time
	size    int64     // at commit (the staging file is gone then)
	task    uint64    // the streaming import task, 0 if none started
	failure task.Task // a task that failed before the commit
	failed  bool
	gone    bool   // dropped from the table: abandoned, failed or expired
	note    string // why it is no archive ("empty archive"), for the status

	// One writer at a time (DESIGN §5, DESIGN-NOTES "Two writers of one
	// name"): owner is the handle that fills the file, open counts the write
	// handles not yet released, committing is set while a flush or rename
	// waits for the import.
	owner      *importHandle
	open       int
	committing bool

	commitMu sync.Mutex // one commit at a time
}

// importTable holds the entries of import/ and reserves their index names.
type importTable struct {
	m *mountState

	mu      sync.Mutex
	entries map[string]*importEntry // by name in import/
	seq     uint64
	closed  bool
	timers  map[*importEntry]*time.Timer
}

func newImportTable(m *mountState) *importTable {
	return &importTable{m: m, entries: map[string]*importEntry{}, timers: map[*importEntry]*time.Timer{}}
}

// errEmptyArchive is why a file in import/ with no bytes is refused.
const errEmptyArchive = "empty archive: the file has no bytes"

// close aborts imports in progress and removes their staging files.
func (t *importTable) close() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.closed = true
	for _, e := range t.entries {
		e.stage.remove()
	}
	for _, tm := range t.timers {
		tm.Stop()
	}
}

func (t *importTable) get(name string) *importEntry {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.entries[name]
}

func (t *importTable) list() []*importEntry {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]*importEntry, 0, len(t.entries))
	for _, e := range t.entries {
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ino < out[j].ino })
	return out
}

// takenLocked reports whether index uid is taken by an index or an entry.
func (t *importTable) takenLocked(uid string, except *importEntry) bool {
	if t.m.store.Exists(uid) {
		return true
	}
	for _, e := range t.entries {
		if e != except && e.indexName() == uid {
			return true
		}
	}
	return false
}

func (e *importEntry) indexName() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.index
}

// create makes a new entry and its first write handle, which owns it:
// EEXIST if the name or its index is taken, EINVAL for a name that makes no
// index name.
func (t *importTable) create(name string, mode uint32) (*importEntry, *importHandle, syscall.Errno) {
	idx := ""
	if !isTempName(name) {
		idx = importIndexName(name)
		if err := index.ValidateUID(idx); err != nil {
			t.m.log.Warn("import refused", "op", "create", "path", "import/"+name, "err", err)
			return nil, nil, syscall.EINVAL
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil, nil, syscall.ESHUTDOWN
	}
	if _, ok := t.entries[name]; ok {
		return nil, nil, syscall.EEXIST
	}
	if idx != "" && t.takenLocked(idx, nil) {
		t.m.log.Info("import refused: the index exists or is being imported", "op", "create", "path", "import/"+name, "index", idx)
		return nil, nil, syscall.EEXIST
	}
	st, err := newStaging(t.m.store.TmpDir(), "import-*.staging")
	if err != nil {
		return nil, nil, toErrno(t.m.log, "create", err)
	}
	t.seq++
	now := time.Now()
	e := &importEntry{
		t: t, ino: ino("import", fmt.Sprintf("%d-%d", t.m.started.UnixNano(), t.seq)), stage: st,
		name: name, index: idx, mode: mode & 0o7777, mtime: now, atime: now,
	}
	if e.mode == 0 {
		e.mode = 0o644
	}
	h := &importHandle{e: e, writable: true, filling: true}
	e.owner, e.open = h, 1
	t.entries[name] = e
	return e, h, 0
}

// drop removes e from the table and its staging file; the index name is
// free again.
func (t *importTable) drop(e *importEntry) {
	t.mu.Lock()
	e.mu.Lock()
	if t.entries[e.name] == e {
		delete(t.entries, e.name)
	}
	e.gone = true
	e.mu.Unlock()
	if tm := t.timers[e]; tm != nil {
		tm.Stop()
		delete(t.timers, e)
	}
	t.mu.Unlock()
	e.stage.remove()
}

// abandon cancels e's import if it is still running and drops e: it was
// unlinked, or it was left uncommitted.
func (t *importTable) abandon(e *importEntry, why string) {
	e.mu.Lock()
	uid, committed, name := e.task, e.state == importCommitted, e.name
	e.mu.Unlock()
	if uid != 0 && !committed {
		if _, err := t.m.engine.Cancel(uid); err == nil {
			t.m.log.Info("import abandoned", "path", "import/"+name, "task", uid, "why", why)
		}
	}
	t.drop(e)
}

// fail drops e because a write of it failed with errno. Its import, if one
// runs, is not canceled but fails with that error where it reads the bytes
// (the stream never ends, so the import cannot complete), so that its task
// records why (no_space_left for ENOSPC) rather than "canceled".
func (t *importTable) fail(e *importEntry, errno syscall.Errno) {
	e.mu.Lock()
	name := e.name
	e.mu.Unlock()
	e.stage.failWith(fmt.Errorf("import/%s: a write of the archive failed: %w", name, errno))
	t.drop(e)
}

// write stages data and, for a final name, starts the import on the first
// write so that it extracts while the rest arrives. Once the import has
// failed, writes fail at once with its errno.
func (e *importEntry) write(ctx context.Context, data []byte, off int64) (uint32, syscall.Errno) {
	e.mu.Lock()
	if e.failed {
		t := e.failure
		e.mu.Unlock()
		if t.UID == 0 {
			return 0, syscall.EIO
		}
		return 0, taskErrno(e.t.m.log, "write", t)
	}
	if e.state == importCommitted {
		e.mu.Unlock()
		return 0, syscall.EBADF
	}
	if e.gone {
		e.mu.Unlock()
		return 0, syscall.ECANCELED // unlinked or expired: the import is off
	}
	e.mu.Unlock()
	n, err := e.stage.WriteAt(data, off)
	if err != nil {
		return uint32(n), toErrno(e.t.m.log, "write", err)
	}
	e.mu.Lock()
	start := e.task == 0 && e.index != ""
	idx, name := e.index, e.name
	e.mu.Unlock()
	if start {
		if errno := e.start(ctx, idx, name, true); errno != 0 {
			return 0, errno
		}
	}
	return uint32(n), 0
}

// start enqueues the import task of e, reading its staging file (streaming:
// as it arrives). A goroutine records a failure, so that later writes fail
// fast.
func (e *importEntry) start(ctx context.Context, idx, name string, streaming bool) syscall.Errno {
	m := e.t.m
	t, err := m.engine.Enqueue(ctx, task.Request{
		Kind: task.SingleIndexSnapshotImport, NewIndexUID: idx,
		SnapshotPath: m.importPath(name), Stream: e.stage.reader(streaming),
	})
	if err != nil {
		m.log.Info("import refused", "op", "write", "path", "import/"+name, "err", err)
		return toErrno(m.log, "import", err)
	}
	e.mu.Lock()
	e.task = t.UID
	e.mu.Unlock()
	go func() {
		t, err := m.engine.Wait(m.ctx, t.UID)
		if err != nil || t.Status == task.Succeeded {
			return
		}
		e.mu.Lock()
		defer e.mu.Unlock()
		if e.task == t.UID && !(streaming && e.stage.isBroken()) {
			e.failed, e.failure = true, t
		}
	}()
	return 0
}

// importPath is how tasks name an archive that arrives through the mount.
func (m *mountState) importPath(name string) string { return "import/" + name }

// commit ends the data of e and waits for its import: the errno of a flush
// or a rename. It is idempotent: a committed entry answers 0 again. If the
// streaming import read bytes that the writer later changed, the import
// starts over from the complete file. On failure the index name is free
// again and the entry goes, unless keep (a rename keeps the temporary file,
// bytes and all, for the tool to remove).
func (e *importEntry) commit(ctx context.Context, keep bool) syscall.Errno {
	e.commitMu.Lock()
	defer e.commitMu.Unlock()
	m := e.t.m
	e.mu.Lock()
	e.committing = true
	defer func() {
		e.mu.Lock()
		e.committing = false
		e.mu.Unlock()
	}()
	if e.state == importCommitted {
		e.mu.Unlock()
		return 0
	}
	if e.gone {
		e.mu.Unlock()
		return syscall.ECANCELED
	}
	idx, name, uid := e.index, e.name, e.task
	e.failed = false
	e.mu.Unlock()
	e.stage.finish()
	fail := func(t task.Task, errno syscall.Errno) syscall.Errno {
		e.mu.Lock()
		e.failed, e.failure, e.task = true, t, 0
		e.mu.Unlock()
		if !keep {
			e.t.drop(e)
		}
		return errno
	}
	if e.stage.Size() == 0 {
		// Truncated to nothing after the import began: no archive.
		if uid != 0 {
			m.engine.Cancel(uid)
		}
		m.log.Warn("import refused: "+errEmptyArchive, "op", "commit", "path", "import/"+name)
		e.mu.Lock()
		e.note = errEmptyArchive
		e.mu.Unlock()
		return fail(task.Task{}, syscall.EINVAL)
	}
	if uid == 0 {
		if errno := e.start(ctx, idx, name, false); errno != 0 {
			return fail(task.Task{}, errno)
		}
		e.mu.Lock()
		uid = e.task
		e.mu.Unlock()
	}
	t, err := m.engine.Wait(ctx, uid)
	if err != nil {
		return toErrno(m.log, "commit", err) // interrupted: the import goes on
	}
	if t.Status == task.Failed && e.stage.isBroken() {
		m.log.Info("import restarts from the complete file: the writer changed bytes already read", "path", "import/"+name)
		if errno := e.start(ctx, idx, name, false); errno != 0 {
			return fail(task.Task{}, errno)
		}
		e.mu.Lock()
		uid = e.task
		e.mu.Unlock()
		if t, err = m.engine.Wait(ctx, uid); err != nil {
			return toErrno(m.log, "commit", err)
		}
	}
	if errno := taskErrno(m.log, "import", t); errno != 0 {
		msg := string(t.Status)
		if t.Error != nil {
			msg = t.Error.Message
		}
		m.log.Warn("import failed", "op", "commit", "path", "import/"+name, "index", idx, "task", t.UID, "err", msg)
		return fail(t, errno)
	}
	e.mu.Lock()
	e.state = importCommitted
	e.size = e.stage.Size()
	e.mu.Unlock()
	e.stage.remove()
	m.touchIndexes()
	e.t.expireLater(e)
	return 0
}

// expireLater removes e after the grace period: a committed entry, or one
// that no handle has open any more (left uncommitted: a temporary name
// never renamed, an interrupted close). The entry is looked at again then.
func (t *importTable) expireLater(e *importEntry) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return
	}
	if old := t.timers[e]; old != nil {
		old.Stop()
	}
	t.timers[e] = time.AfterFunc(t.m.opts.ImportGrace, func() { t.expire(e) })
}

// stopExpiry keeps e: a handle opened it again.
func (t *importTable) stopExpiry(e *importEntry) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if tm := t.timers[e]; tm != nil {
		tm.Stop()
		delete(t.timers, e)
	}
}

// expire drops e if it is committed or idle; an import still running (its
// writer's close was interrupted) is looked at again a grace period later.
func (t *importTable) expire(e *importEntry) {
	e.mu.Lock()
	committed, busy, uid, name := e.state == importCommitted, e.open > 0 || e.committing, e.task, e.name
	e.mu.Unlock()
	switch {
	case committed:
		t.drop(e)
	case busy:
		// A handle has it open again; its release re-arms the expiry.
	default:
		if uid != 0 {
			if tk, err := t.m.engine.Get(uid); err == nil && !tk.Status.Finished() {
				t.expireLater(e)
				return
			}
		}
		t.m.log.Info("import entry expired: nobody has it open and it was not committed", "path", "import/"+name)
		t.abandon(e, "expired")
	}
}

// rename commits a temporary entry under its final name (rsync's
// .NAME.XXXXXX → NAME): it waits for the import and returns its errno; on
// failure the entry keeps its temporary name, for the tool to remove.
func (t *importTable) rename(ctx context.Context, e *importEntry, newName string) syscall.Errno {
	idx := importIndexName(newName)
	if isTempName(newName) {
		return t.move(e, newName, "")
	}
	if err := index.ValidateUID(idx); err != nil {
		t.m.log.Warn("import refused", "op", "rename", "path", "import/"+newName, "err", err)
		return syscall.EINVAL
	}
	e.mu.Lock()
	committed, oldIdx, filling := e.state == importCommitted, e.index, e.owner != nil && e.owner.filling
	e.mu.Unlock()
	if committed || oldIdx != "" {
		// A final name is renamed only by replacing it: not supported.
		return syscall.EPERM
	}
	if filling {
		// A writer has written since its last close: the bytes are not
		// all there.
		return syscall.EBUSY
	}
	oldName := e.name
	if errno := t.move(e, newName, idx); errno != 0 {
		return errno
	}
	if errno := e.commit(ctx, true); errno != 0 {
		if errno != syscall.EINTR {
			// The rename did not happen: the tool still has its
			// temporary file, bytes and all, to remove or retry.
			t.move(e, oldName, "")
		}
		return errno
	}
	return 0
}

// move renames entry e to newName importing to idx, reserving idx.
func (t *importTable) move(e *importEntry, newName, idx string) syscall.Errno {
	t.mu.Lock()
	defer t.mu.Unlock()
	if other, ok := t.entries[newName]; ok && other != e {
		return syscall.EEXIST
	}
	if idx != "" && t.takenLocked(idx, e) {
		t.m.log.Info("import refused: the index exists or is being imported", "op", "rename", "path", "import/"+newName, "index", idx)
		return syscall.EEXIST
	}
	e.mu.Lock()
	delete(t.entries, e.name)
	e.name, e.index = newName, idx
	e.mu.Unlock()
	t.entries[newName] = e
	return 0
}

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
	e.attr(&out.Attr)
	return d.node(ctx, e), 0
}

func (d *importDir) node(ctx context.Context, e *importEntry) *gofs.Inode {
	return d.NewInode(ctx, &importFile{e: e}, gofs.StableAttr{Mode: syscall.S_IFREG, Ino: e.ino})
}

var _ = (gofs.NodeReaddirer)((*importDir)(nil))

func (d *importDir) Readdir(ctx context.Context) (gofs.DirStream, syscall.Errno) {
	var es []fuse.DirEntry
	for _, e := range d.m.imports.list() {
		e.mu.Lock()
		es = append(es, fuse.DirEntry{Name: e.name, Mode: syscall.S_IFREG, Ino: e.ino})
		e.mu.Unlock()
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
	e.attr(&out.Attr)
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

func (e *importEntry) attr(a *fuse.Attr) {
	e.mu.Lock()
	defer e.mu.Unlock()
	size := e.size
	if e.state != importCommitted {
		size = e.stage.Size()
	}
	a.Mode = syscall.S_IFREG | e.mode
	a.Nlink = 1
	a.Size = uint64(size)
	a.Blocks = (uint64(size) + 511) / 512
	a.Blksize = ioBlockSize
	a.SetTimes(&e.atime, &e.mtime, &e.mtime)
}

var _ = (gofs.NodeGetattrer)((*importFile)(nil))

func (f *importFile) Getattr(ctx context.Context, fh gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	f.e.attr(&out.Attr)
	return 0
}

var _ = (gofs.NodeSetattrer)((*importFile)(nil))

// Setattr accepts what cp -a, mv, python's copy2 and rsync set after (or
// before) the data: mode, owner and times are recorded and change nothing;
// a size truncates the staged bytes before the commit and is ignored after.
func (f *importFile) Setattr(ctx context.Context, fh gofs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	e := f.e
	if size, ok := in.GetSize(); ok {
		h, _ := fh.(*importHandle)
		e.mu.Lock()
		committed := e.state == importCommitted
		// Only the writer truncates a file being written (or anyone, one
		// that nobody is writing).
		busy := e.committing || e.owner != nil && e.owner != h && (h != nil || e.owner.filling)
		e.mu.Unlock()
		if !committed && busy {
			return syscall.EBUSY
		}
		if !committed {
			if err := e.stage.Truncate(int64(size)); err != nil {
				return toErrno(e.t.m.log, "setattr", err)
			}
		}
	}
	e.mu.Lock()
	if mode, ok := in.GetMode(); ok {
		e.mode = mode & 0o7777
	}
	if mt, ok := in.GetMTime(); ok {
		e.mtime = mt
	}
	if at, ok := in.GetATime(); ok {
		e.atime = at
	}
	e.mu.Unlock()
	e.attr(&out.Attr)
	return 0
}

var _ = (gofs.NodeOpener)((*importFile)(nil))

// Open opens an entry for reading back, or for writing if nobody else is
// writing it: a second writer gets EBUSY (DESIGN-NOTES "Two writers of one
// name"), a committed entry EEXIST for writing (its index exists) and
// EACCES for reading (its bytes went into the index).
func (f *importFile) Open(ctx context.Context, flags uint32) (gofs.FileHandle, uint32, syscall.Errno) {
	e := f.e
	write := flags&(syscall.O_WRONLY|syscall.O_RDWR|syscall.O_TRUNC) != 0
	e.mu.Lock()
	var errno syscall.Errno
	switch {
	case e.state == importCommitted && write:
		errno = syscall.EEXIST
	case e.state == importCommitted:
		errno = syscall.EACCES
	case e.gone:
		errno = syscall.ENOENT
	case write && (e.committing || e.owner != nil && e.owner.filling):
		errno = syscall.EBUSY
	}
	if errno != 0 || !write {
		name := e.name
		e.mu.Unlock()
		if errno == syscall.EBUSY {
			e.t.m.log.Info("import refused: another open is writing this name", "op", "open", "path", "import/"+name)
		}
		if errno != 0 {
			return nil, 0, errno
		}
		return &importHandle{e: e}, 0, 0
	}
	h := &importHandle{e: e, writable: true, filling: true}
	e.owner = h
	e.open++
	e.mu.Unlock()
	e.t.stopExpiry(e)
	if flags&syscall.O_TRUNC != 0 {
		if err := e.stage.Truncate(0); err != nil {
			h.Release(ctx)
			return nil, 0, toErrno(e.t.m.log, "open", err)
		}
	}
	return h, 0, 0
}

// importHandle is one open of an import entry. Its fields are guarded by
// its entry's mu.
type importHandle struct {
	e        *importEntry
	writable bool
	filling  bool          // opened, or wrote, since its last flush
	wrote    bool          // it wrote data
	failed   syscall.Errno // a write failed: this handle never commits
	released bool
}

var _ = (gofs.FileWriter)((*importHandle)(nil))

// Write stages data. A write that fails makes the handle fail: the import
// is abandoned at once (freeing its space) and every later write and flush
// of the handle fails with that errno (DESIGN §5).
func (h *importHandle) Write(ctx context.Context, data []byte, off int64) (uint32, syscall.Errno) {
	e := h.e
	e.mu.Lock()
	if h.failed != 0 {
		e.mu.Unlock()
		return 0, h.failed
	}
	if e.owner != h {
		// Another open took the file over after this handle's last close
		// (a descriptor of it was still open): the file is no longer this
		// handle's to fill.
		h.failed = syscall.EBUSY
		name := e.name
		e.mu.Unlock()
		e.t.m.log.Info("import write refused: another open is writing this name", "op", "write", "path", "import/"+name)
		return 0, syscall.EBUSY
	}
	h.filling = true
	e.mu.Unlock()
	n, errno := e.write(ctx, data, off)
	e.mu.Lock()
	if errno != 0 {
		h.failed = errno
		committed, name := e.state == importCommitted, e.name
		e.mu.Unlock()
		if !committed {
			e.t.m.log.Warn("import write failed: the import is abandoned", "op", "write", "path", "import/"+name, "errno", errno.Error())
			e.t.fail(e, errno)
		}
		return 0, errno
	}
	if n > 0 {
		h.wrote = true
		e.note = ""
	}
	e.mu.Unlock()
	return n, 0
}

var _ = (gofs.FileReader)((*importHandle)(nil))

func (h *importHandle) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	n, err := h.e.stage.ReadAt(dest, off)
	if err != nil && n == 0 && !isEOF(err) {
		return nil, toErrno(h.e.t.m.log, "read", err)
	}
	return fuse.ReadResultData(dest[:n]), 0
}

var _ = (gofs.FileFlusher)((*importHandle)(nil))

// Flush commits the import if this handle wrote data (DESIGN §5); a
// temporary name commits at its rename instead. A handle whose write failed
// returns that errno. A write handle that wrote nothing, closing a file that
// has no bytes, gets EINVAL (no archive) unless another open is filling the
// file; the entry stays for this handle to fill (bash closes a descriptor
// of `cat > import/NAME` before cat writes) and goes at its release.
func (h *importHandle) Flush(ctx context.Context) syscall.Errno {
	e := h.e
	e.mu.Lock()
	failed, wrote, temp, committed := h.failed, h.wrote, e.index == "", e.state == importCommitted
	name := e.name
	h.filling = false
	switch {
	case failed != 0:
		e.mu.Unlock()
		return failed
	case !h.writable || committed:
		e.mu.Unlock()
		return 0
	case !wrote:
		other := e.owner != nil && e.owner != h && e.owner.filling
		if other || e.stage.Size() > 0 {
			e.mu.Unlock()
			return 0
		}
		e.note = errEmptyArchive
		e.mu.Unlock()
		e.t.m.log.Warn("import refused: "+errEmptyArchive, "op", "flush", "path", "import/"+name)
		return syscall.EINVAL
	case temp:
		e.mu.Unlock()
		return 0
	}
	e.committing = true // before this handle counts as closed: no open slips in
	e.mu.Unlock()
	return e.commit(ctx, false)
}

var _ = (gofs.FileReleaser)((*importHandle)(nil))

// Release ends a handle. An entry that no handle has open any more and that
// is not committed is dropped at once if it has no bytes (no archive), else
// after the grace period (a temporary name that is never renamed).
func (h *importHandle) Release(ctx context.Context) syscall.Errno {
	e := h.e
	e.mu.Lock()
	if !h.writable || h.released {
		e.mu.Unlock()
		return 0
	}
	h.released, h.filling = true, false
	e.open--
	if e.owner == h {
		e.owner = nil
	}
	idle := e.open == 0 && e.state != importCommitted && !e.gone && !e.committing
	e.mu.Unlock()
	if !idle {
		return 0
	}
	if e.stage.Size() == 0 {
		e.t.abandon(e, "empty archive")
	} else {
		e.t.expireLater(e)
	}
	return 0
}

var _ = (gofs.FileFsyncer)((*importHandle)(nil))

func (h *importHandle) Fsync(ctx context.Context, flags uint32) syscall.Errno { return 0 }

var _ = (gofs.FileSetattrer)((*importHandle)(nil))

func (h *importHandle) Setattr(ctx context.Context, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	return (&importFile{e: h.e}).Setattr(ctx, h, in, out)
}

func isEOF(err error) bool { return errors.Is(err, io.EOF) }
