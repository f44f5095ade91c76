package index

import (
	"errors"
	"fmt"
	"time"
)

// Sentinel errors. Every error the Store returns that a caller may act on
// wraps one of these; test with errors.Is. Their texts read after what
// they are about (`index "movies": not found`) and carry no package
// prefix: they end up in messages people read (issue 9).
var (
	ErrNotFound          = errors.New("not found")
	ErrExists            = errors.New("already exists")
	ErrInvalidUID        = errors.New("invalid index name")
	ErrInvalidDocument   = errors.New("invalid document")
	ErrMalformedPayload  = errors.New("malformed payload")
	ErrMissingPrimaryKey = errors.New("missing primary key")
	ErrInvalidDocumentID = errors.New("invalid document id")
	ErrDocumentNotFound  = errors.New("not found")
	ErrPrimaryKey        = errors.New("primary key cannot be inferred or changed")
	ErrLocked            = errors.New("data dir is in use")
	ErrDataDirVersion    = errors.New("unsupported data dir version")
	ErrClosed            = errors.New("data dir is closed")
	ErrCorrupt           = errors.New("corrupt index")
	ErrReadOnly          = errors.New("data dir is open read-only")
	ErrUnsafeDataDir     = errors.New("unsafe data dir")
	// ErrFailed: a database failed a write it cannot undo (pebble's fatal
	// errors); it refuses writes until idxfs restarts and reopens it.
	ErrFailed = errors.New("database failed")
)

// DocumentError is a bad document in a payload.
type DocumentError struct {
	Position string // "line 57" (NDJSON) or "document 57 at byte 12345" (array)
	Reason   string
	Err      error // ErrInvalidDocument, ErrMalformedPayload, ErrMissingPrimaryKey, ErrInvalidDocumentID or ErrPrimaryKey
}

func (e *DocumentError) Error() string { return e.Position + ": " + e.Reason }
func (e *DocumentError) Unwrap() error { return e.Err }

// LockedError is returned by Open when another Store (in this or another
// process) holds the data dir. It wraps ErrLocked.
type LockedError struct {
	Dir    string
	Holder LockInfo      // zero if LOCK did not say
	Waited time.Duration // how long Open waited for it (Options.LockWait)
}

func (e *LockedError) Error() string {
	s := fmt.Sprintf("data dir %s is in use by another process", e.Dir)
	if e.Holder.PID != 0 {
		s = fmt.Sprintf("data dir %s is in use by pid %d", e.Dir, e.Holder.PID)
	}
	if e.Holder.Mountpoint != "" {
		s += fmt.Sprintf(" (mounted at %s)", e.Holder.Mountpoint)
	}
	if e.Holder.Command != "" {
		s += fmt.Sprintf(", running: %s", e.Holder.Command)
	}
	if e.Waited > 0 {
		s += fmt.Sprintf("; waited %v for it", e.Waited)
	}
	return s
}

func (e *LockedError) Unwrap() error { return ErrLocked }

// nameError is an invalid index name or document id: what and why, then
// nothing more (the sentinel it wraps is its first words).
type nameError struct {
	name, reason string
	err          error
}

func (e *nameError) Error() string {
	return fmt.Sprintf("%s %q: %s", e.err, e.name, e.reason)
}

func (e *nameError) Unwrap() error { return e.err }
