package mount

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/idxfs/idxfs/integration/bintest"
)

// newEnvOn is newEnv with the data dir inside dir (a small filesystem).
func newEnvOn(t *testing.T, dir string, indexes map[string]int) *env {
	t.Helper()
	requireFUSE(t)
	e := &env{t: t, data: filepath.Join(dir, "data"), mnt: filepath.Join(t.TempDir(), "mnt")}
	if err := os.Mkdir(e.mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	scratch := t.TempDir()
	for name, n := range indexes {
		e.cli("index", "create", name, "--primary-key", "id")
		f := filepath.Join(scratch, name+".ndjson")
		writeDocs(t, f, 1, n)
		e.cli("documents", "add", name, f)
	}
	return e
}

// indexDocs returns numberOfDocuments from an index's status.json.
func (e *env) indexDocs(name string) uint64 {
	e.t.Helper()
	var st struct {
		Documents uint64 `json:"numberOfDocuments"`
	}
	if err := json.Unmarshal([]byte(must(e.t, "cat", e.path("indexes", name, "status.json"))), &st); err != nil {
		e.t.Fatal(err)
	}
	return st.Documents
}

// snapshotTo copies index name's snapshot.tar.gz out of the mount.
func (e *env) snapshotTo(name, dst string) []byte {
	e.t.Helper()
	sh(e.t, fmt.Sprintf("cat %q > %q", e.path("indexes", name, "snapshot.tar.gz"), dst))
	b, err := os.ReadFile(dst)
	if err != nil {
		e.t.Fatal(err)
	}
	return b
}

// line returns an NDJSON document of exactly 4096 bytes with the given id.
func line(id int) []byte {
	head := fmt.Sprintf(`{"id":%d,"pad":"`, id)
	tail := "\"}\n"
	return []byte(head + strings.Repeat("x", 4096-len(head)-len(tail)) + tail)
}

// writeUntil writes chunks from next into f until a write fails, and
// returns that error (nil if next ran out first).
func writeUntil(f *os.File, next func(i int) []byte) error {
	for i := 0; ; i++ {
		b := next(i)
		if b == nil {
			return nil
		}
		if _, err := f.Write(b); err != nil {
			return err
		}
	}
}

// TestWriteFailureCommitsNothing (issue 7 item 3): on a data dir that runs
// out of space, a handle whose write failed commits nothing, even if the
// space is freed before its close, and the close reports ENOSPC — for
// documents.ndjson (append and replace) and for import/ (a first write that
// fails, and cp). The index is as before and the name is free again.
func TestWriteFailureCommitsNothing(t *testing.T) {
	small := bintest.SmallFS(t, 96<<20)
	e := newEnvOn(t, small, map[string]int{"src": 3000})
	e.mount()
	archivePath := filepath.Join(t.TempDir(), "src.tar.gz")
	archive := e.snapshotTo("src", archivePath)
	want := e.exportOf("src")
	docs := e.path("indexes", "src", "documents.ndjson")
	// nothingThenImport: a failed import left no index and the name free:
	// the same archive imports now that there is space.
	nothingThenImport := func(t *testing.T, name string) {
		t.Helper()
		if exists(e.path("indexes", name)) {
			t.Errorf("a failed import created index %s", name)
		}
		must(t, "cp", archivePath, e.path("import", name))
		if got := e.exportOf(name); got != want {
			t.Errorf("import after freeing space: other documents than the source")
		}
	}

	for _, c := range []struct {
		name  string
		flags int
	}{
		{"append", os.O_WRONLY | os.O_APPEND},
		{"replace", os.O_WRONLY | os.O_TRUNC},
	} {
		t.Run("documents "+c.name, func(t *testing.T) {
			release := bintest.Fill(t, small, 5<<20)
			f, err := os.OpenFile(docs, c.flags, 0)
			if err != nil {
				t.Fatal(err)
			}
			werr := writeUntil(f, func(i int) []byte {
				if i > 10000 { // 40 MB: far more than is free
					return nil
				}
				return line(100000 + i)
			})
			if !errors.Is(werr, syscall.ENOSPC) {
				f.Close()
				t.Fatalf("writing 4096-byte lines with 5 MB free: %v, want ENOSPC", werr)
			}
			release()
			if err := f.Close(); !errors.Is(err, syscall.ENOSPC) {
				t.Errorf("close after a failed write (space freed meanwhile): %v, want ENOSPC", err)
			}
			if n := e.indexDocs("src"); n != 3000 {
				t.Errorf("index holds %d documents after the failed write, want 3000", n)
			}
			if got := e.exportOf("src"); got != want {
				t.Errorf("the failed write changed the documents")
			}
		})
	}

	t.Run("import first write", func(t *testing.T) {
		release := bintest.Fill(t, small, 256<<10)
		f, err := os.OpenFile(e.path("import", "full"), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		_, werr := f.Write(archive) // one write, larger than the free space
		if !errors.Is(werr, syscall.ENOSPC) {
			f.Close()
			t.Fatalf("first write of %d bytes with 256 KiB free: %v, want ENOSPC", len(archive), werr)
		}
		release()
		if err := f.Close(); !errors.Is(err, syscall.ENOSPC) {
			t.Errorf("close after a failed first write: %v, want ENOSPC", err)
		}
		nothingThenImport(t, "full")
	})

	t.Run("import cp", func(t *testing.T) {
		release := bintest.Fill(t, small, 256<<10)
		r := run(t, nil, "cp", archivePath, e.path("import", "cpfull"))
		release()
		if r.code == 0 || !strings.Contains(r.stderr, "No space left") {
			t.Errorf("cp into import/ with 256 KiB free: %v; want a failure saying No space left", r)
		}
		nothingThenImport(t, "cpfull")
	})
	if n := e.indexDocs("src"); n != 3000 {
		t.Errorf("src holds %d documents at the end, want 3000", n)
	}
}

// TestEmptyImport (issue 7 item 6): zero bytes into import/ is no archive.
// cp, touch, python and rsync get EINVAL at the close; bash's `: >` cannot
// report it (bash ignores close errors of its redirections), but in every
// case the entry and its staging file are gone after the grace period, no
// index is created, and the name can be imported at once after the failure.
func TestEmptyImport(t *testing.T) {
	e := newEnv(t, map[string]int{"src": 100})
	e.mount("--import-grace", "2s")
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.tar.gz")
	os.WriteFile(empty, nil, 0o644)
	good := filepath.Join(dir, "good.tar.gz")
	e.snapshotTo("src", good)
	want := e.exportOf("src")
	for _, c := range []struct {
		name, tool string
		cmd        []string
		fails      bool
	}{
		{"cp", "cp", []string{"cp", empty, e.path("import", "a")}, true},
		{"touch", "touch", []string{"touch", e.path("import", "c")}, true},
		{"python open/close", "python3", []string{"python3", "-c", "import sys; open(sys.argv[1], 'wb').close()", e.path("import", "d")}, true},
		{"rsync", "rsync", []string{"rsync", empty, e.path("import", "f.tar.gz")}, true},
		{"cat >", "cat", []string{"bash", "-c", fmt.Sprintf("cat %q > %q", empty, e.path("import", "g"))}, true},
		{": > (bash builtin)", "bash", []string{"bash", "-c", fmt.Sprintf(": > %q", e.path("import", "b"))}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			requireTool(t, c.tool)
			r := run(t, nil, c.cmd[0], c.cmd[1:]...)
			if c.fails && (r.code == 0 || !strings.Contains(r.stderr, "Invalid argument")) {
				t.Errorf("%s of an empty file into import/: %v; want a failure saying Invalid argument", c.name, r)
			}
		})
	}
	// A failed empty copy does not keep the name: the archive goes in now.
	must(t, "cp", good, e.path("import", "a"))
	if got := e.exportOf("a"); got != want {
		t.Errorf("cp after an empty cp: other documents than the source")
	}
	until(t, 30*time.Second, "import/ to be empty after the grace period", func() bool {
		ents, err := os.ReadDir(e.path("import"))
		return err == nil && len(ents) == 0
	})
	if ents, _ := os.ReadDir(filepath.Join(e.data, "tmp")); len(ents) > 1 || len(ents) == 1 && ents[0].Name() != "exports" {
		t.Errorf("DATA/tmp holds %d entries after the empty imports", len(ents))
	}
	for _, name := range []string{"b", "c", "d", "f", "g"} {
		if exists(e.path("indexes", name)) {
			t.Errorf("an empty import created index %s", name)
		}
	}
	if !e.d.log.WaitFor("empty archive", 10*time.Second) {
		t.Errorf("the log does not say \"empty archive\"")
	}
}

// TestConcurrentImportWriters (issue 7 item 7): two cp of different
// archives to one import/NAME at once. Exactly one succeeds, and its archive
// is what was imported; the other fails with File exists (it lost the
// create) or Device or resource busy (it opened the name while the first
// was writing it).
func TestConcurrentImportWriters(t *testing.T) {
	requireTool(t, "cp")
	e := newEnv(t, map[string]int{"a": 3000})
	e.mount()
	// b: other documents (ids 5001..8000).
	bdocs := filepath.Join(t.TempDir(), "b.ndjson")
	writeDocs(t, bdocs, 5001, 3000)
	must(t, "mkdir", e.path("indexes", "b"))
	must(t, "cp", bdocs, e.path("indexes", "b", "documents.ndjson"))
	dir := t.TempDir()
	srcs := map[string]string{"a": filepath.Join(dir, "a.tar.gz"), "b": filepath.Join(dir, "b.tar.gz")}
	wants := map[string]string{}
	for k, p := range srcs {
		e.snapshotTo(k, p)
		wants[k] = e.exportOf(k)
	}
	start := time.Now()
	rounds := 0
	reasons := map[string]int{}
	for ; rounds < 40 && (rounds < 8 || time.Since(start) < 40*time.Second); rounds++ {
		name := fmt.Sprintf("x%d", rounds)
		dst := e.path("import", name)
		var wg sync.WaitGroup
		res := map[string]result{}
		var mu sync.Mutex
		for _, k := range []string{"a", "b"} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := run(t, nil, "cp", srcs[k], dst)
				mu.Lock()
				res[k] = r
				mu.Unlock()
			}()
		}
		wg.Wait()
		var ok []string
		for _, k := range []string{"a", "b"} {
			r := res[k]
			if r.code == 0 {
				ok = append(ok, k)
				continue
			}
			switch {
			case strings.Contains(r.stderr, "File exists"):
				reasons["EEXIST"]++
			case strings.Contains(r.stderr, "Device or resource busy"):
				reasons["EBUSY"]++
			default:
				t.Errorf("round %d: cp %s failed without a clear reason: %v", rounds, k, r)
			}
		}
		if len(ok) != 1 {
			t.Errorf("round %d: %d of the two cp succeeded (%v), want exactly one", rounds, len(ok), res)
		}
		for _, k := range ok {
			if got := e.exportOf(name); got != wants[k] {
				t.Errorf("round %d: cp of %s exited 0 but index %s does not hold its documents", rounds, k, name)
			}
		}
	}
	t.Logf("%d rounds in %v; the losers got %v", rounds, time.Since(start).Round(time.Millisecond), reasons)
}

