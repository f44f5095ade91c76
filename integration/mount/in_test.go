package mount

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// copyIn is one way a user copies an archive into import/.
type copyIn struct {
	name  string
	tools []string
	// cmd copies src to dst; temp is a scratch directory on another
	// filesystem than the mount.
	cmd func(t *testing.T, src, dst, temp string) []string
	// keepsSource: the source must still exist after a failure (mv).
	movesSource bool
}

var copiesIn = []copyIn{
	{name: "cp", tools: []string{"cp"}, cmd: func(t *testing.T, s, d, _ string) []string { return []string{"cp", s, d} }},
	{name: "cp -a", tools: []string{"cp"}, cmd: func(t *testing.T, s, d, _ string) []string { return []string{"cp", "-a", s, d} }},
	{name: "mv from another filesystem", tools: []string{"mv"}, movesSource: true, cmd: func(t *testing.T, s, d, temp string) []string {
		moved := filepath.Join(temp, "moved.tar.gz")
		data, err := os.ReadFile(s)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(moved, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return []string{"mv", moved, d}
	}},
	{name: "rsync -a", tools: []string{"rsync"}, cmd: func(t *testing.T, s, d, _ string) []string { return []string{"rsync", "-a", s, d} }},
	{name: "cat >", tools: []string{"cat"}, cmd: func(t *testing.T, s, d, _ string) []string {
		return []string{"bash", "-c", fmt.Sprintf("cat %q > %q", s, d)}
	}},
	{name: "dd", tools: []string{"dd"}, cmd: func(t *testing.T, s, d, _ string) []string {
		return []string{"dd", "if=" + s, "of=" + d, "bs=1M", "status=none"}
	}},
	{name: "python shutil.copy2", tools: []string{"python3"}, cmd: func(t *testing.T, s, d, _ string) []string {
		return []string{"python3", "-c", "import shutil,sys; shutil.copy2(sys.argv[1], sys.argv[2])", s, d}
	}},
}

// otherFS returns a scratch directory on another filesystem than the
// mount's temp dir, so that mv has to copy (tmpfs /dev/shm where it exists).
func otherFS(t *testing.T) string {
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		d, err := os.MkdirTemp("/dev/shm", "idxfs-test-")
		if err == nil {
			t.Cleanup(func() { os.RemoveAll(d) })
			return d
		}
	}
	return t.TempDir() // the mount is another filesystem anyway
}

