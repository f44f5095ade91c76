package fs

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/idxfs/idxfs/task"
)

// lines counts the documents of an NDJSON export.
func lines(b []byte) int { return bytes.Count(b, []byte("\n")) }

// renameat2 calls renameat2(2) on two paths.
func renameat2(from, to string, flags uint) error {
	return unix.Renameat2(unix.AT_FDCWD, from, unix.AT_FDCWD, to, flags)
}

// TestMountRenameSwap: mv renames an index, renameat2 RENAME_EXCHANGE swaps
// two, RENAME_NOREPLACE and a plain rename onto an existing index are
// refused (ENOTEMPTY with a log line that says how to replace), and a
// file of the index open across a rename reads on.
func TestMountRenameSwap(t *testing.T) {
	t.Parallel()
	f := mountFS(t, map[string]int{"a": 10, "b": 5}, nil)
	// Look the files up under the old name: the nodes must follow.
	if n := lines(f.read("indexes", "a", "documents.ndjson")); n != 10 {
		t.Fatalf("a holds %d documents", n)
	}
	f.read("indexes", "a", "status")
	before := f.stat("indexes", "a")

	if err := os.Rename(f.path("indexes", "a"), f.path("indexes", "c")); err != nil {
		t.Fatalf("mv a c: %v", err)
	}
	if _, err := os.Stat(f.path("indexes", "a")); !os.IsNotExist(err) {
		t.Errorf("a after the rename: %v", err)
	}
	if st := f.stat("indexes", "c"); st.Ino != before.Ino {
		t.Errorf("c is inode %d, a was %d: a rename keeps the directory", st.Ino, before.Ino)
	}
	if n := lines(f.read("indexes", "c", "documents.ndjson")); n != 10 {
		t.Errorf("c holds %d documents, want a's 10", n)
	}
	if s := string(f.read("indexes", "c", "status.json")); !strings.Contains(s, `"uid": "c"`) {
		t.Errorf("status.json of c:\n%s", s)
	}
	ents, err := os.ReadDir(f.path("indexes"))
	if err != nil || len(ents) != 2 || ents[0].Name() != "b" || ents[1].Name() != "c" {
		t.Errorf("indexes/ = %v, %v", ents, err)
	}

	// Onto an existing index.
	// (os.Rename refuses a directory target itself, with EEXIST.)
	if err := unix.Rename(f.path("indexes", "c"), f.path("indexes", "b")); errnoIn(t, err) != syscall.ENOTEMPTY {
		t.Errorf("mv -T c b: %v, want ENOTEMPTY", err)
	}
	if !strings.Contains(f.logs.String(), "RENAME_EXCHANGE") || !strings.Contains(f.logs.String(), "import/b.replace.tar.gz") {
		t.Errorf("the refusal's log line does not say how to replace:\n%s", f.logs)
	}
	if err := renameat2(f.path("indexes", "c"), f.path("indexes", "b"), unix.RENAME_NOREPLACE); errnoIn(t, err) != syscall.EEXIST {
		t.Errorf("renameat2 RENAME_NOREPLACE onto b: %v, want EEXIST", err)
	}
	if err := os.Rename(f.path("indexes", "c"), f.path("indexes", "b", "c")); errnoIn(t, err) != syscall.EPERM {
		t.Errorf("mv c into b: %v, want EPERM", err)
	}
	if err := os.Rename(f.path("indexes", "c"), f.path("indexes", "bad name")); errnoIn(t, err) != syscall.EINVAL {
		t.Errorf("mv c to an invalid name: %v, want EINVAL", err)
	}
	if f.documents("c") != 10 || f.documents("b") != 5 {
		t.Error("a refused rename changed an index")
	}

	// Swap.
	if err := renameat2(f.path("indexes", "c"), f.path("indexes", "b"), unix.RENAME_EXCHANGE); err != nil {
		t.Fatalf("renameat2 RENAME_EXCHANGE c b: %v", err)
	}
	if n := lines(f.read("indexes", "b", "documents.ndjson")); n != 10 {
		t.Errorf("b holds %d documents after the swap, want 10", n)
	}
	if n := lines(f.read("indexes", "c", "documents.ndjson")); n != 5 {
		t.Errorf("c holds %d documents after the swap, want 5", n)
	}

	// A reader with the file open across a rename reads it whole.
	fh, err := os.Open(f.path("indexes", "b", "documents.ndjson"))
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	head := make([]byte, 10)
	if _, err := io.ReadFull(fh, head); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(f.path("indexes", "b"), f.path("indexes", "d")); err != nil {
		t.Fatalf("mv b d with a reader: %v", err)
	}
	rest, err := io.ReadAll(fh)
	if err != nil || lines(append(head, rest...)) != 10 {
		t.Errorf("the reader across the rename: %v, %d documents", err, lines(append(head, rest...)))
	}

	if ts := f.tasks(task.IndexRename); len(ts) != 2 || ts[0].Status != task.Succeeded || ts[1].Status != task.Succeeded {
		t.Errorf("rename tasks: %+v", ts)
	}
	if ts := f.tasks(task.IndexSwap); len(ts) != 1 || ts[0].Status != task.Succeeded {
		t.Errorf("swap tasks: %+v", ts)
	}
}

