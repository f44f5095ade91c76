package fs

// The state machine of one import entry (DESIGN §5), apart from the go-fuse
// nodes of import.go, which translate FUSE calls into the methods here, and
// from the table of entries (imports.go). Nothing here imports go-fuse.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/idxfs/idxfs/task"
)

// importState is where an import entry stands:
//
//	writing ─flush/rename─▶ committing ─▶ committed
//	   ▲   ╲                 │  │
//	   │    ╲ task failed    │  ╰─▶ failed ─rename again─▶ committing
//	   ╰─interrupted─────────╯      │
//	writing, committing, failed ─unlink, expiry, failed write or commit─▶ gone
//
// committed and gone are final: a committed entry leaves the table after
// the grace period (or at unlink) and stays committed for the handles and
// inodes that still point at it. One exception: a committed entry that
// replaced its index (import/NAME.replace.tar.gz) opened for writing again
// within the grace period is revived as a new import, writing (a second
// restore-over, which must not fail because the first one lingers).
type importState int

const (
	importWriting    importState = iota // bytes arriving; its import may be streaming them
	importCommitting                    // a flush or rename waits for the import
	importFailed                        // its import failed; the entry is kept (a temporary name after a failed rename, or until its writer closes)
	importCommitted                     // imported; the entry lingers in the table for the grace period
	importGone                          // dropped uncommitted: abandoned, failed or expired
)

func (s importState) String() string {
	return [...]string{"writing", "committing", "failed", "committed", "gone"}[s]
}

// importNext are the legal transitions.
var importNext = map[importState][]importState{
	importWriting:    {importCommitting, importFailed, importGone},
	importCommitting: {importWriting, importCommitted, importFailed, importGone},
	importFailed:     {importCommitting, importGone},
	importCommitted:  {importWriting}, // revive only
}

// errImportTransition is a move the state machine does not have.
var errImportTransition = errors.New("illegal import state transition")