// TestExportsPruned (issue 7 items 5 and 13): an export of documents.ndjson
// is private (0600), its space is shown in the status files, and an export
// of a version that is no longer current is removed as soon as no reader
// has it open.
func TestExportsPruned(t *testing.T) {
	e := newEnv(t, map[string]int{"m": 2000})
	e.mount()
	docs := e.path("indexes", "m", "documents.ndjson")
	exportsDir := filepath.Join(e.data, "tmp", "exports")
	files := func() map[string]os.FileInfo {
		ents, _ := os.ReadDir(exportsDir)
		m := map[string]os.FileInfo{}
		for _, d := range ents {
			if fi, err := d.Info(); err == nil {
				m[d.Name()] = fi
			}
		}
		return m
	}
	exportBytes := func() (root, idx int64) {
		var rs struct {
			Exports struct {
				Bytes int64 `json:"bytes"`
			} `json:"exports"`
		}
		var is struct {
			ExportBytes int64 `json:"exportBytes"`
		}
		json.Unmarshal([]byte(must(t, "cat", e.path("status.json"))), &rs)
		json.Unmarshal([]byte(must(t, "cat", e.path("indexes", "m", "status.json"))), &is)
		return rs.Exports.Bytes, is.ExportBytes
	}

	v1 := e.exportOf("m")
	fs := files()
	if len(fs) != 1 {
		t.Fatalf("after one read, tmp/exports holds %d files, want 1", len(fs))
	}
	var first string
	for name, fi := range fs {
		first = name
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("export %s has mode %v, want 0600", name, fi.Mode().Perm())
		}
	}
	if root, idx := exportBytes(); root != int64(len(v1)) || idx != int64(len(v1)) {
		t.Errorf("status says exports take %d B (root) and %d B (index), want %d", root, idx, len(v1))
	}

	// A reader holds v1 open while the index changes: v1 stays until it
	// closes, then goes.
	held, err := os.Open(docs)
	if err != nil {
		t.Fatal(err)
	}
	sh(t, fmt.Sprintf(`printf '{"id": 900001, "title": "new"}\n' | cat >> %q`, docs))
	if _, ok := files()[first]; !ok {
		t.Errorf("the export held open by a reader was removed")
	}
	v2 := e.exportOf("m")
	if b, err := io.ReadAll(held); err != nil || string(b) != v1 {
		t.Errorf("the held reader got %d bytes (%v), want the %d of its version", len(b), err, len(v1))
	}
	held.Close()
	until(t, 10*time.Second, "the export of the old version to go once its reader closed", func() bool {
		_, ok := files()[first]
		return !ok
	})
	if n := len(files()); n != 1 {
		t.Errorf("tmp/exports holds %d files, want only the current version's", n)
	}

	// Nobody has the current export open (the last reader's release is
	// asynchronous: awaited): a change removes it.
	sh(t, fmt.Sprintf(`printf '{"id": 900002, "title": "newer"}\n' | cat >> %q`, docs))
	until(t, 5*time.Second, "the export of the old version to go after a change with no reader", func() bool { return len(files()) == 0 })
	if root, idx := exportBytes(); root != 0 || idx != 0 {
		t.Errorf("status says exports take %d B (root) and %d B (index) with none on disk", root, idx)
	}
	if v3 := e.exportOf("m"); len(v3) <= len(v2) {
		t.Errorf("export after two additions is %d bytes, not more than %d", len(v3), len(v2))
	}
	// rmdir of the index removes its export.
	must(t, "rmdir", e.path("indexes", "m"))
	until(t, 10*time.Second, "the export of a deleted index to go", func() bool { return len(files()) == 0 })
}
