package index

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestOpenCreatesLayout(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	s := openStore(t, dir)
	for _, p := range []string{"LOCK", "VERSION", "meta", "indexes", "snapshots/indexes", "tmp"} {
		if _, err := os.Stat(filepath.Join(dir, p)); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
	if v, _ := os.ReadFile(filepath.Join(dir, "VERSION")); string(v) != "1\n" {
		t.Errorf("VERSION = %q", v)
	}
	if s.Dir() != dir || s.TmpDir() != filepath.Join(dir, "tmp") || s.SnapshotsDir() != filepath.Join(dir, "snapshots", "indexes") {
		t.Errorf("Dir %s TmpDir %s SnapshotsDir %s", s.Dir(), s.TmpDir(), s.SnapshotsDir())
	}
	info, err := ReadLockInfo(dir)
	if err != nil || info.PID != os.Getpid() || info.Since.IsZero() {
		t.Errorf("ReadLockInfo = %+v, %v", info, err)
	}
}

func TestReopenKeepsEverything(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "data")
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	mustCreate(t, s, "a", "")
	mustCreate(t, s, "b", "sku")
	add(t, s, "a", genNDJSON(1, 50, 300))
	if err := s.Meta("tasks").Set([]byte("k"), []byte("v")); err != nil {
		t.Fatal(err)
	}
	before, _ := s.List(ctx)
	exportA := export(t, s, "a")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := s.Get(ctx, "a"); !errors.Is(err, ErrClosed) {
		t.Fatalf("Get after Close: %v", err)
	}
	if info, _ := ReadLockInfo(dir); info.PID != 0 {
		t.Errorf("LOCK after Close records %+v", info)
	}

	s = openStore(t, dir)
	after, err := s.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != 2 || after[0].UID != "a" || after[1].UID != "b" {
		t.Fatalf("List after reopen = %+v", after)
	}
	for i := range after {
		b, a := before[i], after[i]
		b.SizeOnDisk, a.SizeOnDisk = 0, 0 // compactions may change it
		if !b.CreatedAt.Equal(a.CreatedAt) || !b.UpdatedAt.Equal(a.UpdatedAt) {
			t.Errorf("times changed: %+v -> %+v", b, a)
		}
		b.CreatedAt, b.UpdatedAt = a.CreatedAt, a.UpdatedAt
		if b != a {
			t.Errorf("Info changed: %+v -> %+v", b, a)
		}
	}
	if got := export(t, s, "a"); got != exportA {
		t.Error("export changed across reopen")
	}
	if v, ok, err := s.Meta("tasks").Get([]byte("k")); !ok || string(v) != "v" || err != nil {
		t.Errorf("meta after reopen: %q %v %v", v, ok, err)
	}
}

func TestOpenRefusesNewerVersion(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, version string
		ok            bool
	}{
		{"same", "1\n", true},
		{"newer", "2\n", false},
		{"garbage", "x\n", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join(t.TempDir(), "data")
			s := openStore(t, dir)
			s.Close()
			if err := os.WriteFile(filepath.Join(dir, "VERSION"), []byte(tc.version), 0o644); err != nil {
				t.Fatal(err)
			}
			s2, err := Open(dir, Options{})
			if tc.ok {
				if err != nil {
					t.Fatal(err)
				}
				s2.Close()
				return
			}
			if !errors.Is(err, ErrDataDirVersion) {
				t.Fatalf("Open = %v, want ErrDataDirVersion", err)
			}
			// The lock is released: a later Open (after fixing) works.
			os.WriteFile(filepath.Join(dir, "VERSION"), []byte("1\n"), 0o644)
			openStore(t, dir)
		})
	}
}

func TestOpenRefusesForeignDir(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("mine"), 0o644)
	if _, err := Open(dir, Options{}); !errors.Is(err, ErrDataDirVersion) {
		t.Fatalf("Open of a non-empty dir without VERSION = %v", err)
	}
	if names := dirNames(t, dir); !slices.Equal(names, []string{"LOCK", "notes.txt"}) {
		t.Errorf("dir now holds %v", names)
	}
}