// importEntry is one file in import/.
type importEntry struct {
	t     *importTable
	ino   uint64
	stage *importStream

	commitMu sync.Mutex // one commit at a time

	mu    sync.Mutex // guards the fields below and those of its handles
	name  string     // the name in import/
	res   *task.Reservation
	state importState
	// failure is why the import failed: its task, or a zero Task if it
	// was refused before one ran. Writes then fail with its errno.
	failure *task.Task
	task    uint64 // the import task, 0 if none started
	note    string // why it is no archive ("empty archive"), for the status
	mode    uint32
	mtime   time.Time
	atime   time.Time
	size    int64 // at commit (the staging file is gone then)
	// One writer at a time (DESIGN §5, DESIGN-NOTES "Two writers of one
	// name"): owner is the handle that fills the file, open counts the
	// write handles not yet released.
	owner *importHandle
	open  int
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

// toLocked moves e to state s.
func (e *importEntry) toLocked(s importState) error {
	if !slices.Contains(importNext[e.state], s) {
		return fmt.Errorf("import/%s: %v → %v: %w", e.name, e.state, s, errImportTransition)
	}
	e.state = s
	return nil
}

// mustLocked moves e to state s; an illegal move is a bug, logged.
func (e *importEntry) mustLocked(s importState) {
	if err := e.toLocked(s); err != nil {
		e.t.m.log.Warn("import entry", "err", err)
	}
}

// indexLocked is the index e imports to, "" for a temporary name.
func (e *importEntry) indexLocked() string {
	if e.res == nil {
		return ""
	}
	return e.res.Name()
}

// failLocked records that e's import failed with t.
func (e *importEntry) failLocked(t task.Task) {
	e.failure, e.task = &t, 0
	if e.state != importGone {
		e.mustLocked(importFailed)
	}
}

// observeLocked notices that e's import task failed or was canceled while
// bytes still arrive, so that writes fail fast with its errno.
func (e *importEntry) observeLocked() {
	if e.state != importWriting || e.task == 0 {
		return
	}
	if t, err := e.t.m.engine.Get(e.task); err == nil && t.Status.Finished() && t.Status != task.Succeeded {
		e.failure = &t
		e.mustLocked(importFailed)
	}
}

// writableLocked is the errno a write of e gets before it reaches the
// staging file: the failure of its import, or that it is committed or gone.
func (e *importEntry) writableLocked() syscall.Errno {
	e.observeLocked()
	switch {
	case e.failure != nil && e.failure.UID == 0:
		return syscall.EIO
	case e.failure != nil:
		return taskErrno(e.t.m.log, "write", *e.failure)
	case e.state == importCommitted:
		return syscall.EBADF
	case e.state == importGone:
		return syscall.ECANCELED // unlinked or expired: the import is off
	}
	return 0
}

// openHandle opens e for reading back, or for writing if nobody else is writing
// it: a second writer gets EBUSY (DESIGN-NOTES "Two writers of one name"),
// a committed entry EEXIST for writing (its index exists) and EACCES for
// reading (its bytes went into the index). trunc empties the staged bytes.
func (e *importEntry) openHandle(write, trunc bool) (*importHandle, syscall.Errno) {
	e.mu.Lock()
	var errno syscall.Errno
	switch {
	case e.state == importCommitted && write && e.res != nil && e.res.Replace():
		errno = e.reviveLocked()
	case e.state == importCommitted && write:
		errno = syscall.EEXIST
	case e.state == importCommitted:
		errno = syscall.EACCES
	case e.state == importGone:
		errno = syscall.ENOENT
	case write && (e.state == importCommitting || e.owner != nil && e.owner.filling):
		errno = syscall.EBUSY
	}
	if errno != 0 || !write {
		name := e.name
		e.mu.Unlock()
		if errno == syscall.EBUSY {
			e.t.m.log.Info("import refused: another open is writing this name", "op", "open", "path", importPath(name))
		}
		if errno != 0 {
			return nil, errno
		}
		return &importHandle{e: e}, 0
	}
	h := &importHandle{e: e, writable: true, filling: true}
	e.owner = h
	e.open++
	e.mu.Unlock()
	e.t.stopExpiry(e)
	if trunc {
		if err := e.stage.Truncate(0); err != nil {
			e.release(h)
			return nil, toErrno(e.t.m.log, "open", err)
		}
	}
	return h, 0
}

// reviveLocked makes e, committed after replacing its index, a new import
// that replaces it again: a new reservation of the name and a new stream.
// EEXIST if the name is being imported or renamed to meanwhile.
func (e *importEntry) reviveLocked() syscall.Errno {
	idx := e.res.Name()
	res, errno := e.t.reserve("open", e.name, idx, true)
	if errno != 0 {
		return errno
	}
	st := newImportStream(e.t.m.store.TmpDir())
	e.mustLocked(importWriting)
	e.res.Release() // released at commit already; idempotent
	e.res, e.stage = res, st
	e.task, e.failure, e.note, e.size = 0, nil, "", 0
	return 0
}

// write hands data written through h to the stream of e and, for a final
// name, starts the import on the first write so that it extracts while the
// rest arrives (a write may wait for it: importStream.WriteAt). A
// write that fails makes h fail: the import is abandoned at once (freeing
// its space) and every later write and flush of h fails with that errno
// (DESIGN §5). Once the import has failed, writes fail at once with its
// errno.
func (e *importEntry) write(ctx context.Context, h *importHandle, data []byte, off int64) (uint32, syscall.Errno) {
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
		e.t.m.log.Info("import write refused: another open is writing this name", "op", "write", "path", importPath(name))
		return 0, syscall.EBUSY
	}
	h.filling = true
	errno := e.writableLocked()
	e.mu.Unlock()
	n := 0
	if errno == 0 {
		var err error
		if n, err = e.stage.WriteAt(ctx, data, off); err != nil {
			errno = e.streamErrno("write", err)
		}
	}
	if errno == 0 {
		errno = e.startStreaming(ctx)
	}
	e.mu.Lock()
	if errno == 0 {
		// The import may have failed while the write waited for it.
		errno = e.writableLocked()
	}
	if errno != 0 {
		h.failed = errno
		committed, name := e.state == importCommitted, e.name
		e.mu.Unlock()
		if !committed {
			e.t.m.log.Warn("import write failed: the import is abandoned", "op", "write", "path", importPath(name), "errno", errno.Error())
			e.t.fail(e, errno)
		}
		return 0, errno
	}
	if n > 0 {
		h.wrote = true
		e.note = ""
	}
	e.mu.Unlock()
	return uint32(n), 0
}

// startStreaming starts the import of a final name at its first write.
func (e *importEntry) startStreaming(ctx context.Context) syscall.Errno {
	e.mu.Lock()
	start := e.task == 0 && e.res != nil
	e.mu.Unlock()
	if !start {
		return 0
	}
	return e.start(ctx)
}

