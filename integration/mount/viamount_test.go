package mount

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/idxfs/idxfs/integration/bintest"
)

// The CLI while mounted (issue 9 item 1): with the data dir mounted, the
// CLI acts through the mount's files and says what it says unmounted.

// idxfs runs the CLI on e's data dir (mounted or not) and returns what it
// did.
func (e *env) idxfs(args ...string) result {
	e.t.Helper()
	return run(e.t, nil, bin, append(args, "--data-dir", e.data)...)
}

// sizes hides the size on disk, which is the database's own and changes as
// pebble flushes (a read-only open and a mount measure it at other moments).
// Table columns are aligned to the sizes: spaces are collapsed.
var (
	sizes  = regexp.MustCompile(`("sizeOnDisk": )\d+|\d+(\.\d+)? (B|KiB|MiB|GiB)\b`)
	spaces = regexp.MustCompile(` {2,}`)
)

func hideSizes(s string) string {
	return spaces.ReplaceAllString(sizes.ReplaceAllString(s, "${1}SIZE"), "  ")
}

// TestCLIThroughMountSameOutput: each read command, and each refused or
// failing write, gives the same stdout, stderr and exit code with the data
// dir mounted as without.
func TestCLIThroughMountSameOutput(t *testing.T) {
	e := newEnv(t, map[string]int{"movies": 300, "books": 20})
	e.cli("index", "create", "empty")
	e.cli("snapshot", "create", "movies")
	e.cli("snapshot", "create", "books")
	reads := [][]string{
		{"snapshot", "list"},
		{"snapshot", "list", "--json"},
		{"snapshot", "list", "books"},
		{"documents", "get", "movies", "17"},
		{"documents", "get", "movies", "999999"},
		{"documents", "get", "empty", "1"},
		{"documents", "get", "nope", "1"},
		{"tasks", "list"},
		{"tasks", "list", "--json"},
		{"tasks", "list", "--index", "books", "--limit", "0", "--json"},
		{"tasks", "list", "--type", "documentAdditionOrUpdate", "--limit", "1"},
		{"tasks", "list", "--status", "failed", "--json"},
		{"tasks", "show", "1"},
		{"tasks", "show", "2.json", "--json"},
		{"tasks", "show", "999"},
		{"tasks", "wait", "2", "--json"},
		{"tasks", "wait", "3"},
		{"tasks", "cancel", "2"},
		{"tasks", "cancel", "999"},
		{"index", "list"},
		{"index", "list", "--json"},
		{"index", "show", "movies"},
		{"index", "show", "books", "--json"},
		{"index", "show", "nope"},
		{"index", "show", "no/pe"},
		{"documents", "export", "books"},
		{"documents", "export", "nope"},
	}
	// Writes that fail (their tasks, if any, are new tasks each time: the
	// outputs name no uid).
	writes := [][]string{
		{"index", "rename", "books", "movies"},
		{"index", "rename", "nope", "other"},
		{"index", "swap", "books", "nope"},
		{"index", "swap", "books", "no/pe"},
		{"index", "create", "empty"},
		{"index", "create", "-bad"},
		{"index", "delete", "nope"},
		{"documents", "delete", "nope", "1"},
		{"documents", "delete", "books", "1", "no/pe"},
		{"documents", "delete", "books", "--json", "2", "a b"},
	}
	compare := func(cmds [][]string, want []result) {
		t.Helper()
		for i, c := range cmds {
			got := e.idxfs(c...)
			if got.code != want[i].code || hideSizes(got.stdout) != hideSizes(want[i].stdout) || got.stderr != want[i].stderr {
				t.Errorf("idxfs %s\n mounted:   %v\n unmounted: %v", strings.Join(c, " "), got, want[i])
			}
		}
	}
	runAll := func(cmds [][]string) []result {
		var out []result
		for _, c := range cmds {
			out = append(out, e.idxfs(c...))
		}
		return out
	}
	want := runAll(reads)
	e.mount()
	compare(reads, want)
	e.d.stop()

	want = runAll(writes)
	e.mount()
	compare(writes, want)

	// index create --primary-key through the mount is two tasks (mkdir,
	// then the key written to primary-key): it prints what it prints
	// unmounted, with the creation's task uid, and the index has the key.
	r := e.idxfs("index", "create", "x", "--primary-key", "id")
	if r.code != 0 || !strings.HasPrefix(r.stdout, `created index "x", primary key "id" (task `) {
		t.Errorf("index create --primary-key while mounted: %v", r)
	}
	if b, err := os.ReadFile(e.path("indexes", "x", "primary-key")); err != nil || string(b) != "id\n" {
		t.Errorf("x's primary-key after the create: %q, %v", b, err)
	}
	if ts := e.tasks(); count(ts, "indexCreation", "x") != 1 || count(ts, "indexUpdate", "x") != 1 {
		t.Errorf("tasks of index create --primary-key while mounted: %d indexCreation, %d indexUpdate; want 1 and 1",
			count(ts, "indexCreation", "x"), count(ts, "indexUpdate", "x"))
	}
}