// TestImport: each tool imports a good archive (exit 0, an index with the
// source's documents), fails on a corrupt and on a truncated one (non-zero
// exit, no index, mv keeps its source, the status says why), and fails with
// "File exists" onto an existing index, which stays untouched.
func TestImport(t *testing.T) {
	e := newEnv(t, map[string]int{"src": 5000})
	e.mount()
	want := e.exportOf("src")
	dir := t.TempDir()
	good := filepath.Join(dir, "good.tar.gz")
	sh(t, fmt.Sprintf("cat %q > %q", e.path("indexes", "src", "snapshot.tar.gz"), good))
	raw, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	corrupt := filepath.Join(dir, "corrupt.tar.gz")
	flipped := append([]byte(nil), raw...)
	flipped[len(flipped)/2] ^= 0xff
	os.WriteFile(corrupt, flipped, 0o644)
	truncated := filepath.Join(dir, "truncated.tar.gz")
	os.WriteFile(truncated, raw[:len(raw)*2/3], 0o644)
	temp := otherFS(t)

	for i, c := range copiesIn {
		t.Run(c.name, func(t *testing.T) {
			for _, tool := range c.tools {
				requireTool(t, tool)
			}
			name := fmt.Sprintf("imported%d", i)
			args := c.cmd(t, good, e.path("import", name), temp)
			if r := run(t, nil, args[0], args[1:]...); r.code != 0 {
				t.Fatalf("import with %s: %v", c.name, r)
			}
			if got := e.exportOf(name); got != want {
				t.Errorf("index %s (by %s) has other documents than the source", name, c.name)
			}
			for _, bad := range []struct{ what, path string }{{"corrupt", corrupt}, {"truncated", truncated}} {
				badName := fmt.Sprintf("%s%d", bad.what, i)
				args := c.cmd(t, bad.path, e.path("import", badName), temp)
				r := run(t, nil, args[0], args[1:]...)
				if r.code == 0 {
					t.Errorf("%s of a %s archive exited 0", c.name, bad.what)
				}
				if exists(e.path("indexes", badName)) {
					t.Errorf("%s of a %s archive created index %s", c.name, bad.what, badName)
				}
				if c.movesSource && !exists(args[1]) {
					t.Errorf("mv removed the source of a failed import")
				}
			}
			// Onto an existing index: File exists, the index untouched.
			args = c.cmd(t, good, e.path("import", "src"), temp)
			r := run(t, nil, args[0], args[1:]...)
			if r.code == 0 || !strings.Contains(r.stderr, "File exists") {
				t.Errorf("%s onto an existing index: %v; want a failure saying File exists", c.name, r)
			}
			if got := e.exportOf("src"); got != want {
				t.Errorf("%s onto an existing index changed it", c.name)
			}
		})
	}
	var status struct {
		RecentFailures []task `json:"recentFailures"`
	}
	if err := json.Unmarshal([]byte(must(t, "cat", e.path("status.json"))), &status); err != nil {
		t.Fatal(err)
	}
	reasons := map[string]bool{}
	for _, tk := range status.RecentFailures {
		if tk.Type == "singleIndexSnapshotImport" && tk.Error != nil {
			reasons[tk.Error.Code] = true
			if !strings.Contains(tk.Error.Message, "corrupt") && !strings.Contains(tk.Error.Message, "truncated") {
				t.Errorf("failed import's reason %q says neither corrupt nor truncated", tk.Error.Message)
			}
		}
	}
	if !reasons["invalid_snapshot"] {
		t.Errorf("status.json shows no failed import with code invalid_snapshot: %+v", status.RecentFailures)
	}
	if ents, _ := os.ReadDir(filepath.Join(e.data, "tmp")); len(ents) > 1 || len(ents) == 1 && ents[0].Name() != "exports" {
		var names []string
		for _, d := range ents {
			names = append(names, d.Name())
		}
		t.Errorf("DATA/tmp holds %v after the imports", names)
	}
}

// TestImportNames: suffixes are stripped, a stored snapshot's file keeps its
// index name, a bad name is refused with EINVAL.
func TestImportNames(t *testing.T) {
	e := newEnv(t, map[string]int{"src": 100})
	e.mount()
	dir := t.TempDir()
	good := filepath.Join(dir, "a.tar.gz")
	sh(t, fmt.Sprintf("cat %q > %q", e.path("indexes", "src", "snapshot.tar.gz"), good))
	must(t, "cp", good, e.path("import", "one.tar.gz"))
	must(t, "cp", good, e.path("import", "two.tgz"))
	if !exists(e.path("indexes", "one")) || !exists(e.path("indexes", "two")) {
		t.Errorf("suffixes not stripped: %v", must(t, "ls", e.path("indexes")))
	}
	// A stored snapshot, copied from snapshots/, after deleting the source.
	stored := strings.Fields(must(t, "ls", e.path("snapshots", "src")))
	if len(stored) != 1 {
		t.Fatalf("snapshots/src holds %v", stored)
	}
	must(t, "rmdir", e.path("indexes", "src"))
	must(t, "cp", e.path("snapshots", "src", stored[0]), e.path("import")+"/")
	if !exists(e.path("indexes", "src")) {
		t.Errorf("copying %s into import/ did not recreate src", stored[0])
	}
	r := run(t, nil, "cp", good, e.path("import", "bad name"))
	if r.code == 0 || !strings.Contains(r.stderr, "Invalid argument") {
		t.Errorf("cp to an invalid name: %v", r)
	}
}