// start enqueues the import task of e, reading its stream as it arrives.
// The task takes over e's reservation of the index name and starts over if
// the writer truncates the file to nothing.
func (e *importEntry) start(ctx context.Context) syscall.Errno {
	m := e.t.m
	e.mu.Lock()
	name, res := e.name, e.res
	e.mu.Unlock()
	t, err := m.engine.Enqueue(ctx, task.Request{
		Kind: task.SingleIndexSnapshotImport, NewIndexUID: res.Name(), Reservation: res, Replace: res.Replace(),
		SnapshotPath: importPath(name), Stream: e.stage.reader(e.importRuns),
	})
	if err != nil {
		m.log.Info("import refused", "op", "write", "path", importPath(name), "err", err)
		return toErrno(m.log, "import", err)
	}
	e.mu.Lock()
	e.task = t.UID
	e.mu.Unlock()
	return 0
}

// flush is the close of h (DESIGN §5): it commits the import if h wrote
// data; a temporary name commits at its rename instead. A handle whose
// write failed returns that errno. A write handle that wrote nothing,
// closing a file that has no bytes, gets EINVAL (no archive) unless another
// open is filling the file; the entry stays for this handle to fill (bash
// closes a descriptor of `cat > import/NAME` before cat writes) and goes
// at its release.
func (e *importEntry) flush(ctx context.Context, h *importHandle) syscall.Errno {
	e.mu.Lock()
	failed, wrote, temp, committed := h.failed, h.wrote, e.res == nil, e.state == importCommitted
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
		e.t.m.log.Warn("import refused: "+errEmptyArchive, "op", "flush", "path", importPath(name))
		return syscall.EINVAL
	case temp:
		e.mu.Unlock()
		return 0
	}
	if e.state == importWriting || e.state == importFailed {
		e.mustLocked(importCommitting) // before this handle counts as closed: no open slips in
	}
	e.mu.Unlock()
	return e.commit(ctx, false)
}

// release ends h. An entry that no handle has open any more and that is not
// committed is dropped at once if it has no bytes (no archive), else after
// the grace period (a temporary name that is never renamed).
func (e *importEntry) release(h *importHandle) {
	e.mu.Lock()
	if !h.writable || h.released {
		e.mu.Unlock()
		return
	}
	h.released, h.filling = true, false
	e.open--
	if e.owner == h {
		e.owner = nil
	}
	idle := e.open == 0 && (e.state == importWriting || e.state == importFailed)
	e.mu.Unlock()
	if !idle {
		return
	}
	if e.stage.Size() == 0 {
		e.t.abandon(e, "empty archive")
	} else {
		e.t.expireLater(e)
	}
}

// truncate sets the size through h (nil: by path) before the commit; after
// it, a size is ignored. Cutting into bytes the import read fails the
// import (ESPIPE), except cutting to nothing, after which it starts over.
// Only the writer truncates a file being written (or anyone, one that
// nobody is writing): EBUSY.
func (e *importEntry) truncate(h *importHandle, size int64) syscall.Errno {
	e.mu.Lock()
	committed := e.state == importCommitted
	busy := e.state == importCommitting || e.owner != nil && e.owner != h && (h != nil || e.owner.filling)
	e.mu.Unlock()
	switch {
	case committed:
		return 0
	case busy:
		return syscall.EBUSY
	}
	if err := e.stage.Truncate(size); err != nil {
		errno := e.streamErrno("setattr", err)
		if errors.Is(err, errConsumed) {
			if h != nil {
				e.mu.Lock()
				h.failed = errno
				e.mu.Unlock()
			}
			e.t.fail(e, errno)
		}
		return errno
	}
	return 0
}

// importAttr is what a stat of an entry shows.
type importAttr struct {
	mode         uint32
	size         int64
	atime, mtime time.Time
}

func (e *importEntry) attr() importAttr {
	e.mu.Lock()
	defer e.mu.Unlock()
	a := importAttr{mode: e.mode, size: e.size, atime: e.atime, mtime: e.mtime}
	if e.state != importCommitted {
		a.size = e.stage.Size()
	}
	return a
}

// setAttr records what cp -a, mv, python's copy2 and rsync set: it changes
// nothing else.
func (e *importEntry) setAttr(mode *uint32, mtime, atime *time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if mode != nil {
		e.mode = *mode & 0o7777
	}
	if mtime != nil {
		e.mtime = *mtime
	}
	if atime != nil {
		e.atime = *atime
	}
}

func (e *importEntry) currentName() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.name
}

// status is e in the status file's imports.
func (e *importEntry) status() importStatus {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.observeLocked()
	st := importStatus{Name: e.name, Index: e.indexLocked(), Task: e.task, State: "writing", Error: e.note, Size: e.size}
	switch {
	case e.state == importCommitted:
		st.State = "imported"
		return st
	case e.failure != nil || e.note != "":
		st.State = "failed"
	}
	st.Size = e.stage.Size()
	return st
}

