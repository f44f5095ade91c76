package index

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// Checkpoint is what a checkpoint holds.
type Checkpoint struct {
	Dir          string // the checkpoint directory (a pebble database)
	UID          string
	ID           string
	PrimaryKey   string
	Documents    uint64
	Version      uint64 // exactly the index version the checkpoint holds
	CreatedAt    time.Time
	UpdatedAt    time.Time
	PebbleFormat uint64 // pebble format major version of the database
}

// Checkpoint writes a pebble checkpoint of index uid into dir (which must
// not exist; its parent must). Writers are blocked only while the checkpoint
// is taken, so the returned Version is exactly the one it holds.
func (s *Store) Checkpoint(ctx context.Context, uid, dir string) (Checkpoint, error) {
	h, err := s.acquire(uid)
	if err != nil {
		return Checkpoint{}, err
	}
	defer s.releaseHandle(h)
	if err := ctx.Err(); err != nil {
		return Checkpoint{}, err
	}
	db, err := s.database(h)
	if err != nil {
		return Checkpoint{}, err
	}
	h.writeMu.Lock()
	defer h.writeMu.Unlock()
	st, err := readState(db)
	if err != nil {
		return Checkpoint{}, fmt.Errorf("index %q: %w", uid, err)
	}
	// The checkpoint copies the WAL (the memtable's documents are in it)
	// and links the sstables. The memtable is deliberately not flushed
	// first (docs/DESIGN-NOTES.md, "Incremental snapshots").
	if err := s.space.check(fmt.Sprintf("index %q: checkpoint", uid), writeOverhead); err != nil {
		return Checkpoint{}, err
	}
	if err := checkpointGuarded(db, h, dir); err != nil {
		return Checkpoint{}, fmt.Errorf("index %q: checkpoint into %s: %w", uid, dir, err)
	}
	return Checkpoint{
		Dir:          dir,
		UID:          uid,
		ID:           h.id,
		PrimaryKey:   st.primaryKey,
		Documents:    st.count,
		Version:      st.version,
		CreatedAt:    st.createdAt,
		UpdatedAt:    st.updatedAt,
		PebbleFormat: uint64(db.FormatMajorVersion()),
	}, nil
}

// checkpointGuarded is db.Checkpoint, whose flush may meet a fatal error
// of pebble (see catchFatal).
func checkpointGuarded(db *pebble.DB, h *handle, dir string) (err error) {
	defer catchFatal(&err, h.dbFailed)
	return db.Checkpoint(dir, pebble.WithFlushedWAL())
}

// OpenedCheck is what Inspect finds in a database directory.
type OpenedCheck struct {
	PrimaryKey   string
	Documents    uint64 // the counter; with Deep, also the number found by iteration
	Version      uint64
	CreatedAt    time.Time
	UpdatedAt    time.Time
	PebbleFormat uint64
}

// InspectOptions configure Inspect.
type InspectOptions struct {
	// Deep reads every key and document (seconds per GB) instead of only
	// opening the database and reading its metadata.
	Deep bool
}

