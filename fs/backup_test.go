package fs

import (
	"bytes"
	"io"
	"os"
	"slices"
	"syscall"
	"testing"

	"github.com/idxfs/idxfs/task"
)

// TestMountBackupDir: backup/NAME.tar.gz is indexes/NAME/snapshot.tar.gz
// under another name, one node: ls and stat start no work and say 0 bytes
// while no snapshot of the index's state is stored, open creates it, the
// exact size shows after open, its mtime is the index's updatedAt; the
// directory lists every index and nothing else.
func TestMountBackupDir(t *testing.T) {
	t.Parallel()
	f := mountFS(t, map[string]int{"movies": 50, "books": 20}, nil)
	if got, want := f.names("backup"), []string{"books.tar.gz", "movies.tar.gz"}; !slices.Equal(got, want) {
		t.Errorf("ls backup = %v, want %v", got, want)
	}
	st := f.stat("backup", "movies.tar.gz")
	if st.Size != 0 || st.Mode != syscall.S_IFREG|0o444&f.perm() {
		t.Errorf("stat of a stale backup/movies.tar.gz: size %d mode %o", st.Size, st.Mode)
	}
	in, err := f.store.Get(t.Context(), "movies")
	if err != nil {
		t.Fatal(err)
	}
	if st.Mtim.Sec != in.UpdatedAt.Unix() {
		t.Errorf("mtime %d, want the index's updatedAt %d", st.Mtim.Sec, in.UpdatedAt.Unix())
	}
	if ts := f.tasks(task.SingleIndexSnapshotCreation); len(ts) != 0 {
		t.Fatalf("ls and stat of backup/ started %d snapshot tasks", len(ts))
	}

	h, err := os.Open(f.path("backup", "movies.tar.gz"))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	fi, err := h.Stat()
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(h)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() != int64(len(b)) || len(b) == 0 {
		t.Errorf("fstat after open: %d bytes; read %d", fi.Size(), len(b))
	}
	// The same file as indexes/movies/snapshot.tar.gz: one inode, the same
	// bytes, one creation.
	if got := f.stat("backup", "movies.tar.gz"); got.Size != int64(len(b)) {
		t.Errorf("stat after the read: %d bytes, want %d", got.Size, len(b))
	}
	if a, b := f.stat("backup", "movies.tar.gz"), f.stat("indexes", "movies", "snapshot.tar.gz"); a.Ino != b.Ino {
		t.Errorf("backup/movies.tar.gz is inode %d, indexes/movies/snapshot.tar.gz %d", a.Ino, b.Ino)
	}
	if got := f.read("indexes", "movies", "snapshot.tar.gz"); !bytes.Equal(got, b) {
		t.Error("indexes/movies/snapshot.tar.gz serves other bytes than backup/movies.tar.gz")
	}
	if ts := f.tasks(task.SingleIndexSnapshotCreation); len(ts) != 1 || ts[0].IndexUID != "movies" {
		t.Errorf("snapshot tasks: %+v, want one of movies", ts)
	}
	if st := f.stat("backup", "books.tar.gz"); st.Size != 0 {
		t.Errorf("books, never read: %d bytes", st.Size)
	}

	if err := syscall.Rmdir(f.path("indexes", "books")); err != nil {
		t.Fatal(err)
	}
	if got := f.names("backup"); !slices.Equal(got, []string{"movies.tar.gz"}) {
		t.Errorf("ls backup after rmdir indexes/books = %v", got)
	}
	if _, err := os.Lstat(f.path("backup", "books.tar.gz")); !os.IsNotExist(err) {
		t.Errorf("lstat backup/books.tar.gz of a deleted index: %v", err)
	}
}

// TestMountRmStoredSnapshot: rm of snapshots/NAME/FILE deletes the stored
// snapshot (a reader that has it open reads it whole); snapshot.tar.gz is
// then stale again; anything else in snapshots/ stays refused.
func TestMountRmStoredSnapshot(t *testing.T) {
	t.Parallel()
	f := mountFS(t, map[string]int{"movies": 50}, nil)
	// Stored before the mount first looks it up: snapshot.tar.gz is then a
	// node for that stored file. (A node that made the snapshot at its open
	// goes on serving the file it opened, unlinked, for as long as the
	// kernel keeps it: the same bytes, since the index has not changed.)
	if _, err := f.engine.Snapshot(t.Context(), "movies"); err != nil {
		t.Fatal(err)
	}
	want := f.read("indexes", "movies", "snapshot.tar.gz")
	names := f.names("snapshots", "movies")
	if len(names) != 1 {
		t.Fatalf("ls snapshots/movies = %v", names)
	}
	h, err := os.Open(f.path("snapshots", "movies", names[0]))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if err := os.Remove(f.path("snapshots", "movies", names[0])); err != nil {
		t.Fatalf("rm snapshots/movies/%s: %v", names[0], err)
	}
	if got, err := io.ReadAll(h); err != nil || !bytes.Equal(got, want) {
		t.Errorf("a reader of the removed snapshot got %d bytes, %v; want %d", len(got), err, len(want))
	}
	if got := f.names("snapshots", "movies"); len(got) != 0 {
		t.Errorf("ls snapshots/movies after rm = %v", got)
	}
	if ss, _ := f.engine.Snapshots("movies"); len(ss) != 0 {
		t.Errorf("the store still holds %v", ss)
	}
	if st := f.stat("indexes", "movies", "snapshot.tar.gz"); st.Size != 0 {
		t.Errorf("snapshot.tar.gz after its stored file was removed: %d bytes, want 0", st.Size)
	}
	if got := errnoIn(t, syscall.Unlink(f.path("snapshots", "movies", names[0]))); got != syscall.ENOENT {
		t.Errorf("second rm: %v, want ENOENT", got)
	}
	if got := errnoIn(t, syscall.Rmdir(f.path("snapshots", "movies"))); got != syscall.EPERM {
		t.Errorf("rmdir snapshots/movies: %v, want EPERM", got)
	}
	if got := errnoIn(t, syscall.Unlink(f.path("backup", "movies.tar.gz"))); got != syscall.EPERM {
		t.Errorf("rm backup/movies.tar.gz: %v, want EPERM", got)
	}
	// The index makes a new snapshot at the next read.
	if got := f.read("backup", "movies.tar.gz"); len(got) == 0 {
		t.Error("no snapshot after the stored one was removed")
	}
	if got := f.names("snapshots", "movies"); len(got) != 1 {
		t.Errorf("ls snapshots/movies after a new read = %v", got)
	}
}
