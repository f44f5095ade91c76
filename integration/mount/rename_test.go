package mount

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// renameat2Py calls renameat2(2) with flags from python (ctypes), as a
// user's script would; it exits non-zero with strerror on failure.
const renameat2Py = `import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
if libc.renameat2(-100, sys.argv[1].encode(), -100, sys.argv[2].encode(), int(sys.argv[3])) != 0:
    sys.exit(os.strerror(ctypes.get_errno()))
`

// readers reads indexes/NAME/documents.ndjson and indexes/NAME/status.json
// of each name in a loop, as users of the mount would, until stop; a
// failed read, or an export that holds none of the document counts in
// want, is recorded.
type readers struct {
	stop    chan struct{}
	wg      sync.WaitGroup
	reads   atomic.Int64
	failure atomic.Pointer[string]
}

func startReaders(e *env, want map[int]bool, names ...string) *readers {
	r := &readers{stop: make(chan struct{})}
	for _, name := range names {
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			for {
				select {
				case <-r.stop:
					return
				default:
				}
				b, err := os.ReadFile(e.path("indexes", name, "documents.ndjson"))
				if err == nil && !want[strings.Count(string(b), "\n")] {
					err = fmt.Errorf("%d documents, want one of %v", strings.Count(string(b), "\n"), want)
				}
				if err == nil {
					_, err = os.ReadFile(e.path("indexes", name, "status.json"))
				}
				if err != nil {
					s := fmt.Sprintf("reader of %s: %v", name, err)
					r.failure.CompareAndSwap(nil, &s)
					return
				}
				r.reads.Add(1)
			}
		}()
	}
	return r
}

// await waits until the readers have read n more times (or one failed).
func (r *readers) await(t *testing.T, n int64) {
	t.Helper()
	target := r.reads.Load() + n
	until(t, 2*time.Minute, "the readers", func() bool { return r.reads.Load() >= target || r.failure.Load() != nil })
}

// end stops the readers and fails t if one failed.
func (r *readers) end(t *testing.T) {
	t.Helper()
	close(r.stop)
	r.wg.Wait()
	if p := r.failure.Load(); p != nil {
		t.Error(*p)
	}
}

// TestRenameSwapThroughMount: mv renames an index, python's os.rename too,
// renameat2 RENAME_EXCHANGE swaps two while readers of both names read on,
// and mv -T onto an existing index fails, changing nothing.
func TestRenameSwapThroughMount(t *testing.T) {
	requireTool(t, "python3")
	e := newEnv(t, map[string]int{"movies": 3000, "books": 200})
	e.mount()
	movies, books := e.exportOf("movies"), e.exportOf("books")

	must(t, "mv", "-T", e.path("indexes", "movies"), e.path("indexes", "films"))
	if exists(e.path("indexes", "movies")) || e.exportOf("films") != movies {
		t.Fatalf("after mv movies films: movies exists %v, films holds movies' documents %v", exists(e.path("indexes", "movies")), e.exportOf("films") == movies)
	}
	must(t, "python3", "-c", "import os, sys; os.rename(sys.argv[1], sys.argv[2])", e.path("indexes", "films"), e.path("indexes", "movies"))
	if e.exportOf("movies") != movies {
		t.Fatal("python os.rename back: movies does not hold its documents")
	}

	r := run(t, nil, "mv", "-T", e.path("indexes", "books"), e.path("indexes", "movies"))
	if r.code == 0 || !strings.Contains(r.stderr, "Directory not empty") {
		t.Errorf("mv -T books movies: %v; want Directory not empty", r)
	}
	if !e.d.log.WaitFor("RENAME_EXCHANGE", 10*time.Second) {
		t.Error("the daemon's log does not say how to replace an index")
	}
	r = run(t, nil, "python3", "-c", renameat2Py, e.path("indexes", "books"), e.path("indexes", "movies"), "1")
	if r.code == 0 || !strings.Contains(r.stderr, "File exists") {
		t.Errorf("renameat2 RENAME_NOREPLACE books movies: %v; want File exists", r)
	}

	rd := startReaders(e, map[int]bool{3000: true, 200: true}, "movies", "books")
	rd.await(t, 2)
	for i := 0; i < 5; i++ {
		must(t, "python3", "-c", renameat2Py, e.path("indexes", "movies"), e.path("indexes", "books"), "2")
		rd.await(t, 2)
	}
	rd.end(t)
	// Five swaps: the contents are exchanged.
	if e.exportOf("movies") != books || e.exportOf("books") != movies {
		t.Error("after five swaps movies and books are not exchanged")
	}
	ts := e.tasks()
	if count(ts, "indexRename", "") != 2 || count(ts, "indexSwap", "") != 5 {
		t.Errorf("tasks: %d indexRename (want 2), %d indexSwap (want 5)", count(ts, "indexRename", ""), count(ts, "indexSwap", ""))
	}
}

