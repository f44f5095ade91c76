package index

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// DataDirVersion is the data-dir format version this build writes and the
// newest it understands.
const DataDirVersion = 1

// Limits on names and ids (DESIGN §3, issue 2).
const (
	MaxUIDLength        = 400
	MaxDocumentIDLength = 511
	// MaxDocumentSize is the largest document a payload may hold, in bytes
	// as given (an NDJSON line or an array element).
	MaxDocumentSize = 64 << 20
)

// Options configure a Store. The zero value is valid.
type Options struct {
	// Logger receives the store's logs. Default: discard.
	Logger *slog.Logger
	// ReadOnly opens the data dir without creating its layout. Still takes
	// LOCK (a reader must not race a writer). Writes fail with ErrReadOnly.
	// Default: false.
	ReadOnly bool
	// OnBackgroundError, if set, is called (from pebble's goroutines) with
	// every error of a flush or compaction, which pebble retries. The store
	// logs them anyway (at most once a minute). A command that should stop
	// on them rather than wait sets it. Default: nil.
	OnBackgroundError func(error)
	// LockWait is how long Open waits for a data dir that another process
	// holds, unless that process is a mount (LOCK names a mountpoint): then
	// Open fails at once. Default: 0, fail at once.
	LockWait time.Duration
	// OnLockWait, if set, is called once when Open starts waiting, with
	// the holder and LockWait.
	OnLockWait func(holder LockInfo, wait time.Duration)
}

// Store is an open data directory. It is safe for concurrent use.
type Store struct {
	dir   string
	opts  Options
	log   *slog.Logger
	cache *pebble.Cache // block cache shared by every database of the store
	meta  *pebble.DB    // index map and other namespaces
	space *space        // the free-space guard (space.go)

	lockMu   sync.Mutex
	lock     *os.File // DATA/LOCK, flocked while open
	lockInfo LockInfo

	// createMu serializes changes to the index map (Create, Delete, Adopt)
	// so that "exists?" and "register" are one step.
	createMu sync.Mutex

	mu         sync.Mutex
	closed     bool
	metaFailed error              // a fatal error of the meta database; guarded by mu
	indexes    map[string]*handle // by uid; guarded by mu
	inflight   sync.WaitGroup     // public calls in progress; Add under mu while !closed
	applying   atomic.Int64       // document writes in their second pass (Applying)

	// Tuning and fault injection for tests.
	batchSize int // pass 2 commits about this many bytes per batch
	maxDoc    int // MaxDocumentSize
	hooks     struct {
		afterMapDelete  func() error      // Delete, between the map entry and the files
		afterMapReplace func() error      // Replace, between the map write and the old files
		beforeMapCommit func() error      // every change of the map, before its write: an error is a crash
		afterBatch      func(n int) error // pass 2, after committing batch n (from 1), but the last: an error is a crash
		beforeCommit    func(n int) error // pass 2, before committing batch n (from 1): an error fails the commit
	}
}

// handle is one index: its map entry and its lazily opened database.
type handle struct {
	// name is the index's uid, which a rename or a swap changes while
	// operations on it go on: read it with uid().
	name      atomic.Pointer[string]
	id        string
	lineage   string // see Info.Lineage
	dir       string
	createdAt time.Time // of the map entry: when it was registered

	ops     sync.WaitGroup // operations in flight; Add under Store.mu while in the map
	writeMu sync.Mutex     // serializes writers (documents, version, Checkpoint)

	openMu sync.Mutex
	db     *pebble.DB // nil until first use; guarded by openMu

	failMu sync.Mutex
	failed error // a fatal error of db: it refuses writes; guarded by failMu
}

func newHandle(uid, id, dir string, createdAt time.Time) *handle {
	h := &handle{id: id, lineage: id, dir: dir, createdAt: createdAt}
	h.setUID(uid)
	return h
}

// uid is the index's current name.
func (h *handle) uid() string { return *h.name.Load() }

