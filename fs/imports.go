package fs

// The table of import entries (DESIGN §5): names, reservations, expiry,
// renames. The state machine of one entry is in importentry.go, the go-fuse
// nodes in import.go. Nothing here imports go-fuse.

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

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

// replaceMark, at the end of a name's stem (import/NAME.replace.tar.gz,
// import/NAME.replace), makes its import replace index NAME if it exists:
// the restore-over spelling. A "." is in no index name, so the spelling
// names no index of its own.
const replaceMark = ".replace"

// replaceSuffix is the spelling the hints show.
const replaceSuffix = replaceMark + ".tar.gz"

// importTarget returns the index an entry named name imports to and
// whether its import replaces that index.
func importTarget(name string) (idx string, replace bool) {
	idx = importIndexName(name)
	if stem, ok := strings.CutSuffix(idx, replaceMark); ok && stem != "" {
		return stem, true
	}
	return idx, false
}

// isTempName reports whether name is a temporary name (".name.XXXXXX" as
// rsync writes): it is committed when renamed to a final name, not at close.
func isTempName(name string) bool { return strings.HasPrefix(name, ".") }

// rsyncTemp matches the temporary name rsync writes a file NAME as:
// ".NAME.XXXXXX", six letters or digits.
var rsyncTemp = regexp.MustCompile(`^\.(.+)\.[A-Za-z0-9]{6}$`)

// finalName returns the name a temporary name will be renamed to, if it
// has rsync's pattern.
func finalName(temp string) (string, bool) {
	m := rsyncTemp.FindStringSubmatch(temp)
	if m == nil || isTempName(m[1]) {
		return "", false
	}
	return m[1], true
}

// replaceHowTo says how to replace index idx, for the refusal of an import
// onto it.
func replaceHowTo(idx string) string {
	return fmt.Sprintf("to replace index %[1]s, copy the archive to import/%[1]s%[2]s (or: idxfs snapshot import FILE --as %[1]s --replace)", idx, replaceSuffix)
}

// importPath is how tasks name an archive that arrives through the mount.
func importPath(name string) string { return "import/" + name }

// errEmptyArchive is why a file in import/ with no bytes is refused.
const errEmptyArchive = "empty archive: the file has no bytes"

// importTable holds the entries of import/. The engine holds their index
// names (task.Reservation). The table owns the expiry timers: close stops
// them and waits for one that runs.
type importTable struct {
	m *mountState

	mu      sync.Mutex
	entries map[string]*importEntry // by name in import/
	seq     uint64
	closed  bool
	timers  map[*importEntry]*time.Timer
	expiry  sync.WaitGroup       // armed and running expiry timers
	onTimer func(e *importEntry) // for tests: called as an expiry timer fires
}

func newImportTable(m *mountState) *importTable {
	return &importTable{m: m, entries: map[string]*importEntry{}, timers: map[*importEntry]*time.Timer{}}
}