// TestDocumentsWrite: cp replaces the documents, >> adds, bad JSON fails
// the writer and leaves the index as it was.
func TestDocumentsWrite(t *testing.T) {
	e := newEnv(t, map[string]int{"m": 100})
	e.mount()
	docs := e.path("indexes", "m", "documents.ndjson")
	dir := t.TempDir()
	repl := filepath.Join(dir, "new.ndjson")
	writeDocs(t, repl, 1000, 10)
	must(t, "cp", repl, docs)
	want, _ := os.ReadFile(repl)
	if got := e.exportOf("m"); got != string(want) {
		t.Fatalf("after cp, documents.ndjson = %d bytes, want the 10 copied documents (%d bytes)", len(got), len(want))
	}
	sh(t, fmt.Sprintf(`echo '{"id": 5, "title": "five"}' >> %q`, docs))
	if got := e.exportOf("m"); !strings.HasPrefix(got, `{"id":5,"title":"five"}`) || strings.Count(got, "\n") != 11 {
		t.Errorf("after >>, export = %q", clip(got))
	}
	before := e.exportOf("m")
	// cat reports the failed close; a shell builtin (echo >>) would not,
	// as bash ignores close errors of its own redirections.
	r := run(t, nil, "bash", "-c", fmt.Sprintf(`printf '{"id": 6}\n{"id": 7, oops\n' | cat >> %q`, docs))
	if r.code == 0 || !strings.Contains(r.stderr, "Invalid argument") {
		t.Errorf("appending bad JSON with cat: %v; want a failure", r)
	}
	bad := filepath.Join(dir, "bad.ndjson")
	os.WriteFile(bad, []byte(`{"id": 1}`+"\n"+`{"title": "no id"}`+"\n"), 0o644)
	if r := run(t, nil, "cp", bad, docs); r.code == 0 {
		t.Errorf("cp of a document without id succeeded: %v", r)
	}
	if got := e.exportOf("m"); got != before {
		t.Errorf("a failed write changed the index")
	}
	var st struct {
		LastError *struct{ Code string } `json:"lastError"`
	}
	json.Unmarshal([]byte(must(t, "cat", e.path("indexes", "m", "status.json"))), &st)
	if st.LastError == nil || st.LastError.Code != "missing_primary_key" {
		t.Errorf("status.json lastError = %+v, want missing_primary_key", st.LastError)
	}
}

// TestIndexesDir: mkdir creates an index, rmdir deletes it, bad names are
// refused, and a task file can be removed to cancel.
func TestIndexesDir(t *testing.T) {
	e := newEnv(t, nil)
	e.mount()
	must(t, "mkdir", e.path("indexes", "fresh"))
	if !strings.Contains(must(t, "cat", e.path("indexes", "fresh", "status")), "fresh") {
		t.Error("new index has no status")
	}
	if r := run(t, nil, "mkdir", e.path("indexes", "fresh")); r.code == 0 || !strings.Contains(r.stderr, "File exists") {
		t.Errorf("mkdir of an existing index: %v", r)
	}
	if r := run(t, nil, "mkdir", e.path("indexes", "bad.name")); r.code == 0 || !strings.Contains(r.stderr, "Invalid argument") {
		t.Errorf("mkdir of a bad name: %v", r)
	}
	must(t, "rmdir", e.path("indexes", "fresh"))
	if exists(e.path("indexes", "fresh")) {
		t.Error("rmdir did not delete the index")
	}
	if r := run(t, nil, "rmdir", e.path("indexes", "fresh")); r.code == 0 {
		t.Errorf("rmdir of a missing index succeeded")
	}
	ts := e.tasks()
	// (The kernel answers the second mkdir itself: no task.)
	if count(ts, "indexCreation", "fresh") != 1 || count(ts, "indexDeletion", "fresh") != 1 {
		t.Errorf("tasks: %+v", ts)
	}
	// rm of a finished task is refused.
	if r := run(t, nil, "rm", e.path("tasks", fmt.Sprintf("%d.json", ts[0].UID))); r.code == 0 {
		t.Errorf("rm of a finished task succeeded")
	}
}