// setUID renames the index (under Store.mu, as its map key changes).
func (h *handle) setUID(uid string) { h.name.Store(&uid) }

// Open opens (creating on first use) the data directory dir: creates the
// layout of DESIGN §2 (LOCK, VERSION, meta/, indexes/, snapshots/indexes/,
// tmp/; a new data dir is mode 0700), refuses a layout directory that is a
// symbolic link (ErrUnsafeDataDir), refuses a VERSION newer than DataDirVersion (ErrDataDirVersion),
// takes an exclusive flock on LOCK and records this process's pid in it. A
// second Open of the same dir, from this or another process, fails (at once,
// or after waiting up to opts.LockWait for a holder that is not a mount)
// with an error wrapping ErrLocked (a *LockedError) whose message names the
// holder (pid and, if recorded, mountpoint). Open empties tmp/ and removes
// index directories that no map entry names (left by a crash during create,
// import or delete). A data dir that has no VERSION but holds other files is
// refused (ErrDataDirVersion), so that a mistyped path is not written into.
func Open(dir string, opts Options) (*Store, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	s := &Store{
		dir:       abs,
		opts:      opts,
		log:       opts.Logger,
		indexes:   make(map[string]*handle),
		batchSize: 16 << 20,
		maxDoc:    MaxDocumentSize,
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.space = newSpace(abs, s.log, opts.ReadOnly)
	s.space.onError = opts.OnBackgroundError
	if !opts.ReadOnly {
		// 0700: an index holds the user's documents (issue 7). An existing
		// dir keeps its mode: the mount derives its modes from it.
		if err := os.MkdirAll(abs, 0o700); err != nil {
			return nil, err
		}
	}
	s.lockInfo = LockInfo{PID: os.Getpid(), Since: now()}
	if s.lock, err = lockDataDir(abs, opts.ReadOnly, s.lockInfo, lockWait{opts.LockWait, opts.OnLockWait}); err != nil {
		return nil, err
	}
	if err := s.open(); err != nil {
		s.release()
		return nil, err
	}
	s.log.Info("data dir opened", "path", abs, "indexes", len(s.indexes), "readOnly", opts.ReadOnly)
	return s, nil
}

// open does Open's work once LOCK is held.
func (s *Store) open() error {
	if err := checkVersion(s.dir, s.opts.ReadOnly); err != nil {
		return err
	}
	if err := checkNoSymlinks(s.dir); err != nil {
		return err
	}
	if !s.opts.ReadOnly {
		for _, d := range []string{metaDir, indexesDir, snapshotsDir, tmpDir} {
			if err := os.MkdirAll(filepath.Join(s.dir, d), 0o755); err != nil {
				return err
			}
		}
		if err := emptyDir(s.TmpDir()); err != nil {
			return fmt.Errorf("data dir %s: empty tmp: %w", s.dir, err)
		}
		if err := s.space.init(); err != nil {
			return err
		}
		// Opening the meta database read-write replays its WAL into a
		// flush, which waits for room: without the ballast to give it,
		// there must be room for it.
		if s.space.isFull() {
			if err := s.space.small("data dir " + s.dir + ": open the meta database"); err != nil {
				return err
			}
		}
	}
	s.cache = pebble.NewCache(blockCacheSize)
	mo := s.dbOptions()
	mo.Logger = pebbleLogger{l: s.log, failed: s.metaDBFailed}
	mo.MemTableSize = metaMemTable
	mo.ErrorIfNotExists = s.opts.ReadOnly
	var err error
	if s.meta, err = pebble.Open(filepath.Join(s.dir, metaDir), mo); err != nil {
		return fmt.Errorf("data dir %s: open meta database: %w", s.dir, err)
	}
	entries, err := s.loadMap()
	if err != nil {
		return err
	}
	for uid, e := range entries {
		s.indexes[uid] = newHandle(uid, e.ID, s.indexDir(e.ID), e.CreatedAt)
	}
	if !s.opts.ReadOnly {
		return s.removeOrphans()
	}
	return nil
}

// removeOrphans removes the directories in indexes/ that no map entry names.
func (s *Store) removeOrphans() error {
	named := make(map[string]bool, len(s.indexes))
	for _, h := range s.indexes {
		named[h.id] = true
	}
	dir := filepath.Join(s.dir, indexesDir)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if !e.IsDir() || named[e.Name()] {
			continue
		}
		s.log.Warn("removing an index directory that no index names (left by an interrupted create, import or delete)",
			"path", filepath.Join(dir, e.Name()))
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return fmt.Errorf("data dir %s: remove orphan index directory: %w", s.dir, err)
		}
	}
	return syncDir(dir)
}

