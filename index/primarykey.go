package index

import (
	"context"
	"fmt"
	"strings"
	"unicode/utf8"
)

// SetPrimaryKey sets the primary key of index uid, which has none and holds
// no documents; setting the key it already has does nothing. A different key
// already set, documents already held, or a key that is empty, not UTF-8 or
// longer than 512 bytes: ErrPrimaryKey. The key is written with the version
// bump in one batch, so a crash leaves the index with or without it.
func (s *Store) SetPrimaryKey(ctx context.Context, uid, key string) error {
	if key == "" || !utf8.ValidString(key) || len(key) > 512 || strings.ContainsRune(key, 0) {
		return fmt.Errorf("index %q: primary key %q: empty, not UTF-8, longer than 512 bytes or holding a NUL: %w", uid, clip(key), ErrPrimaryKey)
	}
	h, err := s.acquire(uid)
	if err != nil {
		return err
	}
	defer s.releaseHandle(h)
	if err := ctx.Err(); err != nil {
		return err
	}
	db, err := s.writableDB(h)
	if err != nil {
		return err
	}
	h.writeMu.Lock()
	defer h.writeMu.Unlock()
	st, err := readState(db)
	if err != nil {
		return fmt.Errorf("index %q: %w", uid, err)
	}
	switch {
	case st.primaryKey == key:
		return nil
	case st.primaryKey != "":
		return fmt.Errorf("index %q: primary key is %q, cannot set %q: %w", uid, st.primaryKey, key, ErrPrimaryKey)
	case st.count > 0:
		return fmt.Errorf("index %q: holds %d documents without a primary key, cannot set %q: %w", uid, st.count, key, ErrPrimaryKey)
	}
	if err := s.space.small(fmt.Sprintf("index %q: set primary key", uid)); err != nil {
		return err
	}
	b := db.NewBatch()
	defer b.Close()
	if err := b.Set(keyPrimaryKey, []byte(key), nil); err != nil {
		return err
	}
	if _, err := setCountAndVersion(b, st, st.count, true); err != nil {
		return err
	}
	if err := commitGuarded(b, h); err != nil {
		return fmt.Errorf("index %q: set primary key: %w", uid, err)
	}
	s.log.Info("primary key set", "index", uid, "primaryKey", key)
	return nil
}
