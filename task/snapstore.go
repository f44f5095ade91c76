package task

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/idxfs/idxfs/snapshot"
)

// SnapshotSuffix ends the name of every stored snapshot.
const SnapshotSuffix = ".idx.snapshot"

// StoredSnapshot is a completed snapshot in DATA/snapshots/indexes/<uid>/.
type StoredSnapshot struct {
	ID             string    `json:"id"`      // SnapshotID of its file name
	ShortID        string    `json:"shortId"` // ID's first ShortIDLen digits
	Path           string    `json:"path"`
	Size           int64     `json:"size"`
	IndexUID       string    `json:"indexUid"`
	IndexVersion   uint64    `json:"indexVersion"`
	IndexUpdatedAt time.Time `json:"indexUpdatedAt"`
	Documents      uint64    `json:"numberOfDocuments"`
	CreatedAt      time.Time `json:"createdAt"`
	// ReusedFiles files of the index, ReusedBytes bytes, had their members
	// copied from the previous snapshot (0 when the store has no record of
	// it: a snapshot of an older version, or one without its member index).
	ReusedFiles int   `json:"reusedFiles"`
	ReusedBytes int64 `json:"reusedBytes"`
}

func (s StoredSnapshot) details(reused bool) SnapshotCreationDetails {
	return SnapshotCreationDetails{
		IndexUID: s.IndexUID, Path: s.Path, Size: s.Size, IndexVersion: s.IndexVersion,
		NumberOfDocuments: s.Documents, Reused: reused,
		ReusedFiles: s.ReusedFiles, ReusedBytes: s.ReusedBytes,
	}
}

// Holds reports whether s holds the index state (version, updatedAt): it is
// fresh for an index in that state. The pair tells apart an index from
// another of the same name created later, whose version count starts again.
// This is the store's one freshness test.
func (s StoredSnapshot) Holds(version uint64, updatedAt time.Time) bool {
	return s.IndexVersion == version && s.IndexUpdatedAt.Equal(updatedAt)
}

// snapStore is the snapshot store on disk, with the newest snapshot of each
// index cached so that a stat of a snapshot file costs no disk read.
type snapStore struct {
	dir string
	log *slog.Logger

	mu     sync.Mutex
	newest map[string]StoredSnapshot // index uid → its newest snapshot
	// writing lists, per index uid, the snapshot creations writing an
	// archive (claim): a creation of the same index state waits for them.
	writing map[string][]*writer
	// complete holds, per snapshot creation task, its archive once all its
	// bytes are written, before it is synced and stored (announce), for
	// readers that need only the bytes (SnapshotEarly). changed is closed
	// (and replaced) at every announce.
	complete map[uint64]completeArchive
	changed  chan struct{}
}

// completeArchive is an archive whose bytes are complete: the open file
// (the creation's own descriptor; readers get a dup) and what the store
// will record of it.
type completeArchive struct {
	f      *os.File
	st     StoredSnapshot
	stored chan struct{} // closed by forget: the store step is over
}

// writer is a snapshot creation writing an archive of an index state.
type writer struct {
	version   uint64
	updatedAt time.Time
	done      chan struct{} // closed when it stored its archive or gave up
}