// TestImportGrace: a committed import/NAME stays visible, accepting
// attribute changes, for the grace period, then goes; the index stays.
func TestImportGrace(t *testing.T) {
	e := newEnv(t, map[string]int{"src": 100})
	e.mount("--import-grace", "2s")
	archive := filepath.Join(t.TempDir(), "a.tar.gz")
	sh(t, fmt.Sprintf("cat %q > %q", e.path("indexes", "src", "snapshot.tar.gz"), archive))
	dst := e.path("import", "copy")
	must(t, "cp", archive, dst)
	must(t, "touch", "-d", "2001-02-03 04:05:06", dst)
	must(t, "chmod", "0600", dst)
	st, err := os.Stat(dst)
	if err != nil || st.ModTime().Year() != 2001 || st.Mode().Perm() != 0o600 {
		t.Errorf("after touch and chmod: %v, %v", st, err)
	}
	if r := run(t, nil, "cat", dst); r.code == 0 {
		t.Error("a committed import can be read back; its bytes are gone")
	}
	until(t, 30*time.Second, "the entry to go after the grace period", func() bool { return !exists(dst) })
	if !exists(e.path("indexes", "copy", "status")) {
		t.Error("the index went with the import entry")
	}
	// mv from the snapshot store into import/ (EXDEV within the mount: mv copies).
	stored := strings.Fields(must(t, "ls", e.path("snapshots", "src")))[0]
	must(t, "cp", e.path("snapshots", "src", stored), e.path("import", "again.tar.gz"))
	if !exists(e.path("indexes", "again")) {
		t.Error("cp from snapshots/ into import/ did not import")
	}
	if r := run(t, nil, "mv", e.path("snapshots", "src", stored), e.path("import", "moved")); r.code == 0 {
		t.Error("mv out of the read-only snapshots/ succeeded")
	}
}