// Close closes every index database and the meta database and releases LOCK.
// It waits for calls in progress. It is idempotent.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	s.inflight.Wait()

	var errs []error
	for _, h := range s.indexes {
		errs = append(errs, h.close())
	}
	errs = append(errs, s.release())
	s.log.Info("data dir closed", "path", s.dir)
	return errors.Join(errs...)
}

// release closes the meta database and the cache and releases LOCK.
func (s *Store) release() error {
	var errs []error
	s.mu.Lock()
	metaFailed := s.metaFailed
	s.mu.Unlock()
	if s.meta != nil && metaFailed == nil {
		errs = append(errs, s.meta.Close())
	}
	s.meta = nil
	if s.cache != nil {
		s.cache.Unref()
		s.cache = nil
	}
	s.lockMu.Lock()
	defer s.lockMu.Unlock()
	if s.lock != nil {
		if !s.opts.ReadOnly {
			errs = append(errs, writeLockInfo(s.lock, LockInfo{})) // no stale pid
		}
		errs = append(errs, s.lock.Close()) // releases the flock
		s.lock = nil
	}
	return errors.Join(errs...)
}

// Reserve checks that need bytes fit on the data dir's disk, besides what
// other writes in progress reserved, and holds them until release is
// called (idempotent). what names the write in the error, which wraps
// syscall.ENOSPC and says how much is needed and free. While the disk is
// full (see space.go) every reservation fails, until there is room again.
// On a read-only store it always succeeds.
func (s *Store) Reserve(what string, need int64) (release func(), err error) {
	return s.space.reserve(what, need)
}

// Applying reports how many document writes are in their second pass,
// which runs to its end once started (see AddDocuments): a process that
// stops should let them finish.
func (s *Store) Applying() int { return int(s.applying.Load()) }

// ReadOnly reports whether the store was opened read-only.
func (s *Store) ReadOnly() bool { return s.opts.ReadOnly }

// Dir returns the data directory's absolute path.
func (s *Store) Dir() string { return s.dir }

// TmpDir returns DATA/tmp, the staging area for snapshots and imports. Files
// there are removed at the next Open.
func (s *Store) TmpDir() string { return filepath.Join(s.dir, tmpDir) }

// SnapshotsDir returns DATA/snapshots/indexes.
func (s *Store) SnapshotsDir() string { return filepath.Join(s.dir, filepath.FromSlash(snapshotsDir)) }

func (s *Store) indexDir(id string) string { return filepath.Join(s.dir, indexesDir, id) }

// SetMountpoint records (or with "" clears) the mountpoint in LOCK, so that
// a second process is told where the data dir is mounted.
func (s *Store) SetMountpoint(path string) error {
	s.lockMu.Lock()
	defer s.lockMu.Unlock()
	if s.lock == nil {
		return ErrClosed
	}
	info := s.lockInfo
	info.Mountpoint = path
	if err := writeLockInfo(s.lock, info); err != nil {
		return fmt.Errorf("data dir %s: record mountpoint: %w", s.dir, err)
	}
	s.lockInfo = info
	return nil
}

// begin registers a call in progress; end must follow.
func (s *Store) begin() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	s.inflight.Add(1)
	return nil
}