func openSnapStore(dir string, log *slog.Logger) (*snapStore, error) {
	s := &snapStore{dir: dir, log: log, newest: map[string]StoredSnapshot{}, writing: map[string][]*writer{},
		complete: map[uint64]completeArchive{}, changed: make(chan struct{})}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("task: snapshot store: %w", err)
	}
	dirs, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("task: snapshot store: %w", err)
	}
	for _, d := range dirs {
		if !d.IsDir() {
			continue
		}
		s.removeOrphanIndexes(d.Name())
		if err := s.loadNewestLocked(d.Name()); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// loadNewestLocked records the newest readable snapshot of uid in s.newest,
// reading its file; an unreadable file (it should not be there: files
// arrive by rename) is logged and passed over.
func (s *snapStore) loadNewestLocked(uid string) error {
	names, err := s.names(uid)
	if err != nil {
		return err
	}
	for i := len(names) - 1; i >= 0; i-- {
		st, err := readStored(filepath.Join(s.dir, uid, names[i]))
		if err != nil {
			s.log.Warn("unreadable stored snapshot", "path", names[i], "err", err)
			continue
		}
		s.newest[uid] = st
		break
	}
	return nil
}

// checkStoreDir refuses a directory of the store that is not a directory
// (a symbolic link put there by hand): the store never follows one.
func checkStoreDir(dir string) error {
	fi, err := os.Lstat(dir)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("task: snapshot store: %s is not a directory (%s): %w", dir, fi.Mode().Type(), ErrNotStored)
	}
	return nil
}

// names lists the stored snapshot files of uid, oldest first (names sort by
// creation time). A uid directory that is a symbolic link holds none.
func (s *snapStore) names(uid string) ([]string, error) {
	dir := filepath.Join(s.dir, uid)
	if err := checkStoreDir(dir); errors.Is(err, os.ErrNotExist) {
		return nil, nil
	} else if err != nil {
		s.log.Warn("snapshot store: skipped", "path", dir, "err", err)
		return nil, nil
	}
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	} else if err != nil {
		return nil, fmt.Errorf("task: snapshot store: %w", err)
	}
	var out []string
	for _, e := range ents {
		if e.Type().IsRegular() && storedFileName(e.Name()) {
			out = append(out, e.Name())
		}
	}
	slices.Sort(out)
	return out, nil
}

// StoredMode is the mode of a stored snapshot: read-only, and only for the
// owner, like the data dir (issue 7). Others read snapshots through the
// mount, whose modes derive from the data dir's (fs.Options).
const StoredMode = 0o400

// ErrNotStored: a path in the snapshot store is not a file the store wrote
// (a symbolic link, a device, a file of another owner or a writable one).
var ErrNotStored = errors.New("task: not a stored snapshot")

