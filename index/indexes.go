package index

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// Info describes one index. Documents, Version, CreatedAt and UpdatedAt are
// read from the index's own database, so they always agree with its contents
// (and an imported index keeps the createdAt of its source).
type Info struct {
	UID        string    `json:"uid"`
	ID         string    `json:"id"` // database directory name under DATA/indexes; new for every create and import
	PrimaryKey string    `json:"primaryKey,omitempty"`
	Documents  uint64    `json:"numberOfDocuments"`
	SizeOnDisk int64     `json:"sizeOnDisk"`
	Version    uint64    `json:"version"`
	CreatedAt  time.Time `json:"createdAt"`
	UpdatedAt  time.Time `json:"updatedAt"`
	// Lineage identifies the index across Replace, for as long as the
	// store is open: the id of the database it was created or first
	// imported with. Rename and Swap carry it along with the database;
	// Replace passes it on to the database that takes the name. A deleted
	// and re-created index has another one.
	Lineage string `json:"-"`
}

// Create creates an empty index named uid, with primaryKey if not "". The
// database is built in tmp/ and renamed into indexes/<id> before the map
// entry is written (synced, with the Writes in with), so a crash leaves
// either no index or a whole one. A new index has version 1 and createdAt =
// updatedAt. Once the map entry is committed Create returns no error.
// ErrInvalidUID, ErrExists.
func (s *Store) Create(ctx context.Context, uid, primaryKey string, with ...Writes) (Info, error) {
	done, err := s.beginMapChange(ctx, uid)
	if err != nil {
		return Info{}, err
	}
	defer done()
	if s.Exists(uid) {
		return Info{}, fmt.Errorf("index %q: %w", uid, ErrExists)
	}

	id := newID()
	build := filepath.Join(s.TmpDir(), "create-"+id)
	if err := s.buildEmpty(build, primaryKey); err != nil {
		os.RemoveAll(build)
		return Info{}, fmt.Errorf("index %q: create database: %w", uid, err)
	}
	dir := s.indexDir(id)
	if err := renameDurable(build, dir); err != nil {
		os.RemoveAll(build)
		return Info{}, fmt.Errorf("index %q: %w", uid, err)
	}
	h, err := s.register(uid, id, nil, with)
	if err != nil {
		os.RemoveAll(dir)
		return Info{}, err
	}
	s.log.Info("index created", "index", uid, "id", id, "primaryKey", primaryKey)
	return s.registeredInfo(h, primaryKey), nil
}

// beginMapChange starts a change of the index map of the given names: it
// checks them, registers a call in progress, checks that the store may be
// written and ctx is not done, and takes createMu, so that "exists?" and
// the change are one step. done ends it.
func (s *Store) beginMapChange(ctx context.Context, uids ...string) (done func(), err error) {
	for _, uid := range uids {
		if err := ValidateUID(uid); err != nil {
			return nil, err
		}
	}
	if err := s.begin(); err != nil {
		return nil, err
	}
	if err := s.writable(); err != nil {
		s.end()
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		s.end()
		return nil, err
	}
	s.createMu.Lock()
	return func() { s.createMu.Unlock(); s.end() }, nil
}

// registeredInfo returns the Info of an index just registered. The index
// exists whatever happens now, so a failure to read its database is logged,
// not returned: the caller's record of the change must not say it failed.
func (s *Store) registeredInfo(h *handle, primaryKey string) Info {
	info, err := s.info(h)
	if err != nil {
		s.log.Warn("reading a new index failed", "index", h.uid(), "id", h.id, "err", err)
		return Info{UID: h.uid(), ID: h.id, PrimaryKey: primaryKey, CreatedAt: h.createdAt, UpdatedAt: h.createdAt}
	}
	return info
}

// buildEmpty creates an empty index database in dir.
func (s *Store) buildEmpty(dir, primaryKey string) (err error) {
	if err := s.space.check("create database", writeOverhead); err != nil {
		return err
	}
	o := s.dbOptions()
	o.ErrorIfExists = true
	db, err := pebble.Open(dir, o)
	if err != nil {
		return err
	}
	t := encodeTime(now())
	b := db.NewBatch()
	if primaryKey != "" {
		b.Set(keyPrimaryKey, []byte(primaryKey), nil)
	}
	b.Set(keyVersion, encodeUint(1), nil)
	b.Set(keyCount, encodeUint(0), nil)
	b.Set(keyCreatedAt, t, nil)
	b.Set(keyUpdatedAt, t, nil)
	err = b.Commit(pebble.Sync)
	b.Close()
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	return err
}

