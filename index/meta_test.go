package index

import (
	"errors"
	"fmt"
	"slices"
	"testing"
)

func TestMeta(t *testing.T) {
	t.Parallel()
	s := openStore(t, "")
	mustCreate(t, s, "movies", "")
	m := s.Meta("tasks")
	if _, ok, err := m.Get([]byte("a")); ok || err != nil {
		t.Fatalf("Get of a missing key: %v %v", ok, err)
	}
	if err := m.Set([]byte("a"), []byte("1")); err != nil {
		t.Fatal(err)
	}
	if err := m.Apply(map[string][]byte{"b/1": []byte("2"), "b/2": []byte("3"), "a": nil, "c": {}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Meta("other").Set([]byte("b/9"), []byte("x")); err != nil {
		t.Fatal(err)
	}
	scan := func(prefix string) []string {
		var got []string
		if err := m.Scan([]byte(prefix), func(k, v []byte) error {
			got = append(got, fmt.Sprintf("%s=%s", k, v))
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return got
	}
	if got := scan(""); !slices.Equal(got, []string{"b/1=2", "b/2=3", "c="}) {
		t.Errorf("Scan all = %v", got)
	}
	if got := scan("b/"); !slices.Equal(got, []string{"b/1=2", "b/2=3"}) {
		t.Errorf("Scan b/ = %v", got)
	}
	stop := errors.New("stop")
	n := 0
	if err := m.Scan(nil, func(k, v []byte) error { n++; return stop }); err != stop || n != 1 {
		t.Errorf("Scan stop: %v after %d", err, n)
	}
	// The index map is not reachable, nor are bad namespaces.
	for _, ns := range []string{"index", "", "a/b"} {
		if err := s.Meta(ns).Set([]byte("movies"), []byte("x")); err == nil {
			t.Errorf("Meta(%q) accepted a write", ns)
		}
	}
	if !s.Exists("movies") {
		t.Fatal("index map damaged")
	}
	s.Close()
	if _, _, err := m.Get([]byte("b/1")); !errors.Is(err, ErrClosed) {
		t.Errorf("Get after Close: %v", err)
	}
}

func TestPrefixEnd(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"a", "b"}, {"index/", "index0"}, {"a\xff", "b"}, {"\xff\xff", ""}, {"", ""},
	} {
		if got := string(prefixEnd([]byte(tc.in))); got != tc.want {
			t.Errorf("prefixEnd(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
