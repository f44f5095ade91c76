package index

import (
	"context"
	"errors"
	"strings"
	"testing"
)

func TestSetPrimaryKey(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openStore(t, "")
	mustCreate(t, s, "empty", "")
	before := mustGet(t, s, "empty")
	if err := s.SetPrimaryKey(ctx, "empty", "sku"); err != nil {
		t.Fatalf("SetPrimaryKey on a keyless empty index: %v", err)
	}
	after := mustGet(t, s, "empty")
	if after.PrimaryKey != "sku" {
		t.Errorf("primary key = %q, want sku", after.PrimaryKey)
	}
	if after.Version != before.Version+1 {
		t.Errorf("version %d -> %d, want one bump", before.Version, after.Version)
	}
	// The same key again: nothing changes.
	if err := s.SetPrimaryKey(ctx, "empty", "sku"); err != nil {
		t.Errorf("SetPrimaryKey with the same key: %v", err)
	}
	if v := mustGet(t, s, "empty").Version; v != after.Version {
		t.Errorf("the same key bumped the version to %d", v)
	}
	// Documents are then keyed by it.
	if res := add(t, s, "empty", `{"sku":"a1","id":9}`+"\n"); res.PrimaryKey != "sku" {
		t.Errorf("write after SetPrimaryKey used key %q", res.PrimaryKey)
	}

	mustCreate(t, s, "keyed", "id")
	mustCreate(t, s, "full", "")
	add(t, s, "full", `{"id":1}`+"\n")
	full := mustGet(t, s, "full") // the write inferred "id"
	mustCreate(t, s, "fresh", "")
	for _, tc := range []struct {
		uid, key string
		err      error
	}{
		{"keyed", "sku", ErrPrimaryKey},
		{"full", "sku", ErrPrimaryKey},
		{"fresh", "", ErrPrimaryKey},
		{"fresh", strings.Repeat("k", 513), ErrPrimaryKey},
		{"fresh", "bad\xff", ErrPrimaryKey},
		{"missing", "sku", ErrNotFound},
	} {
		if err := s.SetPrimaryKey(ctx, tc.uid, tc.key); !errors.Is(err, tc.err) {
			t.Errorf("SetPrimaryKey(%q, %q) = %v, want %v", tc.uid, clip(tc.key), err, tc.err)
		}
	}
	if got := mustGet(t, s, "keyed").PrimaryKey; got != "id" {
		t.Errorf("a refused SetPrimaryKey changed the key to %q", got)
	}
	if got := mustGet(t, s, "full"); got.PrimaryKey != full.PrimaryKey || got.Version != full.Version {
		t.Errorf("a refused SetPrimaryKey changed %+v to %+v", full, got)
	}
	if got := mustGet(t, s, "fresh").PrimaryKey; got != "" {
		t.Errorf("a bad key was set: %q", got)
	}
}