// Inspect opens the pebble database in dir read-only (not registered, e.g.
// an extracted archive in tmp/), checks it and closes it: pebble opens it
// (its manifest and WAL are sound), its format is one this build reads, and
// the metadata keys are present and well formed. With Deep, also every key
// is of a known kind, every document is a JSON object whose primary key
// gives the id its key holds, and the document counter equals the number of
// documents found by iteration. ErrCorrupt says what is wrong. Pebble
// creates a LOCK file in dir.
func Inspect(ctx context.Context, dir string, opts InspectOptions) (OpenedCheck, error) {
	o := pebbleOptions(nil, slog.New(slog.DiscardHandler), true)
	o.ErrorIfNotExists = true
	db, err := pebble.Open(dir, o)
	if err != nil {
		return OpenedCheck{}, fmt.Errorf("inspect %s: open: %v: %w", dir, err, ErrCorrupt)
	}
	defer db.Close()
	fail := func(format string, args ...any) (OpenedCheck, error) {
		return OpenedCheck{}, fmt.Errorf("inspect %s: %s: %w", dir, fmt.Sprintf(format, args...), ErrCorrupt)
	}
	if f := uint64(db.FormatMajorVersion()); f > MaxPebbleFormat() {
		return fail("pebble format %d is newer than %d", f, MaxPebbleFormat())
	}
	st, err := readState(db)
	if err != nil {
		return fail("%v", err)
	}
	if st.version == 0 {
		return fail("version is 0")
	}
	if st.count > 0 && st.primaryKey == "" {
		return fail("%d documents but no primary key", st.count)
	}
	check := OpenedCheck{
		PrimaryKey:   st.primaryKey,
		Documents:    st.count,
		Version:      st.version,
		CreatedAt:    st.createdAt,
		UpdatedAt:    st.updatedAt,
		PebbleFormat: uint64(db.FormatMajorVersion()),
	}
	if !opts.Deep {
		return check, nil
	}
	it, err := db.NewIter(nil)
	if err != nil {
		return fail("%v", err)
	}
	defer it.Close()
	var docs uint64
	for it.First(); it.Valid(); it.Next() {
		key := it.Key()
		if key[0] != prefixDocument {
			if !isMetaKey(key) {
				return fail("unknown key %q", clip(string(key)))
			}
			continue
		}
		if docs%1000 == 0 {
			if err := ctx.Err(); err != nil {
				return OpenedCheck{}, err
			}
		}
		id, err := documentIDFromKey(key)
		if err != nil {
			return fail("%v", err)
		}
		if st.primaryKey == "" {
			return fail("document %q but no primary key", id)
		}
		v, err := it.ValueAndErr()
		if err != nil {
			return fail("document %q: %v", id, err)
		}
		doc, err := parseDocument(v, "document "+id)
		if err != nil {
			return fail("%v", err)
		}
		got, err := documentID(doc, st.primaryKey, "document "+id)
		if err != nil {
			return fail("%v", err)
		}
		if got != id {
			return fail("document stored under id %q has primary key %q", id, got)
		}
		docs++
	}
	if err := it.Error(); err != nil {
		return fail("%v", err)
	}
	if docs != st.count {
		return fail("the counter says %d documents, %d found", st.count, docs)
	}
	return check, nil
}

func isMetaKey(key []byte) bool {
	for _, k := range [][]byte{keyPrimaryKey, keyVersion, keyCreatedAt, keyUpdatedAt, keyCount} {
		if bytes.Equal(key, k) {
			return true
		}
	}
	return false
}

// Adopt registers the pebble database in dir (typically in tmp/, already
// checked with Inspect) as index uid: it is renamed into indexes/<new id>,
// then the map entry is written (synced, with the Writes in with).
// ErrInvalidUID, ErrExists (checked again here, atomically with the
// registration). On error dir is left where it was, for the caller to
// remove; once the map entry is committed Adopt returns no error. dir must
// be on the data dir's file system (rename).
func (s *Store) Adopt(ctx context.Context, uid, dir string, with ...Writes) (Info, error) {
	info, _, err := s.adopt(ctx, uid, dir, false, with)
	return info, err
}

// adopt is Adopt, and with replace Replace's registration: an index of
// that name is then replaced by the same map write, and returned (its
// handle out of the map, for the caller to retire), nil if there was none.
// The caller retires it after adopt returns, so that waiting for the
// operations in flight on it does not hold createMu.
func (s *Store) adopt(ctx context.Context, uid, dir string, replace bool, with []Writes) (Info, *handle, error) {
	if err := ValidateUID(uid); err != nil {
		return Info{}, nil, err
	}
	if err := s.begin(); err != nil {
		return Info{}, nil, err
	}
	defer s.end()
	if err := s.writable(); err != nil {
		return Info{}, nil, err
	}
	if err := ctx.Err(); err != nil {
		return Info{}, nil, err
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return Info{}, nil, fmt.Errorf("index %q: adopt: %w", uid, err)
	}
	if !fi.IsDir() {
		return Info{}, nil, fmt.Errorf("index %q: adopt %s: not a directory", uid, dir)
	}
	s.createMu.Lock()
	defer s.createMu.Unlock()
	s.mu.Lock()
	old := s.indexes[uid]
	s.mu.Unlock()
	if old != nil && !replace {
		return Info{}, nil, fmt.Errorf("index %q: %w", uid, ErrExists)
	}
	id := newID()
	target := s.indexDir(id)
	if err := renameDurable(dir, target); err != nil {
		return Info{}, nil, fmt.Errorf("index %q: adopt: %w", uid, err)
	}
	h, err := s.register(uid, id, old, with)
	if err != nil {
		if rerr := renameDurable(target, dir); rerr != nil {
			// Left in indexes/ without a map entry: the next Open removes it.
			s.log.Warn("moving an index directory back failed", "index", uid, "path", target, "err", rerr)
		}
		return Info{}, nil, err
	}
	info := s.registeredInfo(h, "")
	s.log.Info("index adopted", "index", uid, "id", id, "documents", info.Documents, "version", info.Version, "replaced", old != nil)
	return info, old, nil
}