// OpenStored opens a file of the snapshot store for reading, without
// following a symbolic link (O_NOFOLLOW) or blocking on a FIFO, and only if
// it is what the store writes: a regular file with no write permission
// (StoredMode, or 0444 from older versions) of this process's user (any
// user's, for root, which may serve a data dir another user made). Anything else
// was put there by hand and is refused with ErrNotStored, so that the mount
// never serves what a link points at.
func OpenStored(path string) (*os.File, error) {
	fd, err := syscall.Open(path, syscall.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if errors.Is(err, syscall.ELOOP) {
		return nil, fmt.Errorf("%s: a symbolic link: %w", path, ErrNotStored)
	}
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil {
		syscall.Close(fd)
		return nil, &os.PathError{Op: "fstat", Path: path, Err: err}
	}
	switch {
	case st.Mode&syscall.S_IFMT != syscall.S_IFREG:
		err = fmt.Errorf("%s: not a regular file: %w", path, ErrNotStored)
	case int(st.Uid) != os.Geteuid() && os.Geteuid() != 0:
		err = fmt.Errorf("%s: owned by uid %d, not by idxfs's user: %w", path, st.Uid, ErrNotStored)
	case st.Mode&0o222 != 0:
		err = fmt.Errorf("%s: writable (mode %04o), not as the store leaves its files: %w", path, st.Mode&0o7777, ErrNotStored)
	}
	if err != nil {
		syscall.Close(fd)
		return nil, err
	}
	// Back to blocking reads (a regular file never blocks anyway).
	if err := syscall.SetNonblock(fd, false); err != nil {
		syscall.Close(fd)
		return nil, &os.PathError{Op: "fcntl", Path: path, Err: err}
	}
	return os.NewFile(uintptr(fd), path), nil
}

func readStored(path string) (StoredSnapshot, error) {
	f, err := OpenStored(path)
	if err != nil {
		return StoredSnapshot{}, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return StoredSnapshot{}, err
	}
	md, err := snapshot.Inspect(f)
	if err != nil {
		return StoredSnapshot{}, err
	}
	ss := stored(path, st.Size(), md)
	if ix, err := readMemberIndex(path, st.Size()); err == nil {
		ss.ReusedFiles, ss.ReusedBytes = ix.ReusedFiles, ix.ReusedBytes
	}
	return ss, nil
}

func stored(path string, size int64, md snapshot.Metadata) StoredSnapshot {
	id := SnapshotID(filepath.Base(path))
	return StoredSnapshot{
		ID: id, ShortID: id[:ShortIDLen], Path: path, Size: size, IndexUID: md.IndexUID, IndexVersion: md.IndexVersion,
		IndexUpdatedAt: md.IndexUpdatedAt, Documents: md.Documents, CreatedAt: md.CreatedAt,
	}
}

// fresh returns the newest snapshot of uid if it holds the given state.
func (s *snapStore) fresh(uid string, version uint64, updatedAt time.Time) (StoredSnapshot, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.freshLocked(uid, version, updatedAt)
}

func (s *snapStore) freshLocked(uid string, version uint64, updatedAt time.Time) (StoredSnapshot, bool) {
	st, ok := s.newest[uid]
	if !ok || !st.Holds(version, updatedAt) {
		return StoredSnapshot{}, false
	}
	if fi, err := os.Lstat(st.Path); err != nil || !fi.Mode().IsRegular() {
		// Removed (or replaced) by hand: forget it.
		delete(s.newest, uid)
		return StoredSnapshot{}, false
	}
	return st, true
}

// claim is how a snapshot creation of index uid in state (version,
// updatedAt) starts: it returns the stored snapshot of that state if there
// is one, once no other creation is writing one (it waits for those: the
// first one's archive is then reused, and a second archive of one state
// never pushes an older version's snapshot out by retention). Otherwise the
// caller writes the archive, and must call release when it has stored it or
// given up; until then, claims of the same state wait. ctx ends a wait.
func (s *snapStore) claim(ctx context.Context, uid string, version uint64, updatedAt time.Time) (st StoredSnapshot, fresh bool, release func(), err error) {
	for {
		s.mu.Lock()
		if st, ok := s.freshLocked(uid, version, updatedAt); ok {
			s.mu.Unlock()
			return st, true, nil, nil
		}
		var other *writer
		for _, w := range s.writing[uid] {
			if w.version == version && w.updatedAt.Equal(updatedAt) {
				other = w
			}
		}
		if other == nil {
			w := &writer{version: version, updatedAt: updatedAt, done: make(chan struct{})}
			s.writing[uid] = append(s.writing[uid], w)
			s.mu.Unlock()
			return StoredSnapshot{}, false, func() { s.unclaim(uid, w) }, nil
		}
		s.mu.Unlock()
		select {
		case <-other.done:
		case <-ctx.Done():
			return StoredSnapshot{}, false, nil, ctx.Err()
		}
	}
}

func (s *snapStore) unclaim(uid string, w *writer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.writing[uid] = slices.DeleteFunc(s.writing[uid], func(x *writer) bool { return x == w })
	if len(s.writing[uid]) == 0 {
		delete(s.writing, uid)
	}
	close(w.done)
}

// recorded returns the store's record of the file path if it is the newest
// snapshot of uid.
func (s *snapStore) recorded(uid, path string) (StoredSnapshot, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.newest[uid]
	return st, ok && st.Path == path
}

// add moves the completed archive tmpPath into the store, mode StoredMode,
// with its member index ix (if not nil) next to it, then removes the oldest
// snapshots of uid beyond keep.
func (s *snapStore) add(uid, tmpPath string, md snapshot.Metadata, ix *snapshot.MemberIndex, keep int) (StoredSnapshot, error) {
	if err := os.Chmod(tmpPath, StoredMode); err != nil {
		return StoredSnapshot{}, err
	}
	fi, err := os.Stat(tmpPath)
	if err != nil {
		return StoredSnapshot{}, err
	}
	final := s.storedPath(uid, md.CreatedAt)
	dir := filepath.Dir(final)
	// The member index first, synced: a crash before the archive's link
	// leaves an index without its archive, which the next start removes
	// (and which nothing reads meanwhile: the archive is looked up first).
	var ixTmp string
	if ix != nil {
		var err error
		if ixTmp, err = writeMemberIndexTmp(filepath.Dir(tmpPath), *ix); err != nil {
			s.log.Warn("snapshot member index not written: the next snapshot of the index compresses every file", "index", uid, "err", err)
		} else {
			defer os.Remove(ixTmp)
		}
	}
	if err := s.link(dir, tmpPath, final, ixTmp); err != nil {
		return StoredSnapshot{}, err
	}
	os.Remove(tmpPath)
	if err := syncDir(dir); err != nil {
		return StoredSnapshot{}, err
	}
	st := stored(final, fi.Size(), md)
	if ix != nil {
		st.ReusedFiles, st.ReusedBytes = ix.ReusedFiles, ix.ReusedBytes
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if cur, ok := s.newest[uid]; !ok || cur.CreatedAt.Before(st.CreatedAt) || cur.Path == st.Path {
		s.newest[uid] = st
	}
	names, err := s.names(uid)
	if err != nil {
		return st, err
	}
	for len(names) > keep {
		p := filepath.Join(dir, names[0])
		names = names[1:]
		if p == s.newest[uid].Path {
			continue
		}
		if err := removeStored(p); err != nil {
			s.log.Warn("remove old snapshot", "path", p, "err", err)
		} else {
			s.log.Info("removed old snapshot", "index", uid, "path", p)
		}
	}
	return st, nil
}

// storedPath is where add stores the snapshot of uid created at createdAt.
func (s *snapStore) storedPath(uid string, createdAt time.Time) string {
	return filepath.Join(s.dir, uid, fmt.Sprintf("%s_%s%s", uid, createdAt.UTC().Format(storedTimeFormat), SnapshotSuffix))
}

// announce makes f, the complete archive of snapshot creation task tuid,
// available to SnapshotEarly until forget.
func (s *snapStore) announce(tuid uint64, f *os.File, st StoredSnapshot) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.complete[tuid] = completeArchive{f: f, st: st, stored: make(chan struct{})}
	close(s.changed)
	s.changed = make(chan struct{})
}

// forget ends what announce started (the task is about to finish),
// closing the creation's descriptor; readers keep theirs. The entry stays,
// closed, until a settle has seen its task finished.
func (s *snapStore) forget(tuid uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a, ok := s.complete[tuid]; ok && a.f != nil {
		a.f.Close()
		a.f = nil
		close(a.stored)
		s.complete[tuid] = a
	}
}

// settle waits until no snapshot creation of uid ("": of any index) has an
// archive that a reader got before the store: its store step done and its
// task finished. What shows the store or the tasks (listings, FreshSnapshot,
// the status files) then shows what a reader of such an archive expects —
// the snapshot stored (or, if storing failed, the task failed) — as it did
// when the reader waited for the store.
func (e *Engine) settle(uid string) {
	s := e.snaps
	for {
		s.mu.Lock()
		var tuid uint64
		var stored chan struct{}
		for id, a := range s.complete {
			if uid == "" || a.st.IndexUID == uid {
				tuid, stored = id, a.stored
				break
			}
		}
		s.mu.Unlock()
		if stored == nil {
			return
		}
		<-stored
		e.Wait(context.Background(), tuid) // finished (or unknown: gone)
		s.mu.Lock()
		delete(s.complete, tuid)
		s.mu.Unlock()
	}
}

// SettleSnapshots is settle for the mount's status files.
func (e *Engine) SettleSnapshots(uid string) { e.settle(uid) }

// completed returns a new descriptor of the complete archive of task tuid,
// if it was announced; else a channel closed at the next announce.
func (s *snapStore) completed(tuid uint64) (*os.File, StoredSnapshot, <-chan struct{}, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.complete[tuid]
	if !ok || a.f == nil {
		return nil, StoredSnapshot{}, s.changed, nil
	}
	fd, err := unix.Dup(int(a.f.Fd()))
	if err != nil {
		return nil, StoredSnapshot{}, nil, &os.PathError{Op: "dup", Path: a.f.Name(), Err: err}
	}
	unix.CloseOnExec(fd)
	return os.NewFile(uintptr(fd), a.f.Name()), a.st, nil, nil
}

// link makes the index directory dir if need be and links tmpPath into it
// as final, under s.mu: DeleteSnapshot takes a directory away when it
// empties it, and must not in between. Link, not rename: it never replaces
// an existing snapshot. The member index ixTmp, if not "", is linked first
// (see add).
func (s *snapStore) link(dir, tmpPath, final, ixTmp string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return err
	}
	if err := checkStoreDir(dir); err != nil {
		return err
	}
	if ixTmp != "" {
		os.Remove(memberIndexPath(final)) // a stale one: never ours to keep
		if err := os.Link(ixTmp, memberIndexPath(final)); err != nil {
			s.log.Warn("snapshot member index not stored", "path", final, "err", err)
		}
	}
	if err := os.Link(tmpPath, final); err != nil {
		os.Remove(memberIndexPath(final))
		return err
	}
	return nil
}

