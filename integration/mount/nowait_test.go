package mount

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// --no-wait through the mount (issue 9 item 1): the command prints the
// task's uid at once, as unmounted, while a detached child of the CLI makes
// the mount's blocking call; the task goes on, and the child is gone once
// the task has ended.

var enqueuedLine = regexp.MustCompile(`^enqueued task (\d+) \((\w+) of "([^"]*)"\)\n$`)

// noWait runs the CLI with --no-wait and returns the uid it printed and the
// pid of the child making the call (found in /proc while the call blocks,
// 0 if the call has already returned).
func (e *env) noWait(kind, idx string, args ...string) (uid uint64, child int) {
	e.t.Helper()
	return e.noWaitIn(nil, kind, idx, args...)
}

// noWaitIn is noWait with stdin (nil: none).
func (e *env) noWaitIn(stdin []byte, kind, idx string, args ...string) (uid uint64, child int) {
	e.t.Helper()
	r := run(e.t, stdin, bin, append(args, "--no-wait", "--data-dir", e.data)...)
	m := enqueuedLine.FindStringSubmatch(r.stdout)
	if r.code != 0 || m == nil || m[2] != kind || m[3] != idx ||
		!strings.Contains(r.stderr, "idxfs tasks wait "+m[1]) {
		e.t.Fatalf("idxfs %s --no-wait through the mount: %v; want the enqueued %s of %q", strings.Join(args, " "), r, kind, idx)
	}
	uid, _ = strconv.ParseUint(m[1], 10, 64)
	return uid, mountCallChild(e.t, e.mnt)
}

// mountCallChild is the pid of a detached mount call on mnt, or 0.
func mountCallChild(t testing.TB, mnt string) int {
	t.Helper()
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		args := strings.Split(string(b), "\x00")
		if len(args) > 3 && args[0] == bin && args[1] == "--mount-call" && strings.HasPrefix(args[3], mnt+"/") {
			pid, _ := strconv.Atoi(strings.Split(p, "/")[2])
			return pid
		}
	}
	return 0
}

func (e *env) taskStatus(uid uint64) string {
	e.t.Helper()
	var tk task
	b, err := os.ReadFile(e.path("tasks", fmt.Sprintf("%d.json", uid)))
	if err != nil || json.Unmarshal(b, &tk) != nil {
		e.t.Fatalf("tasks/%d.json: %v", uid, err)
	}
	return tk.Status
}

// TestNoWaitThroughMount: snapshot create, snapshot import and index
// create, rename, swap and delete with --no-wait return the task's uid while it is still
// running; tasks wait follows it to its success; the detached child exits
// with the call and leaves nothing behind.
func TestNoWaitThroughMount(t *testing.T) {
	e := newEnv(t, map[string]int{"big": 20000, "small": 50})
	archive := filepath.Join(t.TempDir(), "small.tar.gz")
	e.cli("snapshot", "create", "small", "-o", archive)
	e.mount("--snapshot-bwlimit", "1M") // a snapshot that takes seconds

	// tasks cancel ends the task, and so the child's call.
	uid, child := e.noWait("singleIndexSnapshotCreation", "big", "snapshot", "create", "big")
	if child == 0 {
		t.Fatal("no detached child making the snapshot's call while the task runs")
	}
	if r := e.idxfs("tasks", "cancel", fmt.Sprint(uid)); r.code != 0 {
		t.Errorf("tasks cancel %d: %v", uid, r)
	}
	until(t, time.Minute, "the canceled snapshot's detached child to exit", func() bool { return gone(child) })
	if st := e.taskStatus(uid); st != "canceled" {
		t.Errorf("snapshot create --no-wait, then tasks cancel: the task is %s", st)
	}

	uid, child = e.noWait("singleIndexSnapshotCreation", "big", "snapshot", "create", "big")
	if st := e.taskStatus(uid); st != "enqueued" && st != "processing" {
		t.Errorf("snapshot create --no-wait returned after its task ended (%s)", st)
	}
	if child == 0 {
		t.Fatal("no detached child making the snapshot's call while the task runs")
	}
	if r := e.idxfs("tasks", "wait", fmt.Sprint(uid)); r.code != 0 || !strings.Contains(r.stdout, "snapshot") {
		t.Errorf("tasks wait %d after snapshot create --no-wait: %v", uid, r)
	}
	until(t, time.Minute, "the snapshot's detached child to exit", func() bool { return gone(child) })

	uid, child = e.noWait("singleIndexSnapshotImport", "copy", "snapshot", "import", archive, "--as", "copy")
	if r := e.idxfs("tasks", "wait", fmt.Sprint(uid)); r.code != 0 {
		t.Errorf("tasks wait %d after snapshot import --no-wait: %v", uid, r)
	}
	if child != 0 {
		until(t, time.Minute, "the import's detached child to exit", func() bool { return gone(child) })
	}
	until(t, time.Minute, "import/copy to go", func() bool { return !exists(e.path("import", "copy")) })
	if e.exportOf("copy") != e.exportOf("small") {
		t.Error("the index imported with --no-wait does not hold small's documents")
	}

	uid, child = e.noWait("indexCreation", "fresh", "index", "create", "fresh")
	if r := e.idxfs("tasks", "wait", fmt.Sprint(uid)); r.code != 0 || !exists(e.path("indexes", "fresh")) {
		t.Errorf("tasks wait %d after index create --no-wait: %v", uid, r)
	}
	if child != 0 {
		until(t, time.Minute, "the mkdir's detached child to exit", func() bool { return gone(child) })
	}
	uid, child = e.noWait("indexRename", "fresh", "index", "rename", "fresh", "fresh2")
	if r := e.idxfs("tasks", "wait", fmt.Sprint(uid)); r.code != 0 || !exists(e.path("indexes", "fresh2")) {
		t.Errorf("tasks wait %d after index rename --no-wait: %v", uid, r)
	}
	if child != 0 {
		until(t, time.Minute, "the rename's detached child to exit", func() bool { return gone(child) })
	}
	uid, child = e.noWait("indexSwap", "fresh2", "index", "swap", "fresh2", "copy")
	if r := e.idxfs("tasks", "wait", fmt.Sprint(uid)); r.code != 0 || e.exportOf("fresh2") != e.exportOf("small") {
		t.Errorf("tasks wait %d after index swap --no-wait: %v", uid, r)
	}
	if child != 0 {
		until(t, time.Minute, "the swap's detached child to exit", func() bool { return gone(child) })
	}
	uid, child = e.noWait("indexDeletion", "copy", "index", "delete", "copy")
	if r := e.idxfs("tasks", "wait", fmt.Sprint(uid)); r.code != 0 || exists(e.path("indexes", "copy")) {
		t.Errorf("tasks wait %d after index delete --no-wait: %v", uid, r)
	}
	if child != 0 {
		until(t, time.Minute, "the rmdir's detached child to exit", func() bool { return gone(child) })
	}

	// --json prints the task, as unmounted; a refusal with no task says
	// what the waiting command says.
	r := e.idxfs("index", "create", "other", "--no-wait", "--json")
	var tk task
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &tk) != nil || tk.Type != "indexCreation" || tk.IndexUID != "other" || tk.UID == 0 {
		t.Errorf("index create --no-wait --json through the mount: %v", r)
	}
	e.idxfs("tasks", "wait", fmt.Sprint(tk.UID))
	refused, waited := e.idxfs("index", "create", "big", "--no-wait"), e.idxfs("index", "create", "big")
	if refused.code == 0 || refused.code != waited.code || refused.stderr != waited.stderr {
		t.Errorf("index create of an existing index, --no-wait: %v; without: %v", refused, waited)
	}
	if c := mountCallChild(t, e.mnt); c != 0 {
		until(t, time.Minute, "every detached child to exit", func() bool { return gone(c) })
	}
}

