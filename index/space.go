package index

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// A full disk must never take the process down, but pebble cannot survive
// a failed write of its WAL or MANIFEST (it panics or calls Fatalf). So the
// store keeps pebble from meeting ENOSPC (issue 7):
//
//   - Large writes check the free space first (Store.Reserve, pass 2 of a
//     document write, meta writes): a write that does not fit fails with an
//     error wrapping syscall.ENOSPC, before pebble writes anything.
//   - For what a check cannot foresee (another process filling the disk
//     meanwhile, pebble's background flushes), DATA/ballast holds a few MiB.
//     Every database of the store writes through vfs.OnDiskFull: at the first
//     ENOSPC the ballast is removed and pebble's failed write is retried once,
//     in the room it left. The store is then "full": large writes are refused
//     until the free space is back, when the ballast is made again.
//   - pebble's background errors are logged at most once a minute per kind,
//     and a background ENOSPC is retried no faster than backgroundBackoff.
const (
	minBallast = 4 << 20
	maxBallast = 32 << 20
	// metaNeed is what a small write (a task record, an index map entry)
	// needs free: its bytes in the meta WAL, and the flush of the meta
	// memtable it may fill. (pebble preallocates a new WAL, but ignores a
	// failure to.)
	metaNeed = metaMemTable + metaMemTable/2
	// writeOverhead is added to a document write's own need: the new WAL
	// of the index database (preallocated) and the flush of the memtable.
	writeOverhead = 2 * memTableSize
	// backgroundBackoff slows pebble's retries of a failed flush or
	// compaction on a full disk, which it otherwise repeats at once, forever.
	backgroundBackoff = 250 * time.Millisecond
	ballastFile       = "ballast"
)

// space is the free-space guard of a data dir (see above). It is safe for
// concurrent use.
type space struct {
	dir      string // the data dir
	ballast  string // DATA/ballast
	log      *slog.Logger
	readOnly bool
	fs       vfs.FS // what every database of the store writes through
	onError  func(error)

	mu       sync.Mutex
	size     int64 // the ballast's size
	full     bool  // the ballast is gone; large writes are refused until there is room
	reserved int64 // bytes promised to large writes in progress

	logMu  sync.Mutex
	logged map[string]time.Time // last log of a background error, by kind
	quiet  map[string]int       // background errors not logged since
}

func newSpace(dir string, log *slog.Logger, readOnly bool) *space {
	sp := &space{
		dir: dir, ballast: filepath.Join(dir, ballastFile), log: log, readOnly: readOnly,
		logged: map[string]time.Time{}, quiet: map[string]int{},
	}
	sp.fs = vfs.Default
	if !readOnly {
		sp.fs = vfs.OnDiskFull(vfs.Default, sp.onDiskFull)
	}
	return sp
}

