package task

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"
)

func sameStored(a, b StoredSnapshot) bool {
	return a.Path == b.Path && a.Size == b.Size && a.IndexUID == b.IndexUID &&
		a.IndexVersion == b.IndexVersion && a.IndexUpdatedAt.Equal(b.IndexUpdatedAt) &&
		a.Documents == b.Documents && a.CreatedAt.Equal(b.CreatedAt)
}

// TestSnapshotOf: the result of a snapshot creation, created or reused, is
// the store's record of the file, without reading the archive again (the
// file is made unreadable for the store first); a snapshot that is no longer
// the newest is read from its file; any other task is refused.
func TestSnapshotOf(t *testing.T) {
	t.Parallel()
	e, st := testEngine(t, Options{SnapshotKeep: 2})
	e.Start()
	createIndex(t, e, "m")
	mustSucceed(t, addDocs(t, e, "m", docs(1, 50)))
	in, err := st.Get(context.Background(), "m")
	if err != nil {
		t.Fatal(err)
	}
	created := mustSucceed(t, do(t, e, Request{Kind: SingleIndexSnapshotCreation, IndexUID: "m"}))
	reused := mustSucceed(t, do(t, e, Request{Kind: SingleIndexSnapshotCreation, IndexUID: "m"}))
	var d SnapshotCreationDetails
	if err := created.DecodeDetails(&d); err != nil {
		t.Fatal(err)
	}
	want, err := readStored(d.Path)
	if err != nil {
		t.Fatal(err)
	}
	if !want.Holds(in.Version, in.UpdatedAt) || want.CreatedAt.IsZero() || want.Size != d.Size {
		t.Fatalf("the stored file reads as %+v; index %+v, details %+v", want, in, d)
	}
	// A writable file is one the store did not write: reading it fails.
	if err := os.Chmod(d.Path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := readStored(d.Path); !errors.Is(err, ErrNotStored) {
		t.Fatalf("readStored of a writable file: %v, want ErrNotStored", err)
	}
	for _, tk := range []Task{created, reused} {
		got, err := e.SnapshotOf(tk)
		if err != nil || !sameStored(got, want) {
			t.Errorf("SnapshotOf(task %d) = %+v, %v; want %+v", tk.UID, got, err, want)
		}
	}
	if err := os.Chmod(d.Path, StoredMode); err != nil {
		t.Fatal(err)
	}

	// A newer snapshot: the first one is read from its file.
	mustSucceed(t, addDocs(t, e, "m", docs(100, 1)))
	newer := mustSucceed(t, do(t, e, Request{Kind: SingleIndexSnapshotCreation, IndexUID: "m"}))
	if got, err := e.SnapshotOf(created); err != nil || !sameStored(got, want) {
		t.Errorf("SnapshotOf(superseded task) = %+v, %v; want %+v", got, err, want)
	}
	n, err := e.SnapshotOf(newer)
	if err != nil || n.Path == want.Path || !n.CreatedAt.After(want.CreatedAt) {
		t.Errorf("SnapshotOf(newer task) = %+v, %v", n, err)
	}
	if s, err := e.Snapshot(context.Background(), "m"); err != nil || !sameStored(s, n) {
		t.Errorf("Snapshot = %+v, %v; want %+v", s, err, n)
	}

	docTask := mustSucceed(t, addDocs(t, e, "m", docs(200, 1)))
	if _, err := e.SnapshotOf(docTask); !errors.Is(err, ErrInvalid) {
		t.Errorf("SnapshotOf(a document task): %v, want ErrInvalid", err)
	}
}

// TestHolds: a stored snapshot holds an index state when both its version
// and its updatedAt are the index's.
func TestHolds(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	s := StoredSnapshot{IndexVersion: 3, IndexUpdatedAt: at}
	for _, tt := range []struct {
		version uint64
		at      time.Time
		want    bool
	}{
		{3, at, true},
		{3, at.In(time.FixedZone("x", 3600)), true}, // the same instant
		{4, at, false},
		{3, at.Add(time.Nanosecond), false}, // a re-created index at the same version
	} {
		if got := s.Holds(tt.version, tt.at); got != tt.want {
			t.Errorf("Holds(%d, %s) = %v, want %v", tt.version, tt.at, got, tt.want)
		}
	}
}

// TestSnapshotFiles: the store's tree as the mount shows it: directories
// and files by the store's filter, with their own sizes and mtimes, and
// without reading an archive (a file the store did not write is listed:
// opening it is refused); links, other names and directories are not.
func TestSnapshotFiles(t *testing.T) {
	t.Parallel()
	e, st, d := storedSrc(t)
	dir := filepath.Dir(d.Path)
	handMade := "src_20990101T000000.000000Z" + SnapshotSuffix
	if err := os.WriteFile(filepath.Join(dir, handMade), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	link := "src_20990102T000000.000000Z" + SnapshotSuffix
	if err := os.Symlink(d.Path, filepath.Join(dir, link)); err != nil {
		t.Fatal(err)
	}
	subdir := "src_20990103T000000.000000Z" + SnapshotSuffix
	if err := os.Mkdir(filepath.Join(dir, subdir), 0o755); err != nil {
		t.Fatal(err)
	}
	other := "src_20990104T000000.000000Z.snapshot" // not the store's suffix
	if err := os.WriteFile(filepath.Join(dir, other), []byte("y"), 0o400); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(dir, filepath.Join(st.SnapshotsDir(), "linked")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(st.SnapshotsDir(), "stray"), nil, 0o400); err != nil {
		t.Fatal(err)
	}

	if uids, err := e.SnapshotDirs(); err != nil || !slices.Equal(uids, []string{"src"}) {
		t.Errorf("SnapshotDirs = %v, %v; want [src]", uids, err)
	}
	for _, uid := range []string{"", "src"} {
		sd, err := e.SnapshotDir(uid)
		fi, ferr := os.Stat(filepath.Join(st.SnapshotsDir(), uid))
		if err != nil || ferr != nil || sd.IndexUID != uid || sd.Path != filepath.Join(st.SnapshotsDir(), uid) || !sd.ModTime.Equal(fi.ModTime()) {
			t.Errorf("SnapshotDir(%q) = %+v, %v; want %s, mtime %v", uid, sd, err, filepath.Join(st.SnapshotsDir(), uid), fi.ModTime())
		}
	}
	for _, uid := range []string{"linked", "stray", "nope", "..", "src/x"} {
		if _, err := e.SnapshotDir(uid); !errors.Is(err, syscall.ENOENT) {
			t.Errorf("SnapshotDir(%q): %v, want ENOENT", uid, err)
		}
		if fs, err := e.SnapshotFiles(uid); !errors.Is(err, syscall.ENOENT) {
			t.Errorf("SnapshotFiles(%q) = %v, %v; want ENOENT", uid, fs, err)
		}
	}

	var want []StoredFile
	for _, n := range []string{filepath.Base(d.Path), handMade} { // oldest first
		p := filepath.Join(dir, n)
		fi, err := os.Lstat(p)
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, StoredFile{IndexUID: "src", Name: n, Path: p, Size: fi.Size(), ModTime: fi.ModTime()})
	}
	if want[0].Size != d.Size {
		t.Fatalf("the stored file has %d bytes, its task says %d", want[0].Size, d.Size)
	}
	same := func(a, b []StoredFile) bool {
		return slices.EqualFunc(a, b, func(x, y StoredFile) bool {
			return x.IndexUID == y.IndexUID && x.Name == y.Name && x.Path == y.Path && x.Size == y.Size && x.ModTime.Equal(y.ModTime)
		})
	}
	for _, uid := range []string{"src", ""} {
		if got, err := e.SnapshotFiles(uid); err != nil || !same(got, want) {
			t.Errorf("SnapshotFiles(%q) = %+v, %v; want %+v", uid, got, err, want)
		}
	}
	for _, w := range want {
		if got, err := e.SnapshotFile("src", w.Name); err != nil || !same([]StoredFile{got}, []StoredFile{w}) {
			t.Errorf("SnapshotFile(src, %s) = %+v, %v; want %+v", w.Name, got, err, w)
		}
	}
	for _, n := range []string{link, subdir, other, "missing" + SnapshotSuffix, "../src/" + handMade, SnapshotSuffix[:0]} {
		if f, err := e.SnapshotFile("src", n); !errors.Is(err, syscall.ENOENT) {
			t.Errorf("SnapshotFile(src, %q) = %+v, %v; want ENOENT", n, f, err)
		}
	}
	if f, err := e.SnapshotFile("linked", filepath.Base(d.Path)); !errors.Is(err, syscall.ENOENT) {
		t.Errorf("SnapshotFile through a symlinked directory = %+v, %v; want ENOENT", f, err)
	}
	// The metadata listing reads the archives and leaves the hand-made one out.
	if ss, err := e.Snapshots("src"); err != nil || len(ss) != 1 || ss[0].Path != d.Path {
		t.Errorf("Snapshots(src) = %+v, %v; want only %s", ss, err, d.Path)
	}
}
