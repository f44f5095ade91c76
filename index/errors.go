package index

import (
	"errors"
	"fmt"
)

// Sentinel errors. Every error the Store returns that a caller may act on
// wraps one of these; test with errors.Is.
var (
	ErrNotFound          = errors.New("index: index not found")
	ErrExists            = errors.New("index: index already exists")
	ErrInvalidUID        = errors.New("index: invalid index uid")
	ErrInvalidDocument   = errors.New("index: invalid document")
	ErrMalformedPayload  = errors.New("index: malformed payload")
	ErrMissingPrimaryKey = errors.New("index: missing primary key")
	ErrInvalidDocumentID = errors.New("index: invalid document id")
	ErrDocumentNotFound  = errors.New("index: document not found")
	ErrPrimaryKey        = errors.New("index: primary key cannot be inferred or changed")
	ErrLocked            = errors.New("index: data dir is in use")
	ErrDataDirVersion    = errors.New("index: unsupported data dir version")
	ErrClosed            = errors.New("index: store is closed")
	ErrCorrupt           = errors.New("index: corrupt index")
	ErrReadOnly          = errors.New("index: store is read-only")
	ErrUnsafeDataDir     = errors.New("index: unsafe data dir")
	// ErrFailed: a database failed a write it cannot undo (pebble's fatal
	// errors); it refuses writes until idxfs restarts and reopens it.
	ErrFailed = errors.New("index: database failed")
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
	Holder LockInfo // zero if LOCK did not say
}

func (e *LockedError) Error() string {
	if e.Holder.PID == 0 {
		return fmt.Sprintf("data dir %s is in use by another process", e.Dir)
	}
	s := fmt.Sprintf("data dir %s is in use by pid %d", e.Dir, e.Holder.PID)
	if e.Holder.Mountpoint != "" {
		s += fmt.Sprintf(" (mounted at %s)", e.Holder.Mountpoint)
	}
	return s
}

func (e *LockedError) Unwrap() error { return ErrLocked }
