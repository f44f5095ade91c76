package index

import (
	"context"
	"fmt"
)

// Rename, Swap and Replace change which database a name stands for. Each is
// one synced write of the index map (with the Writes in with): a crash
// leaves the old mapping or the new one, never a mix, and there is no moment
// when a name the change keeps is missing. A database never moves on disk
// (indexes/<id> is named by its id), so an operation in flight on an index
// goes on with the database it started with: a reader keeps reading one
// consistent database across the change.

// Rename renames index from to to. ErrInvalidUID, ErrNotFound (from),
// ErrExists (to). Renaming an index to its own name changes nothing (but
// commits with). Once the map is written Rename returns no error.
func (s *Store) Rename(ctx context.Context, from, to string, with ...Writes) error {
	return s.remap(ctx, from, to, false, with)
}

// Swap exchanges the databases of indexes a and b: a then holds what b
// held and b what a held. ErrInvalidUID, ErrNotFound. Swapping an index
// with itself changes nothing (but commits with).
func (s *Store) Swap(ctx context.Context, a, b string, with ...Writes) error {
	return s.remap(ctx, a, b, true, with)
}

// remap is Rename (swap false) and Swap.
func (s *Store) remap(ctx context.Context, a, b string, swap bool, with []Writes) error {
	done, err := s.beginMapChange(ctx, a, b)
	if err != nil {
		return err
	}
	defer done()
	s.mu.Lock()
	ha, hb := s.indexes[a], s.indexes[b]
	s.mu.Unlock()
	what := fmt.Sprintf("rename index %q to %q", a, b)
	if swap {
		what = fmt.Sprintf("swap indexes %q and %q", a, b)
	}
	switch {
	case ha == nil:
		return fmt.Errorf("%s: index %q: %w", what, a, ErrNotFound)
	case swap && hb == nil:
		return fmt.Errorf("%s: index %q: %w", what, b, ErrNotFound)
	case !swap && hb != nil && a != b:
		return fmt.Errorf("%s: index %q: %w", what, b, ErrExists)
	}
	ea := mapEntry{ID: ha.id, CreatedAt: ha.createdAt}
	changes := map[string]*mapEntry{b: &ea}
	if a != b {
		changes[a] = nil
		if swap {
			changes[a] = &mapEntry{ID: hb.id, CreatedAt: hb.createdAt}
		}
	}
	if err := s.commitMapChanges(what, changes, with); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if a == b {
		return nil
	}
	s.mu.Lock()
	delete(s.indexes, a)
	if swap {
		s.indexes[a] = hb
		hb.setUID(a)
	}
	s.indexes[b] = ha
	ha.setUID(b)
	s.mu.Unlock()
	s.log.Info("index map changed", "op", map[bool]string{false: "rename", true: "swap"}[swap], "index", a, "to", b)
	return nil
}

// Replace registers the database in dir as index uid, like Adopt, but if
// an index of that name exists it is replaced: the same map write that
// registers the new database unregisters the old one, so that readers of
// uid find the old index until that write and the new one after it, never
// none. The old database is then closed, once the operations in flight on
// it are done, and removed (a crash in between leaves an orphan directory,
// which the next Open removes). It returns whether an index was replaced.
// ErrInvalidUID; on error dir is left where it was, for the caller to
// remove; once the map is written Replace returns no error.
func (s *Store) Replace(ctx context.Context, uid, dir string, with ...Writes) (Info, bool, error) {
	if err := s.begin(); err != nil { // Close waits for the old database's removal
		return Info{}, false, err
	}
	defer s.end()
	info, old, err := s.adopt(ctx, uid, dir, true, with)
	if err != nil || old == nil {
		return info, false, err
	}
	if hook := s.hooks.afterMapReplace; hook != nil {
		if err := hook(); err != nil {
			// As a crash would: the old database stays on disk.
			old.ops.Wait()
			old.close()
			return info, true, err
		}
	}
	s.retire(old, uid)
	return info, true, nil
}