// TestCLIThroughMountWrites: create, rename, swap and delete through the
// mount print what they print unmounted, and the mount shows the result.
func TestCLIThroughMountWrites(t *testing.T) {
	e := newEnv(t, map[string]int{"movies": 30})
	e.mount()
	r := e.idxfs("index", "create", "books")
	if r.code != 0 || !strings.HasPrefix(r.stdout, `created index "books", primary key inferred at the first addition (task `) || !exists(e.path("indexes", "books")) {
		t.Fatalf("index create books while mounted: %v", r)
	}
	if r := e.idxfs("index", "create", "books"); r.code != 5 || !strings.Contains(r.stderr, `index "books": already exists`) {
		t.Errorf("index create books again: %v; want exit 5, already exists", r)
	}
	docs := filepath.Join(t.TempDir(), "docs.ndjson")
	writeDocs(t, docs, 1, 5)
	// A primary key through the mount on an index with none: written to
	// its primary-key file first (an indexUpdate task), then the addition.
	if r := e.idxfs("index", "create", "keyless"); r.code != 0 {
		t.Fatalf("index create keyless: %v", r)
	}
	if r := e.idxfs("documents", "add", "keyless", docs, "--primary-key", "id"); r.code != 0 || !strings.HasPrefix(r.stdout, `added or updated 5 documents in "keyless" (5 received, primary key "id"`) {
		t.Errorf("documents add --primary-key to an index with none while mounted: %v", r)
	}
	if ts := e.tasks(); count(ts, "indexUpdate", "keyless") != 1 {
		t.Errorf("documents add --primary-key to an index with none: %d indexUpdate tasks, want 1", count(ts, "indexUpdate", "keyless"))
	}
	r = e.idxfs("index", "rename", "books", "novels", "--json")
	var tk task
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &tk) != nil || tk.Type != "indexRename" || tk.Status != "succeeded" {
		t.Fatalf("index rename --json while mounted: %v", r)
	}
	if exists(e.path("indexes", "books")) || !exists(e.path("indexes", "novels")) {
		t.Error("after the rename, the mount does not show novels alone")
	}
	if r := e.idxfs("index", "rename", "novels", "movies"); r.code != 5 || !strings.Contains(r.stderr, "idxfs index swap novels movies") {
		t.Errorf("index rename onto an existing index: %v; want exit 5 and the swap hint", r)
	}
	movies := e.exportOf("movies")
	if r := e.idxfs("index", "swap", "novels", "movies"); r.code != 0 || !strings.HasPrefix(r.stdout, `swapped indexes "novels" and "movies"`) {
		t.Fatalf("index swap while mounted: %v", r)
	}
	if e.exportOf("novels") != movies || e.exportOf("movies") != "" {
		t.Error("after the swap, novels does not hold movies' documents")
	}
	if r := e.idxfs("index", "delete", "movies"); r.code != 0 || !strings.HasPrefix(r.stdout, `deleted index "movies"`) || exists(e.path("indexes", "movies")) {
		t.Errorf("index delete while mounted: %v", r)
	}
	if r := e.idxfs("documents", "add", "novels", docs); r.code != 0 || !strings.HasPrefix(r.stdout, `added or updated 5 documents in "novels"`) {
		t.Errorf("documents add while mounted: %v", r)
	}
	if r := e.idxfs("documents", "add", "novels", docs, "--primary-key", "id"); r.code != 0 || !strings.HasPrefix(r.stdout, `added or updated 5 documents in "novels" (5 received, primary key "id"`) {
		t.Errorf("documents add --primary-key of the index's own key while mounted: %v", r)
	}
	if r := e.idxfs("documents", "replace", "novels", docs, "--primary-key", "title"); r.code != 6 || !strings.Contains(r.stderr, `index "novels": primary key is "id", cannot use "title"`) {
		t.Errorf("documents replace --primary-key of another key while mounted: %v; want exit 6, the mismatch (as unmounted)", r)
	}
	writeDocs(t, docs, 100, 2)
	if r := e.idxfs("documents", "replace", "novels", docs); r.code != 0 || !strings.HasPrefix(r.stdout, `replaced all documents with 2 documents in "novels"`) {
		t.Errorf("documents replace while mounted: %v", r)
	}
	if n := strings.Count(e.exportOf("novels"), "\n"); n != 2 {
		t.Errorf("after documents replace: %d documents, want 2", n)
	}
	// documents delete writes the ids to indexes/NAME/delete-documents.
	if r := e.idxfs("documents", "delete", "novels", "100", "7"); r.code != 0 || !strings.HasPrefix(r.stdout, `deleted 1 of 2 documents from "novels" (task `) {
		t.Errorf("documents delete while mounted: %v", r)
	}
	if n := strings.Count(e.exportOf("novels"), "\n"); n != 1 {
		t.Errorf("after documents delete: %d documents, want 1", n)
	}
	r = e.idxfs("documents", "delete", "novels", "101", "--json")
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &tk) != nil || tk.Type != "documentDeletion" || tk.Status != "succeeded" {
		t.Errorf("documents delete --json while mounted: %v", r)
	}
	if n := strings.Count(e.exportOf("novels"), "\n"); n != 0 {
		t.Errorf("after deleting the last document: %d documents, want 0", n)
	}
}

