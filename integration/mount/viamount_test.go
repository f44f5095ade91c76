package mount

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
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
	reads := [][]string{
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

	// A command with no file equivalent says so, and to run it unmounted.
	r := e.idxfs("index", "create", "x", "--primary-key", "id")
	if r.code != 3 || !strings.Contains(r.stderr, "--primary-key: not available while data dir") || !strings.Contains(r.stderr, "unmounted") {
		t.Errorf("index create --primary-key while mounted: %v; want exit 3 naming it", r)
	}
	if exists(e.path("indexes", "x")) {
		t.Error("the refused create made index x")
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
	if r := e.idxfs("documents", "delete", "novels", "1"); r.code != 3 || !strings.Contains(r.stderr, "idxfs documents delete: not available while data dir") {
		t.Errorf("documents delete while mounted: %v; want exit 3 naming it", r)
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
