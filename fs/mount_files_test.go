package fs

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/idxfs/idxfs/index/indextest"
	"github.com/idxfs/idxfs/snapshot"
	"github.com/idxfs/idxfs/task"
)

// readOpen opens a file of the mount, fstats it, reads it whole and
// returns the bytes and the size fstat reported right after open (what
// rsync trusts).
func (f *testFS) readOpen(elem ...string) ([]byte, int64) {
	f.t.Helper()
	fh, err := os.Open(f.path(elem...))
	if err != nil {
		f.t.Fatal(err)
	}
	defer fh.Close()
	fi, err := fh.Stat()
	if err != nil {
		f.t.Fatal(err)
	}
	var b bytes.Buffer
	if _, err := b.ReadFrom(fh); err != nil {
		f.t.Fatal(err)
	}
	return b.Bytes(), fi.Size()
}

// snapshotOf reads indexes/NAME/snapshot.tar.gz and checks the archive.
func (f *testFS) snapshotOf(name string) []byte {
	f.t.Helper()
	b, size := f.readOpen("indexes", name, "snapshot.tar.gz")
	if size != int64(len(b)) {
		f.t.Errorf("snapshot.tar.gz of %s: fstat after open says %d bytes, the read got %d", name, size, len(b))
	}
	m, err := snapshot.Verify(f.t.Context(), bytes.NewReader(b), snapshot.ReadOptions{})
	if err != nil {
		f.t.Fatalf("snapshot.tar.gz of %s: %v", name, err)
	}
	if m.IndexUID != name {
		f.t.Errorf("snapshot.tar.gz of %s holds index %q", name, m.IndexUID)
	}
	return b
}

// documents returns the number of documents of index name.
func (f *testFS) documents(name string) uint64 {
	f.t.Helper()
	in, err := f.store.Get(f.t.Context(), name)
	if err != nil {
		f.t.Fatal(err)
	}
	return in.Documents
}

// TestMountSnapshotFile: stat of snapshot.tar.gz starts no task and says 0 bytes
// while no snapshot of the current version exists; open makes one and
// blocks until it is complete, so the reader gets a whole, valid archive of
// the size that fstat reports after open; later stats show that size, and a
// second read reuses the snapshot.
func TestMountSnapshotFile(t *testing.T) {
	t.Parallel()
	f := mountFS(t, map[string]int{"movies": 50}, nil)
	for range 3 {
		if st := f.stat("indexes", "movies", "snapshot.tar.gz"); st.Size != 0 {
			t.Fatalf("stat of a stale snapshot.tar.gz: %d bytes, want 0", st.Size)
		}
	}
	f.names("indexes", "movies")
	if ts := f.tasks(task.SingleIndexSnapshotCreation); len(ts) != 0 {
		t.Fatalf("stat and readdir started %d snapshot tasks", len(ts))
	}

	b := f.snapshotOf("movies")
	if st := f.stat("indexes", "movies", "snapshot.tar.gz"); st.Size != int64(len(b)) {
		t.Errorf("stat after the read: %d bytes, the read got %d", st.Size, len(b))
	}
	if ts := f.tasks(task.SingleIndexSnapshotCreation); len(ts) != 1 || ts[0].Status != task.Succeeded {
		t.Errorf("snapshot tasks after one read: %+v", ts)
	}
	// The stored snapshot is what was served, and snapshots/NAME/ shows it.
	stored, err := f.engine.Snapshots("movies")
	if err != nil || len(stored) != 1 || stored[0].Size != int64(len(b)) {
		t.Fatalf("stored snapshots: %+v, %v", stored, err)
	}
	if got := f.names("snapshots"); len(got) != 1 || got[0] != "movies" {
		t.Errorf("ls snapshots = %v", got)
	}
	if got := f.names("snapshots", "movies"); len(got) != 1 {
		t.Errorf("ls snapshots/movies = %v, want the one snapshot", got)
	} else if got, want := f.read("snapshots", "movies", got[0]), b; !bytes.Equal(got, want) {
		t.Errorf("snapshots/movies/%s differs from what snapshot.tar.gz served", got)
	}

	// Unchanged index: the same bytes, no new task.
	if again := f.snapshotOf("movies"); !bytes.Equal(again, b) {
		t.Errorf("second read of an unchanged index gave other bytes")
	}
	if ts := f.tasks(task.SingleIndexSnapshotCreation); len(ts) != 1 {
		t.Errorf("%d snapshot tasks after a second read of an unchanged index, want 1", len(ts))
	}

	// A change makes it stale again: stat says 0, the next open makes a
	// new one.
	appendDocuments(t, f.path("indexes", "movies", "documents.ndjson"), indextest.NDJSON(51, 1))
	if st := f.stat("indexes", "movies", "snapshot.tar.gz"); st.Size != 0 {
		t.Errorf("stat after a change: %d bytes, want 0", st.Size)
	}
	f.snapshotOf("movies")
	if ts := f.tasks(task.SingleIndexSnapshotCreation); len(ts) != 2 {
		t.Errorf("%d snapshot tasks after a change and a read, want 2", len(ts))
	}
}