// TestCLIRenameSwapThroughMountWithReaders: index rename and index swap by
// the CLI while mounted, with readers of both names reading all along: no
// read fails.
func TestCLIRenameSwapThroughMountWithReaders(t *testing.T) {
	e := newEnv(t, map[string]int{"movies": 3000, "books": 200})
	e.mount()
	rd := startReaders(e, map[int]bool{3000: true, 200: true}, "movies", "books")
	rd.await(t, 2)
	for i := 0; i < 4; i++ {
		if r := e.idxfs("index", "swap", "movies", "books"); r.code != 0 {
			t.Fatalf("index swap while mounted: %v", r)
		}
		rd.await(t, 2)
	}
	rd.end(t)
	must(t, bin, "index", "rename", "books", "novels", "--data-dir", e.data)
	if !exists(e.path("indexes", "novels")) || strings.Count(e.exportOf("novels"), "\n") != 200 {
		t.Error("after the rename, novels is not books")
	}
	if ts := e.tasks(); count(ts, "indexSwap", "") != 4 || count(ts, "indexRename", "") != 1 {
		t.Errorf("tasks: %d indexSwap (want 4), %d indexRename (want 1)", count(ts, "indexSwap", ""), count(ts, "indexRename", ""))
	}
}

// TestCLITasksListDuringMountImport: while a copy into import/ runs, a
// second process's `idxfs tasks list` works (it used to fail, exit 3) and
// shows the import's task; `idxfs tasks wait` follows it to its end.
func TestCLITasksListDuringMountImport(t *testing.T) {
	e := newEnv(t, map[string]int{"movies": 20000})
	e.mount()
	archive := filepath.Join(t.TempDir(), "movies.tar.gz")
	sh(t, fmt.Sprintf("cat %q > %q", e.path("indexes", "movies", "snapshot.tar.gz"), archive))
	cp := exec.Command("cp", archive, e.path("import", "copy"))
	var cpErr strings.Builder
	cp.Stderr = &cpErr
	if err := cp.Start(); err != nil {
		t.Fatal(err)
	}
	cpDone := make(chan error, 1)
	go func() { cpDone <- cp.Wait() }()
	var uid uint64
	var listedWhileCopying bool
	until(t, 2*time.Minute, "tasks list to show the import", func() bool {
		copying := len(cpDone) == 0
		r := e.idxfs("tasks", "list", "--type", "singleIndexSnapshotImport", "--json")
		if r.code != 0 {
			t.Fatalf("tasks list during an import through the mount: %v", r)
		}
		var ts []task
		if err := json.Unmarshal([]byte(r.stdout), &ts); err != nil {
			t.Fatalf("tasks list --json: %v: %s", err, r.stdout)
		}
		listedWhileCopying = listedWhileCopying || copying
		if len(ts) == 1 {
			uid = ts[0].UID
			return true
		}
		return false
	})
	if !listedWhileCopying {
		t.Error("no tasks list ran while cp was copying")
	}
	r := e.idxfs("tasks", "wait", fmt.Sprint(uid))
	if r.code != 0 || !strings.Contains(r.stdout, `imported "movies" as "copy"`) {
		t.Errorf("tasks wait %d while mounted: %v", uid, r)
	}
	if err := <-cpDone; err != nil {
		t.Fatalf("cp into import/: %v: %s", err, cpErr.String())
	}
}