// TestReplaceThroughMount: a copy to import/NAME.replace.tar.gz (cp, then
// rsync) replaces the index while readers read it, never failing; a copy
// of a corrupt archive fails and changes nothing; cp and rsync onto the
// plain name of an existing index fail at create, before a byte is sent,
// and the daemon's log says how to replace.
func TestReplaceThroughMount(t *testing.T) {
	requireTool(t, "rsync")
	e := newEnv(t, map[string]int{"movies": 3000, "books": 200})
	e.mount()
	dir := t.TempDir()
	good := filepath.Join(dir, "books.tar.gz")
	sh(t, fmt.Sprintf("cat %q > %q", e.path("indexes", "books", "snapshot.tar.gz"), good))
	raw, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	corrupt := filepath.Join(dir, "corrupt.tar.gz")
	raw[len(raw)/2] ^= 0xff
	if err := os.WriteFile(corrupt, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	movies, books := e.exportOf("movies"), e.exportOf("books")
	imports := func() int { return count(e.tasks(), "singleIndexSnapshotImport", "") }

	// Onto the plain name: refused at create (no import task at all).
	for _, args := range [][]string{
		{"cp", good, e.path("import", "movies.tar.gz")},
		{"rsync", good, e.path("import", "movies.tar.gz")},
	} {
		r := run(t, nil, args[0], args[1:]...)
		if r.code == 0 || !strings.Contains(r.stderr, "File exists") {
			t.Errorf("%s onto an existing index: %v; want File exists", args[0], r)
		}
	}
	if n := imports(); n != 0 {
		t.Errorf("%d import tasks after refused copies, want none: they must fail at create", n)
	}
	if !e.d.log.WaitFor("import/movies.replace.tar.gz", 10*time.Second) {
		t.Error("the daemon's log does not say how to replace the index")
	}

	rd := startReaders(e, map[int]bool{3000: true, 200: true}, "movies")
	rd.await(t, 2)
	if r := run(t, nil, "cp", corrupt, e.path("import", "movies.replace.tar.gz")); r.code == 0 {
		t.Errorf("cp of a corrupt archive to the replace spelling exited 0")
	}
	if e.exportOf("movies") != movies {
		t.Error("a failed replace changed movies")
	}
	rd.await(t, 2)
	must(t, "cp", good, e.path("import", "movies.replace.tar.gz"))
	rd.await(t, 2)
	// Again at once, while the first copy lingers in import/.
	must(t, "cp", good, e.path("import", "movies.replace.tar.gz"))
	rd.await(t, 2)
	rd.end(t)
	if e.exportOf("movies") != books {
		t.Error("after the replace movies does not hold the archive's documents")
	}

	// rsync's temporary name and rename, onto the replace spelling of
	// another index.
	must(t, "rsync", "-a", good, e.path("import", "books.replace.tgz"))
	if e.exportOf("books") != books {
		t.Error("books after its replace by rsync does not hold the archive's documents")
	}
	if ents, _ := os.ReadDir(filepath.Join(e.data, "tmp")); len(ents) > 1 || len(ents) == 1 && ents[0].Name() != "exports" {
		t.Errorf("DATA/tmp holds %d entries after the replaces", len(ents))
	}
	if ents, _ := os.ReadDir(filepath.Join(e.data, "indexes")); len(ents) != 2 {
		t.Errorf("DATA/indexes holds %d databases, want 2 (the replaced ones removed)", len(ents))
	}
}