// TestNoWaitDocumentsThroughMount: documents add (FILE), replace (stdin)
// and delete with --no-wait through the mount return the task, as
// unmounted; the detached child writes the payload, which the CLI copied to
// a private file of $TMPDIR, and removes that file after its call; a
// refusal says what the waiting command says.
func TestNoWaitDocumentsThroughMount(t *testing.T) {
	e := newEnv(t, map[string]int{"docs": 50})
	dir := t.TempDir()
	more, fewer := filepath.Join(dir, "more.ndjson"), filepath.Join(dir, "fewer.ndjson")
	writeDocs(t, more, 51, 100)
	writeDocs(t, fewer, 1, 20)
	stdin, err := os.ReadFile(fewer)
	if err != nil {
		t.Fatal(err)
	}
	e.mount()
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp) // the CLI's, and so its child's
	settled := func(what string, uid uint64, child int, docs int) {
		t.Helper()
		if r := e.idxfs("tasks", "wait", fmt.Sprint(uid)); r.code != 0 {
			t.Errorf("tasks wait %d after %s --no-wait: %v", uid, what, r)
		}
		if child != 0 {
			until(t, time.Minute, "the detached child of "+what+" to exit", func() bool { return gone(child) })
		}
		if left, _ := os.ReadDir(tmp); len(left) != 0 {
			t.Errorf("%s --no-wait: its child has exited, and $TMPDIR still holds %v", what, left)
		}
		if n := strings.Count(e.exportOf("docs"), "\n"); n != docs {
			t.Errorf("after %s --no-wait and tasks wait: %d documents, want %d", what, n, docs)
		}
	}

	uid, child := e.noWait("documentAdditionOrUpdate", "docs", "documents", "add", "docs", more)
	settled("documents add FILE", uid, child, 150)
	uid, child = e.noWaitIn(stdin, "documentAdditionOrUpdate", "docs", "documents", "replace", "docs")
	settled("documents replace from stdin", uid, child, 20)
	if !strings.Contains(e.exportOf("docs"), `"id":20,`) || strings.Contains(e.exportOf("docs"), `"id":21,`) {
		t.Error("documents replace --no-wait from stdin: the index does not hold exactly the documents of stdin")
	}
	uid, child = e.noWait("documentDeletion", "docs", "documents", "delete", "docs", "1", "2")
	settled("documents delete", uid, child, 18)
	if strings.Contains(e.exportOf("docs"), `"id":1,`) {
		t.Error("documents delete --no-wait: document 1 is still there")
	}

	for _, args := range [][]string{
		{"documents", "add", "missing", more},
		{"documents", "replace", "missing", more},
		{"documents", "delete", "missing", "1"},
	} {
		waited := e.idxfs(args...)
		refused := e.idxfs(append(args, "--no-wait")...)
		if refused.code == 0 || refused.code != waited.code || refused.stderr != waited.stderr {
			t.Errorf("%s of a missing index, --no-wait: %v; without: %v", strings.Join(args, " "), refused, waited)
		}
		if c := mountCallChild(t, e.mnt); c != 0 {
			until(t, time.Minute, "the refused call's child to exit", func() bool { return gone(c) })
		}
		if left, _ := os.ReadDir(tmp); len(left) != 0 {
			t.Errorf("%s --no-wait, refused: $TMPDIR still holds %v", strings.Join(args, " "), left)
		}
	}
}