func TestOpenCleansTmpAndOrphans(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	s := openStore(t, dir)
	info := mustCreate(t, s, "kept", "")
	add(t, s, "kept", genNDJSON(1, 10, 100))
	s.Close()

	os.MkdirAll(filepath.Join(dir, "tmp", "import-x", "index"), 0o755)
	os.WriteFile(filepath.Join(dir, "tmp", "snap.partial"), []byte("x"), 0o644)
	orphan := filepath.Join(dir, "indexes", "0123456789abcdef")
	os.MkdirAll(orphan, 0o755)
	os.WriteFile(filepath.Join(orphan, "000001.log"), []byte("x"), 0o644)

	s = openStore(t, dir)
	if names := dirNames(t, filepath.Join(dir, "tmp")); len(names) != 0 {
		t.Errorf("tmp holds %v", names)
	}
	if names := dirNames(t, filepath.Join(dir, "indexes")); !slices.Equal(names, []string{info.ID}) {
		t.Errorf("indexes holds %v, want [%s]", names, info.ID)
	}
	if got := export(t, s, "kept"); strings.Count(got, "\n") != 10 {
		t.Errorf("kept index lost documents: %d", strings.Count(got, "\n"))
	}
}

func TestReadOnly(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "data")
	if _, err := Open(dir, Options{ReadOnly: true}); err == nil {
		t.Fatal("read-only Open of a missing dir succeeded")
	}
	s := openStore(t, dir)
	mustCreate(t, s, "a", "")
	add(t, s, "a", genNDJSON(1, 5, 100))
	want := export(t, s, "a")
	s.Close()

	ro, err := Open(dir, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if got := export(t, ro, "a"); got != want {
		t.Error("read-only export differs")
	}
	if _, err := ro.Create(ctx, "b", ""); !errors.Is(err, ErrReadOnly) {
		t.Errorf("Create: %v", err)
	}
	if _, err := ro.AddDocuments(ctx, "a", strings.NewReader(`{"id":1}`), WriteOptions{}); !errors.Is(err, ErrReadOnly) {
		t.Errorf("AddDocuments: %v", err)
	}
	if _, err := Open(dir, Options{}); !errors.Is(err, ErrLocked) {
		t.Errorf("Open beside a read-only store: %v", err)
	}
}

// A new data dir is private: an index holds the user's documents (issue 7).
func TestOpenCreatesPrivateDataDir(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	openStore(t, dir)
	st, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := st.Mode().Perm(); got != 0o700 {
		t.Errorf("new data dir mode %04o, want 0700", got)
	}
}

// A layout directory that is a symbolic link is refused with an error naming
// it, and what it points at is left alone (it used to be emptied at every
// start).
func TestOpenRefusesSymlinkedLayoutDirs(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"tmp", "payloads", "snapshots", "snapshots/indexes", "indexes", "meta"} {
		t.Run(strings.ReplaceAll(name, "/", "_"), func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join(t.TempDir(), "data")
			s := openStore(t, dir)
			mustCreate(t, s, "a", "")
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			target := t.TempDir()
			precious := filepath.Join(target, "precious")
			if err := os.WriteFile(precious, []byte("keep me"), 0o600); err != nil {
				t.Fatal(err)
			}
			p := filepath.Join(dir, filepath.FromSlash(name))
			if err := os.RemoveAll(p); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(target, p); err != nil {
				t.Fatal(err)
			}
			_, err := Open(dir, Options{})
			if !errors.Is(err, ErrUnsafeDataDir) || !strings.Contains(err.Error(), name+" is a symbolic link") {
				t.Fatalf("Open with a symlinked %s: %v, want ErrUnsafeDataDir naming it", name, err)
			}
			if b, err := os.ReadFile(precious); err != nil || string(b) != "keep me" {
				t.Errorf("the link's target was touched: %q, %v", b, err)
			}
			if _, err := Open(dir, Options{ReadOnly: true}); !errors.Is(err, ErrUnsafeDataDir) {
				t.Errorf("read-only Open with a symlinked %s: %v, want ErrUnsafeDataDir", name, err)
			}
		})
	}
}