// commit ends the data of e and waits for its import: the errno of a flush
// or a rename. It is idempotent: a committed entry answers 0 again. On
// failure the index name is free again and the entry goes, unless keep (a
// rename keeps the temporary file, bytes and all, for the tool to remove).
// An interrupted wait leaves the import running and e writing.
func (e *importEntry) commit(ctx context.Context, keep bool) syscall.Errno {
	e.commitMu.Lock()
	defer e.commitMu.Unlock()
	e.mu.Lock()
	defer func() {
		e.mu.Lock()
		if e.state == importCommitting {
			e.mustLocked(importWriting)
		}
		e.mu.Unlock()
	}()
	switch e.state {
	case importCommitted:
		e.mu.Unlock()
		return 0
	case importGone:
		e.mu.Unlock()
		return syscall.ECANCELED
	case importWriting, importFailed:
		e.mustLocked(importCommitting)
	}
	e.failure = nil
	e.mu.Unlock()
	t, errno := e.await(ctx)
	switch {
	case errno == 0:
		e.committed()
	case t != nil:
		e.mu.Lock()
		e.failLocked(*t)
		e.mu.Unlock()
		if !keep {
			e.t.drop(e)
		}
	}
	return errno
}

// await ends the stream, starts the import if no task reads it yet and
// waits for it. It returns the errno of the commit and, if the
// import failed, why (a nil task: interrupted, the import goes on).
func (e *importEntry) await(ctx context.Context) (*task.Task, syscall.Errno) {
	m := e.t.m
	e.mu.Lock()
	idx, name, uid := e.indexLocked(), e.name, e.task
	e.mu.Unlock()
	e.stage.finish()
	if e.stage.Size() == 0 {
		// Truncated to nothing after the import began: no archive.
		if uid != 0 {
			m.engine.Cancel(uid)
		}
		m.log.Warn("import refused: "+errEmptyArchive, "op", "commit", "path", importPath(name))
		e.mu.Lock()
		e.note = errEmptyArchive
		e.mu.Unlock()
		return &task.Task{}, syscall.EINVAL
	}
	if uid == 0 {
		if errno := e.start(ctx); errno != 0 {
			return &task.Task{}, errno
		}
		e.mu.Lock()
		uid = e.task
		e.mu.Unlock()
	}
	t, err := m.engine.Wait(ctx, uid)
	if err != nil {
		return nil, toErrno(m.log, "commit", err) // interrupted: the import goes on
	}
	if errno := taskErrno(m.log, "import", t); errno != 0 {
		msg := string(t.Status)
		if t.Error != nil {
			msg = t.Error.Message
		}
		m.log.Warn("import failed", "op", "commit", "path", importPath(name), "index", idx, "task", t.UID, "err", msg)
		return &t, errno
	}
	return nil, 0
}

// committed records the success of e's import: the entry lingers for the
// grace period, its stream gone (unless it was unlinked meanwhile,
// too late to stop the import). An entry that replaced its index frees the
// name at once, for the next restore-over (under another spelling: this
// one lingers).
func (e *importEntry) committed() {
	e.mu.Lock()
	gone := e.state == importGone
	if !gone {
		e.mustLocked(importCommitted)
		e.size = e.stage.Size()
	}
	res, stage := e.res, e.stage
	e.mu.Unlock()
	if res != nil && res.Replace() {
		res.Release()
	}
	stage.remove()
	e.t.m.touchIndexes()
	if !gone {
		e.t.expireLater(e)
	}
}

// importRuns reports whether e's import may still read its stream: a
// writer waiting for it stops waiting once it has finished.
func (e *importEntry) importRuns() bool {
	e.mu.Lock()
	uid := e.task
	e.mu.Unlock()
	if uid == 0 {
		return true // being enqueued
	}
	t, err := e.t.m.engine.Get(uid)
	return err != nil || !t.Status.Finished()
}

// streamErrno is the errno of a write, truncation or read of e's stream
// that failed with err. A write over bytes the import already read fails
// the import: ESPIPE, and the import's task fails saying why.
func (e *importEntry) streamErrno(op string, err error) syscall.Errno {
	if !errors.Is(err, errConsumed) {
		return toErrno(e.t.m.log, op, err)
	}
	name := e.currentName()
	if op != "read" {
		e.stage.failWith(fmt.Errorf("import/%s: %w", name, err))
	}
	e.t.m.log.Warn("import failed: bytes the import had read were written again; import/ keeps no copy", "op", op, "path", importPath(name), "err", err)
	return syscall.ESPIPE
}
