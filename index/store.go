package index

// API CONTRACT (skeleton written by the lead; the bodies marked
// "not implemented" are to be filled in — keep the exported names and
// signatures, or say in the commit message why one had to change).

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"time"
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
)

// DataDirVersion is the data-dir format version this build writes and the
// newest it understands.
const DataDirVersion = 1

// Limits on names and ids (DESIGN §3, issue 2).
const (
	MaxUIDLength        = 400
	MaxDocumentIDLength = 511
)

// Options configure a Store. The zero value is valid.
type Options struct {
	// Logger receives the store's logs. Default: discard.
	Logger *slog.Logger
	// ReadOnly opens the data dir without creating its layout. Still takes
	// LOCK (a reader must not race a writer). Default: false.
	ReadOnly bool
}

// Store is an open data directory. It is safe for concurrent use.
type Store struct {
	// fields are the implementer's
}

// Open opens (creating on first use) the data directory dir: creates the
// layout of DESIGN §2 (LOCK, VERSION, meta/, indexes/, snapshots/indexes/,
// tmp/), refuses a VERSION newer than DataDirVersion (ErrDataDirVersion),
// takes an exclusive flock on LOCK and records this process's pid in it. A
// second Open of the same dir, from this or another process, fails at once
// with an error wrapping ErrLocked whose message names the holder (pid and,
// if recorded, mountpoint). Open empties tmp/ and removes index directories
// that no map entry names (left by a crash during create, import or delete).
func Open(dir string, opts Options) (*Store, error) {
	panic("not implemented")
}

// Close closes every index database and the meta database and releases LOCK.
// It is idempotent.
func (s *Store) Close() error { panic("not implemented") }

// Dir returns the data directory's absolute path.
func (s *Store) Dir() string { panic("not implemented") }

// TmpDir returns DATA/tmp, the staging area for snapshots and imports. Files
// there are removed at the next Open.
func (s *Store) TmpDir() string { panic("not implemented") }

// SnapshotsDir returns DATA/snapshots/indexes.
func (s *Store) SnapshotsDir() string { panic("not implemented") }

// SetMountpoint records (or with "" clears) the mountpoint in LOCK, so that
// a second process is told where the data dir is mounted.
func (s *Store) SetMountpoint(path string) error { panic("not implemented") }

// LockInfo is what LOCK records about its holder.
type LockInfo struct {
	PID        int       `json:"pid"`
	Mountpoint string    `json:"mountpoint,omitempty"`
	Since      time.Time `json:"since"`
}

// ReadLockInfo reads what DATA/LOCK records, without taking the lock.
func ReadLockInfo(dir string) (LockInfo, error) { panic("not implemented") }

// ValidateUID reports whether uid is a valid index name: 1–MaxUIDLength
// bytes of [A-Za-z0-9_-]. The error wraps ErrInvalidUID and says why.
func ValidateUID(uid string) error { panic("not implemented") }

// ValidateDocumentID checks a document id's canonical string form:
// 1–MaxDocumentIDLength bytes of [A-Za-z0-9_-]. The error wraps
// ErrInvalidDocumentID and says why.
func ValidateDocumentID(id string) error { panic("not implemented") }

// Info describes one index. Documents, Version and UpdatedAt are read from
// the index's own database, so they always agree with its contents.
type Info struct {
	UID        string    `json:"uid"`
	ID         string    `json:"id"` // database directory name under DATA/indexes; new for every create and import
	PrimaryKey string    `json:"primaryKey,omitempty"`
	Documents  uint64    `json:"numberOfDocuments"`
	SizeOnDisk int64     `json:"sizeOnDisk"`
	Version    uint64    `json:"version"`
	CreatedAt  time.Time `json:"createdAt"`
	UpdatedAt  time.Time `json:"updatedAt"`
}

// Create creates an empty index named uid, with primaryKey if not "". The
// database is built in tmp/ and renamed into indexes/<id> before the map
// entry is written (synced), so a crash leaves either no index or a whole
// one. ErrInvalidUID, ErrExists.
func (s *Store) Create(ctx context.Context, uid, primaryKey string) (Info, error) {
	panic("not implemented")
}

// Delete deletes index uid: the map entry goes first (synced), then the
// database is closed (waiting for operations in flight on it) and its
// directory removed. A crash in between leaves an orphan directory that the
// next Open removes. ErrNotFound.
func (s *Store) Delete(ctx context.Context, uid string) error { panic("not implemented") }

// List returns every index, sorted by uid.
func (s *Store) List(ctx context.Context) ([]Info, error) { panic("not implemented") }

// Get returns one index's Info. ErrNotFound.
func (s *Store) Get(ctx context.Context, uid string) (Info, error) { panic("not implemented") }

// Exists reports whether index uid exists.
func (s *Store) Exists(uid string) bool { panic("not implemented") }

// WriteOptions configure AddDocuments and ReplaceDocuments.
type WriteOptions struct {
	// PrimaryKey, if set and the index has none yet, becomes its primary
	// key. If the index already has a different one: ErrPrimaryKey.
	PrimaryKey string
	// Progress, if set, is called from time to time with the bytes of the
	// payload read so far in the current pass and the payload's size.
	// Pass 1 validates, pass 2 applies.
	Progress func(pass int, done, total int64)
}