// appendDocuments appends b to a documents.ndjson with O_APPEND (>>) and
// returns the error of the close, which carries the task's outcome.
func appendDocuments(t *testing.T, path string, b []byte) error {
	t.Helper()
	return writeDocuments(t, path, os.O_WRONLY|os.O_APPEND, b)
}

func writeDocuments(t *testing.T, path string, flags int, b []byte) error {
	t.Helper()
	fh, err := os.OpenFile(path, flags, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fh.Write(b); err != nil {
		fh.Close()
		t.Fatal(err)
	}
	return fh.Close()
}

// TestMountDocumentsFile: reading documents.ndjson gives every document, one
// JSON object a line, with the size fstat reports after open; O_APPEND adds
// or updates by primary key, O_TRUNC replaces, and bad JSON fails the close
// with EINVAL and changes nothing.
func TestMountDocumentsFile(t *testing.T) {
	t.Parallel()
	f := mountFS(t, map[string]int{"movies": 20}, nil)
	docs := f.path("indexes", "movies", "documents.ndjson")
	ids := func() []int {
		t.Helper()
		b, size := f.readOpen("indexes", "movies", "documents.ndjson")
		if size != int64(len(b)) {
			t.Errorf("documents.ndjson: fstat after open says %d bytes, the read got %d", size, len(b))
		}
		var out []int
		for _, line := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
			if line == "" {
				continue
			}
			var d struct{ ID int }
			if err := json.Unmarshal([]byte(line), &d); err != nil {
				t.Fatalf("documents.ndjson line %q: %v", line, err)
			}
			out = append(out, d.ID)
		}
		return out
	}
	if got := ids(); len(got) != 20 || got[0] != 1 || got[19] != 20 {
		t.Errorf("documents.ndjson ids = %v, want 1..20", got)
	}
	if st := f.stat("indexes", "movies", "documents.ndjson"); st.Size == 0 {
		t.Errorf("stat after a read says 0 bytes: the export is cached")
	}

	// Append: 5 new, 1 updated.
	if err := appendDocuments(t, docs, indextest.NDJSON(20, 6)); err != nil {
		t.Fatalf("append: %v", err)
	}
	if n := f.documents("movies"); n != 25 {
		t.Errorf("%d documents after appending 20..25, want 25", n)
	}
	if got := ids(); len(got) != 25 {
		t.Errorf("documents.ndjson after the append has %d lines, want 25", len(got))
	}
	// Bad JSON: EINVAL at close, nothing changed.
	if err := appendDocuments(t, docs, []byte("{\"id\": 99, \"title\": \n")); errnoIn(t, err) != syscall.EINVAL {
		t.Errorf("append of bad JSON: close says %v, want EINVAL", err)
	}
	if n := f.documents("movies"); n != 25 {
		t.Errorf("%d documents after a failed append, want 25", n)
	}
	// Replace.
	if err := writeDocuments(t, docs, os.O_WRONLY|os.O_TRUNC, indextest.NDJSON(100, 3)); err != nil {
		t.Fatalf("replace: %v", err)
	}
	if got := ids(); len(got) != 3 || got[0] != 100 {
		t.Errorf("documents.ndjson after the replace: ids %v, want 100..102", got)
	}
	// Without O_TRUNC or O_APPEND a write says neither replace nor add.
	if _, err := os.OpenFile(docs, os.O_WRONLY, 0); errnoIn(t, err) != syscall.EINVAL {
		t.Errorf("open for writing without O_TRUNC or O_APPEND: %v, want EINVAL", err)
	}
	// A truncate by path is refused: only O_TRUNC replaces.
	if err := syscall.Truncate(docs, 0); err != syscall.EPERM {
		t.Errorf("truncate by path: %v, want EPERM", err)
	}
	if n := f.documents("movies"); n != 3 {
		t.Errorf("%d documents at the end, want 3", n)
	}
}