// readLoop reads the files of index name through the mount until stop is
// closed, and records every failed or inconsistent read: each read of
// documents.ndjson must hold one of the counts in want.
func readLoop(f *testFS, name string, want map[int]bool, stop chan struct{}, wg *sync.WaitGroup, reads *atomic.Int64, fail func(string, ...any)) {
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			b, err := os.ReadFile(f.path("indexes", name, "documents.ndjson"))
			if err != nil {
				fail("read of %s/documents.ndjson: %v", name, err)
				return
			}
			if !want[lines(b)] {
				fail("%s/documents.ndjson holds %d documents, want one of %v", name, lines(b), want)
				return
			}
			if _, err := os.Stat(f.path("indexes", name, "status.json")); err != nil {
				fail("stat of %s/status.json: %v", name, err)
				return
			}
			reads.Add(1)
		}
	}()
}

// TestMountSwapWithReaders: readers of both names, swapped back and forth,
// never fail and always read one whole index.
func TestMountSwapWithReaders(t *testing.T) {
	t.Parallel()
	f := mountFS(t, map[string]int{"a": 40, "b": 7}, nil)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var reads atomic.Int64
	var failure atomic.Pointer[string]
	fail := func(format string, args ...any) { s := fmt.Sprintf(format, args...); failure.CompareAndSwap(nil, &s) }
	want := map[int]bool{40: true, 7: true}
	readLoop(f, "a", want, stop, &wg, &reads, fail)
	readLoop(f, "b", want, stop, &wg, &reads, fail)
	// Swap until the readers have read 20 times, at least 20 swaps.
	for i := 0; i < 20 || reads.Load() < 20 && failure.Load() == nil; i++ {
		if err := renameat2(f.path("indexes", "a"), f.path("indexes", "b"), unix.RENAME_EXCHANGE); err != nil {
			t.Fatalf("swap %d: %v", i, err)
		}
	}
	close(stop)
	wg.Wait()
	if p := failure.Load(); p != nil {
		t.Error(*p)
	}
}

