package index

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"syscall"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
)

// pebbleFormat is the format major version every database this package opens
// is pinned to (older ones are ratcheted up to it on first open).
const pebbleFormat = pebble.FormatNewest

// MaxPebbleFormat is the newest pebble format major version this build can
// open; archives recording a newer one are refused.
func MaxPebbleFormat() uint64 { return uint64(pebble.FormatNewest) }

// Memory per Store: one block cache shared by every database, and small
// memtables, so that many open indexes stay cheap.
const (
	blockCacheSize  = 8 << 20
	memTableSize    = 4 << 20
	metaMemTable    = 1 << 20
	maxOpenFilesPer = 128
)

// pebbleOptions returns the options for an index (or the meta) database.
// cache may be nil (Inspect opens a lone database).
func pebbleOptions(cache *pebble.Cache, logger *slog.Logger, readOnly bool) *pebble.Options {
	o := &pebble.Options{
		Cache:              cache,
		CacheSize:          blockCacheSize,
		MemTableSize:       memTableSize,
		MaxOpenFiles:       maxOpenFilesPer,
		FormatMajorVersion: pebbleFormat,
		Logger:             pebbleLogger{l: logger},
		ReadOnly:           readOnly,
	}
	// Writes look every document up first (to keep the counter); a bloom
	// filter makes looking up a new id cheap.
	o.Levels[0].FilterPolicy = bloom.FilterPolicy(10)
	return o
}

// pebbleLogger sends pebble's logs to slog: informational ones at Debug, so
// that pebble never prints during normal operation.
type pebbleLogger struct {
	l *slog.Logger
	// failed, if set, is told of a fatal error of the database.
	failed func(error)
}

func (p pebbleLogger) Infof(format string, args ...any) {
	p.l.Debug(fmt.Sprintf(format, args...), "op", "pebble")
}

func (p pebbleLogger) Errorf(format string, args ...any) {
	p.l.Error(fmt.Sprintf(format, args...), "op", "pebble")
}

// Fatalf is called by pebble when a write it cannot undo failed (its WAL,
// its MANIFEST) or on an invariant violation; pebble expects it not to
// return. The database is marked failed (it refuses writes until the
// process restarts and reopens it; reads go on). A failed commit, which
// pebble reports in the committing goroutine and would otherwise report as
// a success if Fatalf returned, panics with a *fatalError that catchFatal,
// deferred around every commit of the store, turns back into the commit's
// error. Elsewhere (pebble's background goroutines, where a panic would end
// the process) Fatalf returns, and pebble returns the error from the job
// that failed; what is durable is the last MANIFEST written, which the
// reopen reads.
func (p pebbleLogger) Fatalf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	p.l.Log(context.Background(), slog.LevelError, msg, "op", "pebble")
	err := &fatalError{msg: msg}
	if p.failed != nil {
		p.failed(err)
	}
	if strings.HasPrefix(format, "pebble: fatal commit error") {
		panic(err)
	}
}

// fatalError is the panic of pebbleLogger.Fatalf.
type fatalError struct{ msg string }

func (e *fatalError) Error() string {
	if strings.HasPrefix(e.msg, "pebble: ") {
		return e.msg
	}
	return "pebble: " + e.msg
}

func (e *fatalError) Unwrap() []error {
	if strings.Contains(e.msg, syscall.ENOSPC.Error()) {
		return []error{ErrFailed, syscall.ENOSPC}
	}
	return []error{ErrFailed}
}

// catchFatal, deferred, turns the panic of a pebble Fatalf into *err and
// calls failed with it. Other panics go on.
func catchFatal(err *error, failed func(error)) {
	r := recover()
	if r == nil {
		return
	}
	fe, ok := r.(*fatalError)
	if !ok {
		panic(r)
	}
	*err = fe
	failed(fe)
}