// register writes the map entry (synced, with the Writes in with) for a
// database already in indexes/<id> and adds it to the store, in place of
// old if it is not nil (which passes its lineage on). The caller holds
// createMu.
func (s *Store) register(uid, id string, old *handle, with []Writes) (*handle, error) {
	e := mapEntry{ID: id, CreatedAt: now()}
	if err := s.commitMap(uid, &e, with); err != nil {
		return nil, fmt.Errorf("index %q: write index map: %w", uid, err)
	}
	h := newHandle(uid, id, s.indexDir(id), e.CreatedAt)
	if old != nil {
		h.lineage = old.lineage
	}
	s.mu.Lock()
	s.indexes[uid] = h
	s.mu.Unlock()
	return h, nil
}

// Delete deletes index uid: the map entry goes first (synced, with the
// Writes in with), then the database is closed (waiting for operations in
// flight on it) and its directory removed. A crash in between leaves an
// orphan directory that the next Open removes. Once the map entry is gone
// Delete no longer heeds ctx and returns no error. ErrNotFound.
func (s *Store) Delete(ctx context.Context, uid string, with ...Writes) error {
	done, err := s.beginMapChange(ctx, uid)
	if err != nil {
		return err
	}
	defer done()
	s.mu.Lock()
	h := s.indexes[uid]
	s.mu.Unlock()
	if h == nil {
		return fmt.Errorf("index %q: %w", uid, ErrNotFound)
	}
	if err := s.commitMap(uid, nil, with); err != nil {
		return fmt.Errorf("index %q: write index map: %w", uid, err)
	}
	s.mu.Lock()
	delete(s.indexes, uid)
	s.mu.Unlock()
	if hook := s.hooks.afterMapDelete; hook != nil {
		if err := hook(); err != nil {
			h.ops.Wait()
			h.close()
			return err
		}
	}
	s.retire(h, uid)
	s.log.Info("index deleted", "index", uid, "id", h.id)
	return nil
}

// retire closes the database of h, which no map entry names any more
// (deleted, or replaced under uid), once the operations in flight on it
// are done, and removes its directory. A failure is logged: the index is
// gone from the map, and the next Open removes an orphan directory.
func (s *Store) retire(h *handle, uid string) {
	// No new operation finds h; wait for those in flight.
	h.ops.Wait()
	if err := h.close(); err != nil {
		s.log.Warn("closing a retired index database failed", "index", uid, "err", err)
	}
	trash := filepath.Join(s.TmpDir(), "delete-"+h.id)
	if err := renameDurable(h.dir, trash); err != nil {
		s.log.Warn("removing a retired index database's files failed", "index", uid, "path", h.dir, "err", err)
		return
	}
	if err := os.RemoveAll(trash); err != nil {
		s.log.Warn("removing a retired index database's files failed", "index", uid, "path", trash, "err", err)
	}
}

// List returns every index, sorted by uid.
func (s *Store) List(ctx context.Context) ([]Info, error) {
	if err := s.begin(); err != nil {
		return nil, err
	}
	defer s.end()
	s.mu.Lock()
	uids := make([]string, 0, len(s.indexes))
	for uid := range s.indexes {
		uids = append(uids, uid)
	}
	s.mu.Unlock()
	sort.Strings(uids)
	infos := make([]Info, 0, len(uids))
	for _, uid := range uids {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		info, err := s.Get(ctx, uid)
		if isNotFound(err) {
			continue // deleted meanwhile
		}
		if err != nil {
			return nil, err
		}
		infos = append(infos, info)
	}
	return infos, nil
}

// Get returns one index's Info. ErrNotFound.
func (s *Store) Get(ctx context.Context, uid string) (Info, error) {
	h, err := s.acquire(uid)
	if err != nil {
		return Info{}, err
	}
	defer s.releaseHandle(h)
	return s.info(h)
}

// NameOf returns the name of the index of the given lineage (Info.Lineage),
// if it exists.
func (s *Store) NameOf(lineage string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for uid, h := range s.indexes {
		if h.lineage == lineage {
			return uid, true
		}
	}
	return "", false
}

// Exists reports whether index uid exists.
func (s *Store) Exists(uid string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.indexes[uid] != nil
}

// info reads h's Info from its database.
func (s *Store) info(h *handle) (Info, error) {
	db, err := s.database(h)
	if err != nil {
		return Info{}, err
	}
	st, err := readState(db)
	if err != nil {
		return Info{}, fmt.Errorf("index %q: %w", h.uid(), err)
	}
	// What du reports (issue 9): pebble's own account disagreed with it.
	size, err := diskUsage(h.dir)
	if err != nil {
		return Info{}, fmt.Errorf("index %q: size on disk: %w", h.uid(), err)
	}
	return Info{
		UID:        h.uid(),
		ID:         h.id,
		Lineage:    h.lineage,
		PrimaryKey: st.primaryKey,
		Documents:  st.count,
		SizeOnDisk: size,
		Version:    st.version,
		CreatedAt:  st.createdAt,
		UpdatedAt:  st.updatedAt,
	}, nil
}