// TestMountReplace: a copy to import/NAME.replace.tar.gz replaces index
// NAME in one step (the same directory, with the archive's documents,
// readers never failing); a bad archive fails the close and changes
// nothing; a copy to import/NAME.tar.gz, or rsync's .NAME.tar.gz.XXXXXX,
// onto an existing index fails at its create, with a log line that says
// how to replace.
func TestMountReplace(t *testing.T) {
	t.Parallel()
	f := mountFS(t, map[string]int{"src": 30, "live": 4}, nil)
	good := f.snapshotOf("src")
	put := func(name string, b []byte) error { return os.WriteFile(f.path("import", name), b, 0o644) }

	for _, name := range []string{"live.tar.gz", "live", ".live.tar.gz.AbC123"} {
		_, err := os.OpenFile(f.path("import", name), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
		if errnoIn(t, err) != syscall.EEXIST {
			t.Errorf("create of import/%s onto an existing index: %v, want EEXIST", name, err)
		}
	}
	if !strings.Contains(f.logs.String(), "import/live.replace.tar.gz") {
		t.Errorf("the refusal's log line does not say how to replace:\n%s", f.logs)
	}

	flipped := bytes.Clone(good)
	flipped[len(flipped)/2] ^= 0xff
	if err := put("live.replace.tar.gz", flipped); errnoIn(t, err) != syscall.EINVAL {
		t.Errorf("replace from a bad archive: close says %v, want EINVAL", err)
	}
	if n := f.documents("live"); n != 4 {
		t.Errorf("live holds %d documents after a failed replace, want 4", n)
	}

	before := f.stat("indexes", "live")
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var reads atomic.Int64
	var failure atomic.Pointer[string]
	fail := func(format string, args ...any) { s := fmt.Sprintf(format, args...); failure.CompareAndSwap(nil, &s) }
	readLoop(f, "live", map[int]bool{4: true, 30: true}, stop, &wg, &reads, fail)
	await := func(n int64) {
		for target := reads.Load() + n; reads.Load() < target && failure.Load() == nil; {
			runtime.Gosched()
		}
	}
	await(2)
	if err := put("live.replace.tar.gz", good); err != nil {
		t.Fatalf("replace from a good archive: %v", err)
	}
	await(2)
	// Again, while the first lingers in import/ (the grace period).
	if err := put("live.replace.tar.gz", good); err != nil {
		t.Fatalf("a second replace under the same name: %v", err)
	}
	await(2)
	// rsync's way, under another spelling.
	if err := put(".live.replace.tgz.XyZ789", good); err != nil {
		t.Fatalf("write of rsync's temporary name for a replace: %v", err)
	}
	if err := os.Rename(f.path("import", ".live.replace.tgz.XyZ789"), f.path("import", "live.replace.tgz")); err != nil {
		t.Fatalf("rename to the replace spelling: %v", err)
	}
	await(2)
	close(stop)
	wg.Wait()
	if p := failure.Load(); p != nil {
		t.Error(*p)
	}
	if n := lines(f.read("indexes", "live", "documents.ndjson")); n != 30 {
		t.Errorf("live holds %d documents after the replace, want the archive's 30", n)
	}
	if st := f.stat("indexes", "live"); st.Ino != before.Ino {
		t.Errorf("live is inode %d after the replace, was %d: a replace keeps the directory", st.Ino, before.Ino)
	}
	imports := f.tasks(task.SingleIndexSnapshotImport)
	var d task.SnapshotImportDetails
	if len(imports) == 0 || imports[0].Status != task.Succeeded || imports[0].DecodeDetails(&d) != nil || !d.Replaced {
		t.Errorf("newest import task: %+v", imports)
	}
	// The replace spelling onto a name with no index imports it.
	if err := put("fresh.replace.tar.gz", good); err != nil || f.documents("fresh") != 30 {
		t.Errorf("import/fresh.replace.tar.gz: %v", err)
	}
	ents, _ := os.ReadDir(f.store.TmpDir())
	for _, e := range ents {
		if e.Name() != "exports" { // of the documents.ndjson reads
			t.Errorf("tmp/ holds %s", e.Name())
		}
	}
}

// TestImportTarget: the replace spelling and rsync's temporary names.
func TestImportTarget(t *testing.T) {
	t.Parallel()
	for name, want := range map[string]struct {
		idx     string
		replace bool
	}{
		"movies.tar.gz":         {"movies", false},
		"movies.replace.tar.gz": {"movies", true},
		"movies.replace.tgz":    {"movies", true},
		"movies.replace":        {"movies", true},
		".replace":              {".replace", false},
		"movies.replaced":       {"movies.replaced", false},
	} {
		if idx, replace := importTarget(name); idx != want.idx || replace != want.replace {
			t.Errorf("importTarget(%q) = %q, %v; want %q, %v", name, idx, replace, want.idx, want.replace)
		}
	}
	for temp, want := range map[string]string{
		".movies.tar.gz.AbC123":         "movies.tar.gz",
		".movies.replace.tar.gz.x1y2z3": "movies.replace.tar.gz",
		".movies.tar.gz.AbC12":          "",
		".movies":                       "",
		"..movies.AbC123":               "",
	} {
		if got, ok := finalName(temp); got != want || ok != (want != "") {
			t.Errorf("finalName(%q) = %q, %v; want %q", temp, got, ok, want)
		}
	}
}