// TestImportRewritten: a writer that rewrites bytes the streaming import
// has already read (a tool that seeks back) gets its import from the
// complete file at the close, which succeeds; the restart is one task, so
// TestImportRewritten: a write over bytes the streaming import already
// read fails with ESPIPE (import/ keeps no copy of them), and so does the
// close; the import's task fails saying why (status.json), nothing is left
// in DATA/tmp, and the name can be imported at once (DESIGN-NOTES "Import
// through the mount: a stream, not a staging file").
func TestImportRewritten(t *testing.T) {
	e := newEnv(t, map[string]int{"src": 5000})
	e.mount()
	want := e.exportOf("src")
	src := filepath.Join(t.TempDir(), "src.tar.gz")
	raw := e.snapshotTo("src", src)
	f, err := os.OpenFile(e.path("import", "re.tar.gz"), os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	half := int64(len(raw) / 2)
	if _, err := f.WriteAt(raw[:half], 0); err != nil {
		t.Fatal(err)
	}
	awaitImportRead(t, e, "re.tar.gz", raw)
	if _, err := f.WriteAt(raw[:1024], 0); !errors.Is(err, syscall.ESPIPE) {
		t.Errorf("rewrite of bytes already read: %v, want ESPIPE", err)
	}
	if _, err := f.WriteAt(raw[half:], half); !errors.Is(err, syscall.ESPIPE) {
		t.Errorf("write after the rewrite: %v, want ESPIPE", err)
	}
	if err := f.Close(); !errors.Is(err, syscall.ESPIPE) {
		t.Errorf("close of a rewritten import: %v, want ESPIPE", err)
	}
	if exists(e.path("indexes", "re")) {
		t.Error("a rewritten import created index re")
	}
	until(t, time.Minute, "the failed import to show in status.json", func() bool {
		var status struct {
			RecentFailures []task `json:"recentFailures"`
		}
		json.Unmarshal([]byte(must(t, "cat", e.path("status.json"))), &status)
		for _, tk := range status.RecentFailures {
			if tk.Type == "singleIndexSnapshotImport" && tk.Error != nil && strings.Contains(tk.Error.Message, "keeps no copy") {
				return true
			}
		}
		return false
	})
	until(t, time.Minute, "DATA/tmp to hold nothing of the import", func() bool { return tmpClean(e) })
	must(t, "cp", src, e.path("import", "re.tar.gz"))
	if got := e.exportOf("re"); got != want {
		t.Error("the import after the failure has other documents than the source")
	}
}

// awaitImportRead waits until the import of import/name has read the start
// of raw, reading it back: its bytes until the import has read them (at
// once), then "Illegal seek": they are not kept. A new open drops the
// kernel's cache of the file.
func awaitImportRead(t *testing.T, e *env, name string, raw []byte) {
	t.Helper()
	readBack := func() error {
		rf, err := os.Open(e.path("import", name))
		if err != nil {
			return err
		}
		defer rf.Close()
		got := make([]byte, 1024)
		if _, err := rf.ReadAt(got, 0); err != nil {
			return err
		}
		if !bytes.Equal(got, raw[:1024]) {
			return errors.New("read back other bytes than were written")
		}
		return nil
	}
	until(t, time.Minute, "the streaming import to read the start of the archive", func() bool {
		err := readBack()
		if err != nil && !errors.Is(err, syscall.ESPIPE) {
			t.Fatalf("read back of import/%s: %v, want its bytes or ESPIPE", name, err)
		}
		return err != nil
	})
}

// TestImportTruncatedRestarts: truncating import/NAME to nothing after the
// import has read from it starts the import over, in the same task, from
// the bytes written after; no failed task is left.
func TestImportTruncatedRestarts(t *testing.T) {
	e := newEnv(t, map[string]int{"src": 5000})
	d := e.mount()
	want := e.exportOf("src")
	raw := e.snapshotTo("src", filepath.Join(t.TempDir(), "src.tar.gz"))
	f, err := os.OpenFile(e.path("import", "again.tar.gz"), os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(raw[:len(raw)/2], 0); err != nil {
		t.Fatal(err)
	}
	awaitImportRead(t, e, "again.tar.gz", raw)
	if err := f.Truncate(0); err != nil {
		t.Fatalf("truncate to nothing: %v", err)
	}
	if _, err := f.WriteAt(raw, 0); err != nil {
		t.Fatalf("write after the truncation: %v", err)
	}
	if err := closeImport(t, e, f, "again"); err != nil {
		t.Fatalf("close: %v", err)
	}
	if got := e.exportOf("again"); got != want {
		t.Error("the restarted import has other documents than the source")
	}
	if !d.log.WaitFor("import restarts", 10*time.Second) {
		t.Error("the log does not say that the import started over")
	}
	if n := count(e.tasks(), "singleIndexSnapshotImport", "again"); n != 1 {
		t.Errorf("%d import tasks of again, want 1", n)
	}
	for _, tk := range e.tasks() {
		if tk.Status == "failed" {
			t.Errorf("tasks/%d.json: a failed %s (%v) after a restarted import", tk.UID, tk.Type, tk.Error)
		}
	}
}

// closeImport closes f, a descriptor of import/name, and returns the
// close's error. If a signal reached this process while the close waited
// for the import (FUSE then interrupts the flush: EINTR), the import goes
// on (DESIGN §5) and its index is what tells.
func closeImport(t *testing.T, e *env, f *os.File, name string) error {
	t.Helper()
	err := f.Close()
	if errors.Is(err, syscall.EINTR) {
		t.Logf("close of import/%s interrupted; waiting for the import", name)
		until(t, time.Minute, "the interrupted import to finish", func() bool { return exists(e.path("indexes", importName(name))) })
		return nil
	}
	return err
}

// importName is the index import/name imports to.
func importName(name string) string { return strings.TrimSuffix(name, ".tar.gz") }

// tmpClean reports whether DATA/tmp holds nothing but the exports.
func tmpClean(e *env) bool {
	ents, _ := os.ReadDir(filepath.Join(e.data, "tmp"))
	return len(ents) == 0 || len(ents) == 1 && ents[0].Name() == "exports"
}

// TestImportOutOfOrder: writers that do not write in order import too —
// four writers of one quarter each at once on one descriptor (pwrite, as
// rclone's multi-thread copy), and one writer of 1 MiB blocks in shuffled
// order; an aborted out-of-order copy leaves nothing in DATA/tmp.
func TestImportOutOfOrder(t *testing.T) {
	e := newEnv(t, map[string]int{"src": 30000})
	e.mount()
	want := e.exportOf("src")
	raw := e.snapshotTo("src", filepath.Join(t.TempDir(), "src.tar.gz"))
	const block = 1 << 20
	if len(raw) < 4*block {
		t.Fatalf("the archive has %d bytes, fewer than 4 blocks of 1 MiB: the test needs a bigger index", len(raw))
	}
	// ranges splits the archive into [off, end) ranges.
	blocks := func(size int) [][2]int {
		var out [][2]int
		for off := 0; off < len(raw); off += size {
			out = append(out, [2]int{off, min(off+size, len(raw))})
		}
		return out
	}
	write := func(t *testing.T, name string, writers [][][2]int) error {
		f, err := os.OpenFile(e.path("import", name), os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		errs := make(chan error, len(writers))
		for _, rs := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for _, r := range rs {
					if _, err := f.WriteAt(raw[r[0]:r[1]], int64(r[0])); err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			f.Close()
			return err
		}
		return closeImport(t, e, f, name)
	}
	quarter := (len(raw) + 3) / 4
	var quarters [][][2]int
	for q := range 4 {
		var rs [][2]int
		for off := q * quarter; off < min((q+1)*quarter, len(raw)); off += block {
			rs = append(rs, [2]int{off, min(off+block, (q+1)*quarter, len(raw))})
		}
		quarters = append(quarters, rs)
	}
	shuffled := blocks(block)
	rand.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	if shuffled[0][0] == 0 { // the first block last: everything waits for it
		shuffled[0], shuffled[len(shuffled)-1] = shuffled[len(shuffled)-1], shuffled[0]
	}
	for _, c := range []struct {
		name    string
		writers [][][2]int
	}{{"quarters", quarters}, {"shuffled", [][][2]int{shuffled}}} {
		t.Run(c.name, func(t *testing.T) {
			if err := write(t, c.name, c.writers); err != nil {
				t.Fatalf("%s into import/: %v", c.name, err)
			}
			if got := e.exportOf(c.name); got != want {
				t.Errorf("index %s has other documents than the source", c.name)
			}
			until(t, time.Minute, "DATA/tmp to hold nothing of the import", func() bool { return tmpClean(e) })
		})
	}
	t.Run("aborted", func(t *testing.T) {
		f, err := os.OpenFile(e.path("import", "aborted"), os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close() // an open descriptor would keep the mount from unmounting
		for _, r := range shuffled[:len(shuffled)/2] {
			if _, err := f.WriteAt(raw[r[0]:r[1]], int64(r[0])); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.Remove(e.path("import", "aborted")); err != nil { // no exec while f is open: its close-on-exec would flush it
			t.Fatal(err)
		}
		f.Close()
		until(t, time.Minute, "DATA/tmp to hold nothing after an aborted import", func() bool { return tmpClean(e) })
		if exists(e.path("indexes", "aborted")) {
			t.Error("an aborted import created its index")
		}
	})
}