// TestMountImportFile: create, write and close of import/NAME imports the
// archive as index NAME (suffix stripped) before close returns; a corrupt
// archive, a truncated one and an empty file fail the close with EINVAL and
// leave no index; a taken name is EEXIST at create.
func TestMountImportFile(t *testing.T) {
	t.Parallel()
	f := mountFS(t, map[string]int{"src": 30}, nil)
	good := f.snapshotOf("src")

	put := func(name string, b []byte) error {
		t.Helper()
		fh, err := os.OpenFile(f.path("import", name), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err != nil {
			return err
		}
		if _, err := fh.Write(b); err != nil {
			fh.Close()
			return err
		}
		return fh.Close()
	}
	if err := put("copy.tar.gz", good); err != nil {
		t.Fatalf("import of a good archive: %v", err)
	}
	if n := f.documents("copy"); n != 30 {
		t.Errorf("imported index has %d documents, want 30", n)
	}
	if ts := f.tasks(task.SingleIndexSnapshotImport); len(ts) != 1 || ts[0].Status != task.Succeeded || ts[0].IndexUID != "copy" {
		t.Errorf("import tasks: %+v", ts)
	}
	// The committed entry stays visible for the grace period, with its size.
	if st := f.stat("import", "copy.tar.gz"); st.Size != int64(len(good)) {
		t.Errorf("import/copy.tar.gz after commit: %d bytes, want %d", st.Size, len(good))
	}

	// rsync's way: a temporary name, closed, then renamed to the final
	// name, which commits it.
	if err := put(".viarename.tar.gz.XyZ123", good); err != nil {
		t.Fatalf("write of a temporary name: %v", err)
	}
	if _, err := f.store.Get(t.Context(), "viarename"); err == nil {
		t.Errorf("a temporary name was imported at its close")
	}
	if err := os.Rename(f.path("import", ".viarename.tar.gz.XyZ123"), f.path("import", "viarename.tar.gz")); err != nil {
		t.Fatalf("rename to the final name: %v", err)
	}
	if n := f.documents("viarename"); n != 30 {
		t.Errorf("index imported by rename has %d documents, want 30", n)
	}

	flipped := bytes.Clone(good)
	flipped[len(flipped)/2] ^= 0xff
	for _, bad := range []struct {
		name string
		b    []byte
	}{
		{"flipped", flipped},
		{"truncated", good[:len(good)*2/3]},
		{"garbage", []byte("this is not an archive\n")},
		{"empty", nil},
	} {
		if err := put(bad.name, bad.b); errnoIn(t, err) != syscall.EINVAL {
			t.Errorf("import of a %s archive: close says %v, want EINVAL", bad.name, err)
		}
		if _, err := f.store.Get(t.Context(), bad.name); err == nil {
			t.Errorf("import of a %s archive made an index", bad.name)
		}
	}
	for _, name := range []string{"src", "src.tar.gz", "copy"} {
		if err := put(name, good); errnoIn(t, err) != syscall.EEXIST {
			t.Errorf("create import/%s onto an existing index: %v, want EEXIST", name, err)
		}
	}
	if err := put("a.b", good); errnoIn(t, err) != syscall.EINVAL {
		t.Errorf("create import/a.b: %v, want EINVAL", err)
	}
	if !strings.Contains(f.logs.String(), "import refused") {
		t.Errorf("no log line says why import/a.b was refused")
	}
	if n := f.documents("src"); n != 30 {
		t.Errorf("source index has %d documents after the imports, want 30", n)
	}
}

// TestMountExactStat: with Options.ExactStat, stat of a stale snapshot.tar.gz
// waits for a fresh snapshot and reports its size.
func TestMountExactStat(t *testing.T) {
	t.Parallel()
	f := mountFS(t, map[string]int{"movies": 10}, func(o *Options) { o.ExactStat = true })
	st := f.stat("indexes", "movies", "snapshot.tar.gz")
	if st.Size == 0 {
		t.Fatalf("stat with ExactStat: 0 bytes")
	}
	if ts := f.tasks(task.SingleIndexSnapshotCreation); len(ts) != 1 {
		t.Errorf("%d snapshot tasks after a stat with ExactStat, want 1", len(ts))
	}
	if b := f.snapshotOf("movies"); int64(len(b)) != st.Size {
		t.Errorf("stat said %d bytes, the read got %d", st.Size, len(b))
	}
}