// list returns the stored snapshots of uid ("" for every index), oldest
// first within an index.
func (s *snapStore) list(uid string) ([]StoredSnapshot, error) {
	uids := []string{uid}
	if uid == "" {
		var err error
		if uids, err = s.uids(); err != nil {
			return nil, err
		}
	}
	var out []StoredSnapshot
	for _, u := range uids {
		names, err := s.names(u)
		if err != nil {
			return nil, err
		}
		for _, n := range names {
			st, err := readStored(filepath.Join(s.dir, u, n))
			if err != nil {
				s.log.Warn("unreadable stored snapshot", "path", n, "err", err)
				continue
			}
			out = append(out, st)
		}
	}
	return out, nil
}

// Snapshots lists the stored snapshots of index uid, or of every index if
// uid is "", oldest first within an index.
func (e *Engine) Snapshots(uid string) ([]StoredSnapshot, error) {
	e.settle(uid)
	return e.snaps.list(uid)
}

// FreshSnapshot returns the stored snapshot of index uid's current state, if
// there is one. It starts no work and reads no archive; it waits for a
// store step in flight for uid (see SnapshotEarly).
func (e *Engine) FreshSnapshot(ctx context.Context, uid string) (StoredSnapshot, bool, error) {
	// A snapshot whose reader got it before the store did is stored (or
	// not) in a moment: the answer waits for it, as the listings do.
	e.settle(uid)
	info, err := e.store.Get(ctx, uid)
	if err != nil {
		return StoredSnapshot{}, false, err
	}
	st, ok := e.snaps.fresh(uid, info.Version, info.UpdatedAt)
	return st, ok, nil
}

