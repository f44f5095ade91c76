package index

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// The index map lives in the meta database under mapPrefix+uid.
const mapPrefix = "index/"

// mapEntry is the value of an index map entry.
type mapEntry struct {
	ID        string    `json:"id"`
	CreatedAt time.Time `json:"createdAt"` // when the entry was written (create or import)
}

func mapKey(uid string) []byte { return []byte(mapPrefix + uid) }

// loadMap reads the whole index map.
func (s *Store) loadMap() (map[string]mapEntry, error) {
	m := make(map[string]mapEntry)
	err := scanPrefix(s.meta, []byte(mapPrefix), func(key, value []byte) error {
		uid := string(key[len(mapPrefix):])
		var e mapEntry
		if err := json.Unmarshal(value, &e); err != nil || !validID(e.ID) {
			return fmt.Errorf("data dir %s: index map entry %q holds %q: %w", s.dir, uid, clip(string(value)), ErrCorrupt)
		}
		m[uid] = e
		return nil
	})
	return m, err
}

// metaWrite runs fn, which writes to the meta database, if the meta
// database may be written (writableMeta) and a pebble fatal error in fn
// becomes its error (catchFatal). what names the write in errors.
func (s *Store) metaWrite(what string, fn func(*pebble.DB) error) (err error) {
	if err := s.writableMeta(what); err != nil {
		return err
	}
	defer catchFatal(&err, s.metaDBFailed)
	return fn(s.meta)
}

// Meta returns a key-value namespace in the meta database, for other
// packages' small records (the task queue). Names must be non-empty, must
// not contain "/" and must not be "index"; the methods of a Meta with another
// name return an error.
func (s *Store) Meta(namespace string) *Meta {
	m := &Meta{s: s, prefix: namespace + "/"}
	switch {
	case namespace == "" || strings.Contains(namespace, "/"):
		m.err = fmt.Errorf("index: meta namespace %q: must be non-empty and must not contain \"/\"", namespace)
	case namespace+"/" == mapPrefix:
		m.err = fmt.Errorf("index: meta namespace %q is reserved for the index map", namespace)
	}
	return m
}

// Meta is a namespace of the meta database. Writes are synced. It is safe
// for concurrent use; after the Store is closed its methods return ErrClosed.
type Meta struct {
	s      *Store
	prefix string
	err    error // a bad namespace
}

func (m *Meta) key(k []byte) []byte { return append([]byte(m.prefix), k...) }

func (m *Meta) begin() error {
	if m.err != nil {
		return m.err
	}
	if err := m.s.begin(); err != nil {
		return err
	}
	return nil
}

// Get returns the value of key, or ok=false.
func (m *Meta) Get(key []byte) (value []byte, ok bool, err error) {
	if err := m.begin(); err != nil {
		return nil, false, err
	}
	defer m.s.end()
	v, closer, err := m.s.meta.Get(m.key(key))
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	defer closer.Close()
	return append([]byte(nil), v...), true, nil
}

// Set writes key=value, synced.
func (m *Meta) Set(key, value []byte) error {
	if err := m.begin(); err != nil {
		return err
	}
	defer m.s.end()
	return m.s.metaWrite("meta "+m.prefix+string(key), func(db *pebble.DB) error {
		return db.Set(m.key(key), value, pebble.Sync)
	})
}

// Apply writes sets and deletes in one synced batch (nil value: delete).
func (m *Meta) Apply(kvs map[string][]byte) error {
	if err := m.begin(); err != nil {
		return err
	}
	defer m.s.end()
	return m.s.metaWrite("meta "+m.prefix, func(db *pebble.DB) error {
		b := db.NewBatch()
		defer b.Close()
		if err := m.addTo(b, kvs); err != nil {
			return err
		}
		return b.Commit(pebble.Sync)
	})
}

// addTo adds sets and deletes of m's namespace to b (nil value: delete).
func (m *Meta) addTo(b *pebble.Batch, kvs map[string][]byte) error {
	for k, v := range kvs {
		var err error
		if v == nil {
			err = b.Delete(m.key([]byte(k)), nil)
		} else {
			err = b.Set(m.key([]byte(k)), v, nil)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// Writes are sets and deletes of one Meta namespace that a change of the
// index map (Create, Delete, Adopt) commits in its own synced batch: they
// reach the disk exactly when the change does, crash or not. The task
// engine records a task's success this way, so that no crash leaves an
// index created, imported or deleted by a task whose record says otherwise.
type Writes struct {
	m   *Meta
	kvs map[string][]byte
}

// Writes returns kvs (nil value: delete) as Writes of m's namespace.
func (m *Meta) Writes(kvs map[string][]byte) Writes { return Writes{m: m, kvs: kvs} }

// commitMap sets (e non-nil) or deletes the map entry of uid together with
// the writes in with, in one synced batch.
func (s *Store) commitMap(uid string, e *mapEntry, with []Writes) error {
	return s.commitMapChanges(fmt.Sprintf("index %q", uid), map[string]*mapEntry{uid: e}, with)
}

// commitMapChanges sets (non-nil) or deletes the map entries of changes
// together with the writes in with, in one synced batch: a rename or a swap
// is one change of the map, whole or not at all. what names the change in
// errors.
func (s *Store) commitMapChanges(what string, changes map[string]*mapEntry, with []Writes) error {
	if hook := s.hooks.beforeMapCommit; hook != nil {
		if err := hook(); err != nil {
			return err
		}
	}
	return s.metaWrite(what+": write index map", func(db *pebble.DB) error {
		return s.commitMapBatch(db, changes, with)
	})
}

// commitMapBatch is commitMapChanges's batch, written to db.
func (s *Store) commitMapBatch(db *pebble.DB, changes map[string]*mapEntry, with []Writes) error {
	b := db.NewBatch()
	defer b.Close()
	for uid, e := range changes {
		var err error
		if e == nil {
			err = b.Delete(mapKey(uid), nil)
		} else {
			var v []byte
			if v, err = json.Marshal(e); err == nil {
				err = b.Set(mapKey(uid), v, nil)
			}
		}
		if err != nil {
			return err
		}
	}
	for _, w := range with {
		switch {
		case w.m == nil:
			continue
		case w.m.err != nil:
			return w.m.err
		case w.m.s != s:
			return errors.New("index: Writes of another store's meta database")
		}
		if err := w.m.addTo(b, w.kvs); err != nil {
			return err
		}
	}
	return b.Commit(pebble.Sync)
}

// Scan calls fn for every key with the given prefix, in key order, until fn
// returns an error (returned) or the keys end. key and value are valid only
// during the call; key is without the namespace.
func (m *Meta) Scan(prefix []byte, fn func(key, value []byte) error) error {
	if err := m.begin(); err != nil {
		return err
	}
	defer m.s.end()
	n := len(m.prefix)
	return scanPrefix(m.s.meta, m.key(prefix), func(key, value []byte) error {
		return fn(key[n:], value)
	})
}

// scanPrefix calls fn for every key of r with prefix, in order.
func scanPrefix(r pebble.Reader, prefix []byte, fn func(key, value []byte) error) error {
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: prefixEnd(prefix)})
	if err != nil {
		return err
	}
	for it.First(); it.Valid(); it.Next() {
		v, err := it.ValueAndErr()
		if err != nil {
			it.Close()
			return err
		}
		if err := fn(it.Key(), v); err != nil {
			it.Close()
			return err
		}
	}
	return it.Close()
}

// prefixEnd returns the smallest key greater than every key with prefix, or
// nil if there is none.
func prefixEnd(prefix []byte) []byte {
	end := append([]byte(nil), prefix...)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}