// WriteResult says what a document write did.
type WriteResult struct {
	Received   uint64 `json:"receivedDocuments"` // documents in the payload
	Indexed    uint64 `json:"indexedDocuments"`  // distinct documents written (added or replaced)
	PrimaryKey string `json:"primaryKey"`
	Version    uint64 `json:"version"` // the index version after the write
}

// AddDocuments adds documents from payload, replacing those with the same
// primary key. The payload is NDJSON or a JSON array of objects (detected
// from its first non-space byte), streamed: it is read twice (pass 1
// validates everything and infers the primary key, pass 2 applies), never
// held in memory whole. A bad document fails the whole write with a
// *DocumentError naming its line (NDJSON) or position (array) and the reason;
// the index is then unchanged. ctx is honoured during pass 1 only: once pass
// 2 starts it runs to the end, so a write is never half-applied by
// cancellation. Pass 2 may commit in several batches for a large payload; the
// version, updatedAt and count advance in its last batch. Re-running the same
// write after a crash in pass 2 yields the same final state.
func (s *Store) AddDocuments(ctx context.Context, uid string, payload io.ReadSeeker, opts WriteOptions) (WriteResult, error) {
	panic("not implemented")
}

// ReplaceDocuments is AddDocuments after removing every document: when it
// succeeds the index holds exactly the payload's documents.
func (s *Store) ReplaceDocuments(ctx context.Context, uid string, payload io.ReadSeeker, opts WriteOptions) (WriteResult, error) {
	panic("not implemented")
}

// DeleteDocuments deletes the documents with the given ids (canonical string
// form) in one batch; ids not present are ignored. It returns how many were
// deleted and advances the version (even when none were).
func (s *Store) DeleteDocuments(ctx context.Context, uid string, ids []string) (deleted uint64, err error) {
	panic("not implemented")
}

// Document returns one document as stored (compact JSON).
// ErrNotFound, ErrDocumentNotFound, ErrInvalidDocumentID.
func (s *Store) Document(ctx context.Context, uid, id string) (json.RawMessage, error) {
	panic("not implemented")
}

// Export writes every document of index uid to w as NDJSON (one compact
// JSON object and "\n" per document) in primary-key order, from one
// consistent point in time. It returns the number of documents written.
func (s *Store) Export(ctx context.Context, uid string, w io.Writer) (int64, error) {
	panic("not implemented")
}

// Checkpoint is what a checkpoint holds.
type Checkpoint struct {
	Dir          string // the checkpoint directory (a pebble database)
	UID          string
	ID           string
	PrimaryKey   string
	Documents    uint64
	Version      uint64 // exactly the index version the checkpoint holds
	UpdatedAt    time.Time
	PebbleFormat uint64 // pebble format major version of the database
}

// Checkpoint writes a pebble checkpoint of index uid into dir (which must
// not exist). Writers are blocked only while the checkpoint is taken, so the
// returned Version is exactly the one it holds.
func (s *Store) Checkpoint(ctx context.Context, uid, dir string) (Checkpoint, error) {
	panic("not implemented")
}

// MaxPebbleFormat is the newest pebble format major version this build can
// open; archives recording a newer one are refused.
func MaxPebbleFormat() uint64 { panic("not implemented") }

// OpenedCheck is what Inspect finds in a database directory.
type OpenedCheck struct {
	PrimaryKey string
	Documents  uint64 // counted by iterating, not read from the counter
	Version    uint64
	UpdatedAt  time.Time
}

// Inspect opens the pebble database in dir (not registered, e.g. an
// extracted archive in tmp/), checks it (the document counter equals the
// number of documents found by iteration; every key is of a known kind) and
// closes it. ErrCorrupt says what is wrong.
func Inspect(ctx context.Context, dir string) (OpenedCheck, error) { panic("not implemented") }

// Adopt registers the pebble database in dir (typically in tmp/, already
// checked with Inspect) as index uid: it is renamed into indexes/<new id>,
// then the map entry is written (synced). ErrInvalidUID, ErrExists (checked
// again here, atomically with the registration). On error dir is left where
// it was, for the caller to remove.
func (s *Store) Adopt(ctx context.Context, uid, dir string) (Info, error) {
	panic("not implemented")
}

// Meta returns a key-value namespace in the meta database, for other
// packages' small records (the task queue). Names must not be "index".
func (s *Store) Meta(namespace string) *Meta { panic("not implemented") }

// Meta is a namespace of the meta database. Writes are synced.
type Meta struct {
	// fields are the implementer's
}

// Get returns the value of key, or ok=false.
func (m *Meta) Get(key []byte) (value []byte, ok bool, err error) { panic("not implemented") }

// Set writes key=value, synced.
func (m *Meta) Set(key, value []byte) error { panic("not implemented") }

// Apply writes sets and deletes in one synced batch (nil value: delete).
func (m *Meta) Apply(kvs map[string][]byte) error { panic("not implemented") }

// Scan calls fn for every key with the given prefix, in key order, until fn
// returns an error (returned) or the keys end.
func (m *Meta) Scan(prefix []byte, fn func(key, value []byte) error) error {
	panic("not implemented")
}

// DocumentError is a bad document in a payload.
type DocumentError struct {
	Position string // "line 57" (NDJSON) or "document 57 at byte 12345" (array)
	Reason   string
	Err      error // ErrInvalidDocument, ErrMalformedPayload, ErrMissingPrimaryKey, ErrInvalidDocumentID or ErrPrimaryKey
}

func (e *DocumentError) Error() string { return e.Position + ": " + e.Reason }
func (e *DocumentError) Unwrap() error { return e.Err }