// Snapshot returns a complete snapshot of index uid's current state: a
// stored one if it is fresh, else the result of the snapshot creation in
// flight for uid (joined: concurrent callers share one task) or of a new one.
// It returns when the snapshot is complete, when the task fails (its error,
// as *Error), or when ctx is done (ctx.Err(); the task goes on).
func (e *Engine) Snapshot(ctx context.Context, uid string) (StoredSnapshot, error) {
	st, tuid, err := e.freshOrCreation(ctx, uid)
	if err != nil || tuid == 0 {
		return st, err
	}
	return e.createdSnapshot(e.Wait(ctx, tuid))
}

// SnapshotEarly is Snapshot for a reader that needs only the archive's
// bytes: if a snapshot is created, it returns once the archive is complete,
// with f open on it, while the store syncs and stores it (the archive checks
// itself: its SHA-256 sums and CRCs). If the store then fails, the task
// fails and says so; f still holds the complete archive. With a fresh
// stored snapshot, or once the task finished, f is nil: open st.Path.
func (e *Engine) SnapshotEarly(ctx context.Context, uid string) (st StoredSnapshot, f *os.File, err error) {
	st, tuid, err := e.freshOrCreation(ctx, uid)
	if err != nil || tuid == 0 {
		return st, nil, err
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type waited struct {
		t   Task
		err error
	}
	done := make(chan waited, 1)
	go func() {
		t, err := e.Wait(wctx, tuid)
		done <- waited{t, err}
	}()
	for {
		f, st, changed, err := e.snaps.completed(tuid)
		if err != nil || f != nil {
			return st, f, err
		}
		select {
		case <-changed:
		case w := <-done:
			st, err := e.createdSnapshot(w.t, w.err)
			return st, nil, err
		}
	}
}

// createdSnapshot is the stored snapshot of t, a snapshot creation waited
// for (err: the wait's).
func (e *Engine) createdSnapshot(t Task, err error) (StoredSnapshot, error) {
	if err != nil {
		return StoredSnapshot{}, err
	}
	if t.Status == Canceled {
		return StoredSnapshot{}, fmt.Errorf("snapshot task %d: %w", t.UID, ErrCanceled)
	}
	if t.Status != Succeeded {
		if t.Error != nil {
			return StoredSnapshot{}, t.Error
		}
		return StoredSnapshot{}, &Error{Message: fmt.Sprintf("snapshot task %d was %s", t.UID, t.Status), Code: CodeInterrupted, Type: TypeSystem}
	}
	return e.SnapshotOf(t)
}

// SnapshotOf returns the stored snapshot that t, a succeeded
// singleIndexSnapshotCreation task, created or reused, as the store recorded
// it when it stored the file (or found it at start): path, size, the index
// version and updatedAt it holds, createdAt. It reads no archive, unless the
// store no longer has the file as its index's newest (a newer snapshot came
// since, or t ran before this process started): then it reads the metadata
// from the file, which may be gone by retention (an error).
func (e *Engine) SnapshotOf(t Task) (StoredSnapshot, error) {
	if t.Type != SingleIndexSnapshotCreation || t.Status != Succeeded {
		return StoredSnapshot{}, fmt.Errorf("task %d is a %s %s, not a succeeded %s: %w", t.UID, t.Status, t.Type, SingleIndexSnapshotCreation, ErrInvalid)
	}
	var d SnapshotCreationDetails
	if err := t.DecodeDetails(&d); err != nil {
		return StoredSnapshot{}, err
	}
	if st, ok := e.snaps.recorded(d.IndexUID, d.Path); ok {
		return st, nil
	}
	return readStored(d.Path)
}

// freshOrCreation returns a fresh stored snapshot of uid, or the uid of the
// snapshot creation task to wait for: the one in flight, or a new one.
func (e *Engine) freshOrCreation(ctx context.Context, uid string) (StoredSnapshot, uint64, error) {
	e.snapMu.Lock()
	defer e.snapMu.Unlock()
	e.mu.Lock()
	tuid, inFlight := e.inFlightLocked(SingleIndexSnapshotCreation, uid)
	e.mu.Unlock()
	if inFlight {
		return StoredSnapshot{}, tuid, nil
	}
	if st, ok, err := e.FreshSnapshot(ctx, uid); err != nil || ok {
		if ok {
			e.SnapshotReused(st)
		}
		return st, 0, err
	}
	t, err := e.Enqueue(ctx, Request{Kind: SingleIndexSnapshotCreation, IndexUID: uid})
	if err != nil {
		return StoredSnapshot{}, 0, err
	}
	return StoredSnapshot{}, t.UID, nil
}
