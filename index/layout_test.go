package index

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestWriteFileAtomic(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := filepath.Join(dir, "VERSION")
	for _, content := range []string{"1\n", "2\n"} {
		if err := writeFileAtomic(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if got, _ := os.ReadFile(p); string(got) != content {
			t.Errorf("content %q, want %q", got, content)
		}
	}
	if names := dirNames(t, dir); !slices.Equal(names, []string{"VERSION"}) {
		t.Errorf("temporary files left: %v", names)
	}
	if err := writeFileAtomic(filepath.Join(dir, "missing", "x"), nil, 0o644); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("into a missing dir: %v", err)
	}
}

func TestIDs(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for range 100 {
		id := newID()
		if !validID(id) || seen[id] {
			t.Fatalf("newID = %q (seen before: %v)", id, seen[id])
		}
		seen[id] = true
	}
	for _, bad := range []string{"", "0123456789ABCDEF", "0123456789abcde", "0123456789abcdefa", "0123456789abcdeg", "../../../../etc/"} {
		if validID(bad) {
			t.Errorf("validID(%q)", bad)
		}
	}
}

func TestDirSize(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "a", "b"), 0o755)
	os.WriteFile(filepath.Join(dir, "x"), make([]byte, 100), 0o644)
	os.WriteFile(filepath.Join(dir, "a", "b", "y"), make([]byte, 23), 0o644)
	if n, err := dirSize(dir); n != 123 || err != nil {
		t.Errorf("dirSize = %d, %v", n, err)
	}
}

func TestLockedErrorMessage(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		holder LockInfo
		want   string
	}{
		{LockInfo{PID: 1234, Mountpoint: "/mnt/idx"}, "data dir /x is in use by pid 1234 (mounted at /mnt/idx)"},
		{LockInfo{PID: 1234}, "data dir /x is in use by pid 1234"},
		{LockInfo{}, "data dir /x is in use by another process"},
	} {
		err := error(&LockedError{Dir: "/x", Holder: tc.holder})
		if err.Error() != tc.want || !errors.Is(err, ErrLocked) {
			t.Errorf("%+v: %q", tc.holder, err)
		}
	}
}