func (s *Store) end() { s.inflight.Done() }

// acquire registers a call in progress on index uid; release must follow.
func (s *Store) acquire(uid string) (*handle, error) {
	if err := ValidateUID(uid); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	h := s.indexes[uid]
	if h == nil {
		return nil, fmt.Errorf("index %q: %w", uid, ErrNotFound)
	}
	s.inflight.Add(1)
	h.ops.Add(1)
	return h, nil
}

func (s *Store) releaseHandle(h *handle) {
	h.ops.Done()
	s.inflight.Done()
}

func (s *Store) writable() error {
	if s.opts.ReadOnly {
		return fmt.Errorf("data dir %s: %w", s.dir, ErrReadOnly)
	}
	return nil
}

// database returns the index's database, opening it on first use.
func (s *Store) database(h *handle) (*pebble.DB, error) {
	h.openMu.Lock()
	defer h.openMu.Unlock()
	if h.db != nil {
		return h.db, nil
	}
	o := s.dbOptions()
	o.ErrorIfNotExists = true
	o.Logger = pebbleLogger{l: s.log, failed: h.dbFailed}
	db, err := pebble.Open(h.dir, o)
	if err != nil {
		return nil, fmt.Errorf("index %q: open database %s: %w", h.uid(), h.id, err)
	}
	h.db = db
	return db, nil
}

// dbOptions are the options of the store's databases: they write through
// the free-space guard.
func (s *Store) dbOptions() *pebble.Options {
	o := pebbleOptions(s.cache, s.log, s.opts.ReadOnly)
	o.FS = s.space.fs
	o.EventListener = s.space.eventListener()
	return o
}

// writableDB returns the index's database for a write: ErrReadOnly, or
// ErrFailed if a fatal error of pebble stopped it (see catchFatal).
func (s *Store) writableDB(h *handle) (*pebble.DB, error) {
	if err := s.writable(); err != nil {
		return nil, err
	}
	db, err := s.database(h)
	if err != nil {
		return nil, err
	}
	if failed := h.dbErr(); failed != nil {
		return nil, fmt.Errorf("index %q: its database failed earlier (%v) and refuses writes until idxfs restarts: %w", h.uid(), failed, ErrFailed)
	}
	return db, nil
}

// dbFailed records a fatal error of the index's database.
func (h *handle) dbFailed(err error) {
	h.failMu.Lock()
	defer h.failMu.Unlock()
	if h.failed == nil {
		h.failed = err
	}
}

// dbErr is the fatal error of the index's database, if any.
func (h *handle) dbErr() error {
	h.failMu.Lock()
	defer h.failMu.Unlock()
	return h.failed
}

// writableMeta is writable for the meta database: ErrFailed after a fatal
// error of pebble in it, and a check that a small write fits.
func (s *Store) writableMeta(what string) error {
	if err := s.writable(); err != nil {
		return err
	}
	s.mu.Lock()
	failed := s.metaFailed
	s.mu.Unlock()
	if failed != nil {
		return fmt.Errorf("%s: the meta database of %s failed earlier (%v) and refuses writes until idxfs restarts: %w", what, s.dir, failed, ErrFailed)
	}
	return s.space.small(what)
}

// metaDBFailed records a fatal error of the meta database.
func (s *Store) metaDBFailed(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.metaFailed == nil {
		s.metaFailed = err
	}
}

// close closes the index's database if it is open. A database that
// failed is left open: pebble's commit pipeline may hold its locks forever.
func (h *handle) close() error {
	h.openMu.Lock()
	defer h.openMu.Unlock()
	if h.db == nil || h.dbErr() != nil {
		return nil
	}
	err := h.db.Close()
	h.db = nil
	if err != nil {
		return fmt.Errorf("index %q: close database: %w", h.uid(), err)
	}
	return nil
}

var _ io.Closer = (*Store)(nil)

func isNotFound(err error) bool { return errors.Is(err, ErrNotFound) }