// TestCLISnapshotThroughMount: snapshot create (to the store, and -o FILE)
// reads the mount's snapshot.tar.gz; snapshot import copies into import/:
// a refused import says how to replace, --as imports, --replace of a bad
// archive fails and leaves the index, of a good one replaces it at once.
func TestCLISnapshotThroughMount(t *testing.T) {
	e := newEnv(t, map[string]int{"movies": 3000, "books": 200})
	e.mount()
	dir := t.TempDir()
	r := e.idxfs("snapshot", "create", "movies")
	path := strings.TrimSpace(r.stdout)
	if r.code != 0 || !strings.HasPrefix(path, filepath.Join(e.data, "snapshots")+"/") || !exists(path) ||
		!strings.Contains(r.stderr, `snapshot of "movies" `) {
		t.Fatalf("snapshot create while mounted: %v", r)
	}
	out := filepath.Join(dir, "movies.tar.gz")
	if r := e.idxfs("snapshot", "create", "movies", "-o", out); r.code != 0 || r.stdout != "" {
		t.Fatalf("snapshot create -o while mounted: %v", r)
	}
	if fileSum(t, out) != fileSum(t, e.path("indexes", "movies", "snapshot.tar.gz")) {
		t.Error("snapshot create -o FILE: FILE is not the mount's snapshot.tar.gz")
	}
	if ents, _ := filepath.Glob(filepath.Join(dir, ".*")); len(ents) != 0 {
		t.Errorf("partial files left: %v", ents)
	}
	if r := e.idxfs("snapshot", "import", out); r.code != 5 || !strings.Contains(r.stderr, `index "movies": already exists`) || !strings.Contains(r.stderr, "--replace") {
		t.Errorf("snapshot import onto movies while mounted: %v; want exit 5 and the --replace hint", r)
	}
	r = e.idxfs("snapshot", "import", out, "--as", "copy")
	if r.code != 0 || !strings.HasPrefix(r.stdout, `imported "movies" as "copy": 3000 documents`) || e.exportOf("copy") != e.exportOf("movies") {
		t.Fatalf("snapshot import --as copy while mounted: %v", r)
	}
	raw := must(t, "cat", out)
	bad := filepath.Join(dir, "bad.tar.gz")
	if err := os.WriteFile(bad, []byte(raw[:len(raw)/2]), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := e.idxfs("snapshot", "import", bad, "--as", "copy", "--replace"); r.code != 6 || !strings.Contains(r.stderr, "invalid_snapshot") {
		t.Errorf("snapshot import of a bad archive --replace while mounted: %v; want exit 6, invalid_snapshot", r)
	}
	if e.exportOf("copy") != e.exportOf("movies") {
		t.Error("a failed --replace changed the index")
	}
	books := e.exportOf("books")
	must(t, bin, "snapshot", "create", "books", "-o", filepath.Join(dir, "books.tar.gz"), "--data-dir", e.data)
	r = e.idxfs("snapshot", "import", filepath.Join(dir, "books.tar.gz"), "--as", "copy", "--replace")
	if r.code != 0 || !strings.HasPrefix(r.stdout, `imported "books" replacing "copy"`) || e.exportOf("copy") != books {
		t.Errorf("snapshot import --replace while mounted: %v", r)
	}
	if r := e.idxfs("snapshot", "import", filepath.Join(dir, "nope.tar.gz")); r.code != 4 || !strings.Contains(r.stderr, "no such archive file") {
		t.Errorf("snapshot import of a missing file while mounted: %v", r)
	}
}

// TestCLIImportProgressInMount: an import the CLI started while mounted
// (from stdin, fed by the test in two halves) shows in the mount's
// status.json with its task, and a second process's tasks list shows that
// task processing, before the archive is even complete.
func TestCLIImportProgressInMount(t *testing.T) {
	e := newEnv(t, map[string]int{"movies": 20000})
	e.mount()
	raw := []byte(must(t, "cat", e.path("indexes", "movies", "snapshot.tar.gz")))
	cmd := exec.Command(bin, "snapshot", "import", "-", "--as", "copy", "--data-dir", e.data)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	half := len(raw) / 2
	if _, err := stdin.Write(raw[:half]); err != nil {
		t.Fatal(err)
	}
	var uid uint64
	until(t, time.Minute, "the CLI's import in status.json, with its task", func() bool {
		b, err := os.ReadFile(e.path("status.json"))
		if err != nil {
			t.Fatal(err)
		}
		var st struct {
			Imports []struct {
				Name  string `json:"name"`
				Size  int64  `json:"size"`
				State string `json:"state"`
				Task  uint64 `json:"task"`
			} `json:"imports"`
		}
		if err := json.Unmarshal(b, &st); err != nil {
			t.Fatalf("status.json: %v", err)
		}
		for _, im := range st.Imports {
			if im.Name == "copy" && im.State == "writing" && im.Size > 0 && im.Task != 0 {
				uid = im.Task
				return true
			}
		}
		return false
	})
	r := e.idxfs("tasks", "list", "--status", "processing", "--json")
	var ts []task
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &ts) != nil || len(ts) != 1 || ts[0].UID != uid || ts[0].Type != "singleIndexSnapshotImport" {
		t.Errorf("tasks list in a second process during the import: %v; want task %d processing", r, uid)
	}
	// tasks wait in a third process follows the task's file: status lines
	// with --json while the import waits for its second half.
	waiter := exec.Command(bin, "tasks", "wait", fmt.Sprint(uid), "--json", "--data-dir", e.data)
	waiter.Env = append(os.Environ(), "IDXFS_PROGRESS_INTERVAL=50ms")
	var wout bintest.Buffer
	waiter.Stdout, waiter.Stderr = &wout, &wout
	if err := waiter.Start(); err != nil {
		t.Fatal(err)
	}
	defer waiter.Process.Kill()
	line := fmt.Sprintf(`{"message_type":"status","uid":%d,"indexUid":"copy","type":"singleIndexSnapshotImport","status":"processing"`, uid)
	until(t, time.Minute, "a status line of tasks wait --json", func() bool { return strings.Contains(wout.String(), line) })
	if _, err := stdin.Write(raw[half:]); err != nil {
		t.Fatal(err)
	}
	stdin.Close()
	if err := cmd.Wait(); err != nil || !strings.HasPrefix(stdout.String(), fmt.Sprintf(`imported "movies" as "copy": 20000 documents, index version 2 (task %d,`, uid)) {
		t.Fatalf("snapshot import - while mounted: %v, stdout %q, stderr %q", err, stdout.String(), stderr.String())
	}
	if err := waiter.Wait(); err != nil || !strings.Contains(wout.String(), "\n{\n  \"uid\": "+fmt.Sprint(uid)+",") || !strings.Contains(wout.String(), `"status": "succeeded"`) {
		t.Errorf("tasks wait --json while mounted: %v\n%s", err, wout.String())
	}
	if e.exportOf("copy") != e.exportOf("movies") {
		t.Error("the imported index does not hold movies' documents")
	}
}