// close aborts imports in progress, removes their staging files and stops
// the expiry timers, waiting for one that is running.
func (t *importTable) close() {
	t.mu.Lock()
	t.closed = true
	for _, e := range t.entries {
		e.stage.remove()
	}
	for e := range t.timers {
		t.stopTimerLocked(e)
	}
	t.mu.Unlock()
	t.expiry.Wait()
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

// reserve asks the engine for index name idx for entry name (to replace
// the index of that name if replace): EEXIST if an index (unless replace)
// or an import of that name exists.
func (t *importTable) reserve(op, name, idx string, replace bool) (*task.Reservation, syscall.Errno) {
	reserve := t.m.engine.Reserve
	if replace {
		reserve = t.m.engine.ReserveReplace
	}
	res, err := reserve(idx, importPath(name))
	if err != nil {
		return nil, t.refused(op, name, idx, replace, err)
	}
	return res, 0
}

// refused is the errno of an import of entry name that the engine refused
// with err, logged with the way to replace an index that exists.
func (t *importTable) refused(op, name, idx string, replace bool, err error) syscall.Errno {
	if !errors.Is(err, index.ErrExists) {
		return toErrno(t.m.log, op, err)
	}
	if !replace && t.m.store.Exists(idx) {
		t.m.log.Info("import refused: the index exists; "+replaceHowTo(idx), "op", op, "path", importPath(name), "index", idx)
	} else {
		t.m.log.Info("import refused: the index is being imported or renamed to", "op", op, "path", importPath(name), "index", idx, "err", err)
	}
	return syscall.EEXIST
}

// earlyRefusal refuses, at its create, a temporary name that will be
// renamed to a final name whose import would be refused (rsync's
// .NAME.XXXXXX onto an existing index): before any byte is sent.
func (t *importTable) earlyRefusal(name string) syscall.Errno {
	final, ok := finalName(name)
	if !ok {
		return 0
	}
	idx, replace := importTarget(final)
	if index.ValidateUID(idx) != nil {
		return 0 // refused at the rename, which says why
	}
	if err := t.m.engine.Claimable(idx, replace); err != nil {
		return t.refused("create", name, idx, replace, err)
	}
	return 0
}

// create makes a new entry and its first write handle, which owns it:
// EEXIST if the name or its index is taken, EINVAL for a name that makes no
// index name.
func (t *importTable) create(name string, mode uint32) (*importEntry, *importHandle, syscall.Errno) {
	idx, replace := "", false
	if !isTempName(name) {
		idx, replace = importTarget(name)
		if err := index.ValidateUID(idx); err != nil {
			t.m.log.Warn("import refused", "op", "create", "path", importPath(name), "err", err)
			return nil, nil, syscall.EINVAL
		}
	} else if errno := t.earlyRefusal(name); errno != 0 {
		return nil, nil, errno
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil, nil, syscall.ESHUTDOWN
	}
	if _, ok := t.entries[name]; ok {
		return nil, nil, syscall.EEXIST
	}
	var res *task.Reservation
	if idx != "" {
		var errno syscall.Errno
		if res, errno = t.reserve("create", name, idx, replace); errno != 0 {
			return nil, nil, errno
		}
	}
	st := newImportStream(t.m.store.TmpDir())
	t.seq++
	now := time.Now()
	e := &importEntry{
		t: t, ino: ino("import", fmt.Sprintf("%d-%d", t.m.started.UnixNano(), t.seq)), stage: st,
		name: name, res: res, mode: mode & 0o7777, mtime: now, atime: now,
	}
	if e.mode == 0 {
		e.mode = 0o644
	}
	h := &importHandle{e: e, writable: true, filling: true}
	e.owner, e.open = h, 1
	t.entries[name] = e
	return e, h, 0
}

// abandon cancels e's import if it is still running and drops e: it was
// unlinked, or it was left uncommitted.
func (t *importTable) abandon(e *importEntry, why string) {
	e.mu.Lock()
	uid, committed, name := e.task, e.state == importCommitted, e.name
	e.mu.Unlock()
	if uid != 0 && !committed {
		if _, err := t.m.engine.Cancel(uid); err == nil {
			t.m.log.Info("import abandoned", "path", importPath(name), "task", uid, "why", why)
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

// rename commits a temporary entry under its final name (rsync's
// .NAME.XXXXXX → NAME): it waits for the import and returns its errno; on
// failure the entry keeps its temporary name, for the tool to remove.
func (t *importTable) rename(ctx context.Context, e *importEntry, newName string) syscall.Errno {
	idx, _ := importTarget(newName)
	if isTempName(newName) {
		return t.move(e, newName, "")
	}
	if err := index.ValidateUID(idx); err != nil {
		t.m.log.Warn("import refused", "op", "rename", "path", importPath(newName), "err", err)
		return syscall.EINVAL
	}
	e.mu.Lock()
	final, filling := e.state == importCommitted || e.res != nil, e.owner != nil && e.owner.filling
	oldName := e.name
	e.mu.Unlock()
	if final {
		// A final name is renamed only by replacing it: not supported.
		return syscall.EPERM
	}
	if filling {
		// A writer has written since its last close: the bytes are not
		// all there.
		return syscall.EBUSY
	}
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

// move renames entry e to newName importing to idx (as newName says:
// replacing it or not), reserving idx and releasing the index it imported
// to.
func (t *importTable) move(e *importEntry, newName, idx string) syscall.Errno {
	t.mu.Lock()
	defer t.mu.Unlock()
	if other, ok := t.entries[newName]; ok && other != e {
		return syscall.EEXIST
	}
	var res *task.Reservation
	if idx != "" {
		var errno syscall.Errno
		_, replace := importTarget(newName)
		if res, errno = t.reserve("rename", newName, idx, replace); errno != 0 {
			return errno
		}
	}
	e.mu.Lock()
	delete(t.entries, e.name)
	old := e.res
	e.name, e.res = newName, res
	e.mu.Unlock()
	t.entries[newName] = e
	old.Release()
	return 0
}

// drop removes e from the table and its staging file (an uncommitted entry
// is gone); its index name is free again (once a task that took it over
// has finished).
func (t *importTable) drop(e *importEntry) {
	t.mu.Lock()
	e.mu.Lock()
	if t.entries[e.name] == e {
		delete(t.entries, e.name)
	}
	if e.state != importGone && e.state != importCommitted {
		e.mustLocked(importGone)
	}
	res, stage := e.res, e.stage
	e.mu.Unlock()
	t.stopTimerLocked(e)
	t.mu.Unlock()
	stage.remove()
	res.Release()
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
	t.stopTimerLocked(e)
	t.expiry.Add(1)
	t.timers[e] = time.AfterFunc(t.m.opts.ImportGrace, func() {
		defer t.expiry.Done()
		if t.onTimer != nil {
			t.onTimer(e)
		}
		t.expire(e)
	})
}

// stopTimerLocked stops e's expiry timer if it has one.
func (t *importTable) stopTimerLocked(e *importEntry) {
	if tm := t.timers[e]; tm != nil {
		if tm.Stop() {
			t.expiry.Done() // it will not run
		}
		delete(t.timers, e)
	}
}

// stopExpiry keeps e: a handle opened it again.
func (t *importTable) stopExpiry(e *importEntry) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.stopTimerLocked(e)
}

// expire drops e if it is committed or idle; an import still running (its
// writer's close was interrupted) is looked at again a grace period later.
func (t *importTable) expire(e *importEntry) {
	e.mu.Lock()
	state, busy, uid, name := e.state, e.open > 0 || e.state == importCommitting, e.task, e.name
	e.mu.Unlock()
	switch {
	case state == importCommitted:
		t.drop(e)
	case state == importGone:
	case busy:
		// A handle has it open again; its release re-arms the expiry.
	default:
		if uid != 0 {
			if tk, err := t.m.engine.Get(uid); err == nil && !tk.Status.Finished() {
				t.expireLater(e)
				return
			}
		}
		t.m.log.Info("import entry expired: nobody has it open and it was not committed", "path", importPath(name))
		t.abandon(e, "expired")
	}
}