// init sizes the ballast (1/50 of the filesystem, within 4 and 32 MiB) and
// makes it if it is missing and there is room; otherwise the store starts
// full.
func (sp *space) init() error {
	if sp.readOnly {
		return nil
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(sp.dir, &st); err != nil {
		return fmt.Errorf("data dir %s: statfs: %w", sp.dir, err)
	}
	sp.size = min(max(int64(st.Blocks)*st.Bsize/50, minBallast), maxBallast)
	sp.mu.Lock()
	defer sp.mu.Unlock()
	if fi, err := os.Lstat(sp.ballast); err == nil && fi.Mode().IsRegular() && fi.Size() >= sp.size {
		return nil
	}
	if err := sp.makeBallastLocked(); err != nil {
		sp.full = true
		sp.log.Warn("the data dir's disk is full: writes are refused until there is room",
			"path", sp.dir, "free", sp.freeBytes(), "err", err)
	}
	return nil
}

// makeBallastLocked (re)creates the ballast, if there is room for it and
// for a small write besides.
func (sp *space) makeBallastLocked() error {
	free := sp.freeBytes()
	if free < sp.size+metaNeed {
		return fmt.Errorf("%w: %s free, the reserve needs %s", syscall.ENOSPC, human(free), human(sp.size+metaNeed))
	}
	os.Remove(sp.ballast) // a short or stray one
	f, err := os.OpenFile(sp.ballast, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return err
	}
	err = syscall.Fallocate(int(f.Fd()), 0, 0, sp.size)
	if errors.Is(err, syscall.EOPNOTSUPP) {
		err = f.Truncate(0)
		zeros := make([]byte, 1<<20)
		for n := int64(0); err == nil && n < sp.size; n += int64(len(zeros)) {
			_, err = f.Write(zeros)
		}
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(sp.ballast)
		return fmt.Errorf("make %s: %w", sp.ballast, err)
	}
	return nil
}

// onDiskFull is vfs.OnDiskFull's callback: pebble's writes wait while it
// runs, so it only removes the ballast.
func (sp *space) onDiskFull() {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	if sp.full {
		return
	}
	sp.full = true
	err := os.Remove(sp.ballast)
	sp.log.Warn("the data dir's disk is full: released the reserve; writes are refused until there is room again",
		"path", sp.dir, "bytes", sp.size, "err", err)
}

// freeBytes is what an unprivileged writer may still write on the data
// dir's filesystem.
func (sp *space) freeBytes() int64 {
	var st syscall.Statfs_t
	if err := syscall.Statfs(sp.dir, &st); err != nil {
		return 0
	}
	return int64(st.Bavail) * st.Bsize
}

// recoverLocked leaves the full state if there is room again.
func (sp *space) recoverLocked() bool {
	if !sp.full {
		return true
	}
	if err := sp.makeBallastLocked(); err != nil {
		return false
	}
	sp.full = false
	sp.log.Info("the data dir's disk has room again: writes are accepted", "path", sp.dir, "free", sp.freeBytes())
	return true
}

// isFull reports whether the disk filled up (the ballast is gone) and has
// not had room again since.
func (sp *space) isFull() bool {
	if sp == nil || sp.readOnly {
		return false
	}
	sp.mu.Lock()
	defer sp.mu.Unlock()
	return sp.full
}

// reserve checks that need bytes fit (besides what other writes in
// progress reserved) and reserves them until release is called. what names
// the write in the error, which wraps syscall.ENOSPC.
func (sp *space) reserve(what string, need int64) (release func(), err error) {
	if sp == nil || sp.readOnly {
		return func() {}, nil
	}
	sp.mu.Lock()
	defer sp.mu.Unlock()
	if !sp.recoverLocked() {
		return nil, fmt.Errorf("%s: %w: the disk of %s filled up; %s free, writes resume when %s are",
			what, syscall.ENOSPC, sp.dir, human(sp.freeBytes()), human(sp.size+metaNeed+need))
	}
	if free := sp.freeBytes() - sp.reserved; free < need {
		return nil, fmt.Errorf("%s: %w: needs about %s, %s free on the disk of %s",
			what, syscall.ENOSPC, human(need), human(max(free, 0)), sp.dir)
	}
	sp.reserved += need
	var once sync.Once
	return func() {
		once.Do(func() {
			sp.mu.Lock()
			sp.reserved -= need
			sp.mu.Unlock()
		})
	}, nil
}

// check is reserve for a write whose need is not held afterwards (pebble's
// own writes are then in its WAL, and others' checks see them).
func (sp *space) check(what string, need int64) error {
	release, err := sp.reserve(what, need)
	if err == nil {
		release()
	}
	return err
}

// small checks room for a small write (a task record, a map entry). It is
// allowed while the store is full, as long as the free space covers it, so
// that a task that failed for lack of space can still be recorded.
func (sp *space) small(what string) error {
	if sp == nil || sp.readOnly {
		return nil
	}
	sp.mu.Lock()
	defer sp.mu.Unlock()
	sp.recoverLocked()
	if free := sp.freeBytes() - sp.reserved; free < metaNeed {
		return fmt.Errorf("%s: %w: %s free on the disk of %s", what, syscall.ENOSPC, human(max(free, 0)), sp.dir)
	}
	return nil
}

// eventListener reports pebble's background errors through the store's log.
func (sp *space) eventListener() *pebble.EventListener {
	return &pebble.EventListener{BackgroundError: sp.backgroundError}
}

// backgroundError is called by pebble (sometimes holding a database's
// mutex) when a flush or compaction fails; pebble retries it.
func (sp *space) backgroundError(err error) {
	if sp.onError != nil {
		sp.onError(err)
	}
	kind := "background error"
	if isNoSpace(err) {
		kind = "background error: disk full"
		sp.mu.Lock()
		sp.full = true
		sp.mu.Unlock()
		defer time.Sleep(backgroundBackoff)
	}
	sp.logMu.Lock()
	defer sp.logMu.Unlock()
	if t, ok := sp.logged[kind]; ok && time.Since(t) < time.Minute {
		sp.quiet[kind]++
		return
	}
	sp.logged[kind] = time.Now()
	sp.log.Error("pebble "+kind+"; retrying", "op", "pebble", "path", sp.dir, "err", err, "suppressed", sp.quiet[kind])
	sp.quiet[kind] = 0
}

// isNoSpace reports whether err is a full disk (or quota).
func isNoSpace(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) ||
		strings.Contains(err.Error(), syscall.ENOSPC.Error())
}

// size formats a byte count for messages.
func human(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}