// TestCLIInterruptThroughMount: Ctrl-C of an import the CLI streams into
// the mount exits 130, cancels the task and makes no index, as unmounted.
func TestCLIInterruptThroughMount(t *testing.T) {
	e := newEnv(t, map[string]int{"movies": 20000})
	e.mount()
	raw := []byte(must(t, "cat", e.path("indexes", "movies", "snapshot.tar.gz")))
	cmd := exec.Command(bin, "snapshot", "import", "-", "--as", "copy", "--data-dir", e.data)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var out bintest.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	if _, err := stdin.Write(raw[:len(raw)/2]); err != nil {
		t.Fatal(err)
	}
	var uid uint64
	until(t, time.Minute, "the import's task", func() bool {
		ts := e.tasks()
		for _, tk := range ts {
			if tk.Type == "singleIndexSnapshotImport" && tk.IndexUID == "copy" {
				uid = tk.UID
				return true
			}
		}
		return false
	})
	cmd.Process.Signal(os.Interrupt)
	err = cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != 130 || !strings.Contains(out.String(), fmt.Sprintf("interrupted: task %d ", uid)) {
		t.Errorf("Ctrl-C of snapshot import - while mounted: exit %d (%v), output %q; want 130 and the task's end", code, err, out.String())
	}
	r := e.idxfs("tasks", "show", fmt.Sprint(uid), "--json")
	var tk task
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &tk) != nil || tk.Status != "canceled" {
		t.Errorf("the interrupted import's task: %v; want it canceled, as unmounted", r)
	}
	if exists(e.path("indexes", "copy")) {
		t.Error("an interrupted import made index copy")
	}
}
