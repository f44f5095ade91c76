package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/idxfs/idxfs/integration/bintest"
)

// The full-disk checks of issue 7 for the CLI, each on a data dir of its own
// on a real small filesystem (a tmpfs, which needs root): a write that does
// not fit fails its task with no_space_left (exit 7), leaves the index and
// the data dir as they were, and works once there is room; commands that
// only read work on a full disk, write nothing, and end at SIGTERM.
var diskFullChecks = map[string]func(t *testing.T, d *diskFull){
	"DocumentsAdd":     checkFullDocumentsAdd,
	"DocumentsReplace": checkFullDocumentsReplace,
	"Payload":          checkFullPayload,
	"Snapshot":         checkFullSnapshot,
	"Import":           checkFullImport,
	"ReadCommands":     checkFullReadCommands,
}

func TestDiskFull(t *testing.T) {
	for name, check := range diskFullChecks {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			check(t, newDiskFull(t))
		})
	}
}

// diskFull is a data dir on a 64 MiB filesystem holding index "movies"
// with 4 MiB of documents.
type diskFull struct {
	*harness
	fs string // the small filesystem's root; the data dir is fs/data
}

const (
	smallFSSize = 64 << 20
	baseDocs    = 2000 // in "movies", 2 KiB each
)

func newDiskFull(t *testing.T) *diskFull {
	fsDir := bintest.SmallFS(t, smallFSSize)
	d := &diskFull{harness: &harness{t: t, data: filepath.Join(fsDir, "data"), dir: t.TempDir()}, fs: fsDir}
	d.must("index", "create", "movies", "--primary-key", "id")
	d.must("documents", "add", "movies", d.docs("base.ndjson", 1, baseDocs))
	return d
}

// docs writes n documents of about 2 KiB with ids from first on into the
// scratch dir and returns the path.
func (d *diskFull) docs(name string, first, n int) string {
	d.t.Helper()
	p := d.path(name)
	bintest.RandomDocs(d.t, p, first, n)
	return p
}

// fill leaves about leave bytes free on the small filesystem.
func (d *diskFull) fill(leave int64) (release func()) {
	d.t.Helper()
	return bintest.Fill(d.t, d.fs, leave)
}

func fileSize(t *testing.T, p string) int64 {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// state is what must not change when a write fails: the index as the CLI
// shows it and its documents.
func (d *diskFull) state(name string) string {
	d.t.Helper()
	var in indexInfo
	d.mustJSON(&in, "index", "show", name, "--json")
	export := d.must("documents", "export", name)
	return fmt.Sprintf("%+v, %d bytes of documents, sum %x", in, len(export), sumOf(export))
}

func sumOf(s string) uint64 {
	var h uint64 = 14695981039346656037
	for i := 0; i < len(s); i++ {
		h = (h ^ uint64(s[i])) * 1099511628211
	}
	return h
}

// failsNoSpace runs a command that must fail for lack of space: exit 7,
// and a message saying so (with the code when a task failed).
func (d *diskFull) failsNoSpace(wantCode bool, args ...string) string {
	d.t.Helper()
	_, stderr, code := d.run(args...)
	if strings.Contains(stderr, "fatal error") || strings.Contains(stderr, "panic") {
		d.t.Fatalf("idxfs %s crashed (exit %d):\n%s", strings.Join(args, " "), code, clipLog(stderr))
	}
	if code != 7 {
		d.t.Fatalf("idxfs %s: exit %d, want 7 (disk full)\n%s", strings.Join(args, " "), code, clipLog(stderr))
	}
	if !strings.Contains(stderr, "no space left on device") || (wantCode && !strings.Contains(stderr, "no_space_left")) {
		d.t.Errorf("idxfs %s: the error does not say the disk is full:\n%s", strings.Join(args, " "), clipLog(stderr))
	}
	return stderr
}

// lastTask is the newest task of a type.
func (d *diskFull) lastTask(typ string) taskInfo {
	d.t.Helper()
	var ts []taskInfo
	d.mustJSON(&ts, "tasks", "list", "--type", typ, "--limit", "1", "--json")
	if len(ts) != 1 {
		d.t.Fatalf("no %s task", typ)
	}
	return ts[0]
}

// clean checks that nothing a failed write staged is left.
func (d *diskFull) clean() {
	d.t.Helper()
	for _, sub := range []string{"tmp", "payloads"} {
		if names := dirList(d.t, filepath.Join(d.data, sub)); len(names) > 0 {
			d.t.Errorf("%s/ holds %v after the failed write", sub, names)
		}
	}
}

func dirList(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

func clipLog(s string) string {
	if len(s) > 3000 {
		return s[:1500] + "\n...\n" + s[len(s)-1500:]
	}
	return s
}

// checkFullDocumentsAdd: the payload fits on the disk, its indexing does
// not (issue 7, item 1: the process died in pebble's rotateWAL and the CLI
// exited 2).
func checkFullDocumentsAdd(t *testing.T, d *diskFull) {
	// 100 updates, 3900 new: 8 MiB
	d.documentsDoNotFit("add", d.docs("add.ndjson", baseDocs-99, 4000), baseDocs+3900)
}

func checkFullDocumentsReplace(t *testing.T, d *diskFull) {
	d.documentsDoNotFit("replace", d.docs("all.ndjson", 1, 4000), 4000)
}

// documentsDoNotFit runs `documents CMD movies payload` on a disk with
// room for the payload but not for its indexing, then again once there is
// room, after which the index must hold want documents.
func (d *diskFull) documentsDoNotFit(cmd, payload string, want int) {
	d.t.Helper()
	before := d.state("movies")
	release := d.fill(fileSize(d.t, payload) + 6<<20)
	d.failsNoSpace(true, "documents", cmd, "movies", payload)
	if tk := d.lastTask("documentAdditionOrUpdate"); tk.Status != "failed" || tk.Error == nil || tk.Error.Code != "no_space_left" {
		d.t.Errorf("the task: %+v, want failed with no_space_left", tk)
	}
	if after := d.state("movies"); after != before {
		d.t.Errorf("the index changed:\nbefore %s\nafter  %s", before, after)
	}
	d.clean()
	release()
	d.must("documents", cmd, "movies", payload)
	if in := d.show("movies"); in.NumberOfDocuments != want {
		d.t.Errorf("after freeing space: %d documents, want %d", in.NumberOfDocuments, want)
	}
}

// checkFullPayload: the payload itself does not fit in DATA/payloads: exit
// 7 as the README says (it was 1), no task, nothing left behind.
func checkFullPayload(t *testing.T, d *diskFull) {
	payload := d.docs("add.ndjson", 10_000, 2000)
	before := d.state("movies")
	tasksBefore := d.must("tasks", "list", "--json")
	d.fill(1 << 20)
	d.failsNoSpace(false, "documents", "add", "movies", payload)
	if after := d.state("movies"); after != before {
		t.Errorf("the index changed:\nbefore %s\nafter  %s", before, after)
	}
	if got := d.must("tasks", "list", "--json"); got != tasksBefore {
		t.Errorf("tasks changed by an addition whose payload did not fit:\n%s", got)
	}
	d.clean()
}

// checkFullSnapshot: a snapshot that does not fit fails its task with
// no_space_left, leaves nothing in tmp/ or the store, and works later.
func checkFullSnapshot(t *testing.T, d *diskFull) {
	release := d.fill(3 << 20) // room to open the data dir, not for the snapshot
	d.failsNoSpace(true, "snapshot", "create", "movies")
	if tk := d.lastTask("singleIndexSnapshotCreation"); tk.Error == nil || tk.Error.Code != "no_space_left" {
		t.Errorf("the snapshot's task: %+v, want failed with no_space_left", tk)
	}
	if out := d.must("snapshot", "list"); strings.Contains(out, "movies_") {
		t.Errorf("a snapshot is stored after a failed creation:\n%s", out)
	}
	d.clean()
	release()
	out := d.must("snapshot", "create", "movies")
	if !strings.Contains(out, ".idx.snapshot") {
		t.Errorf("snapshot create after freeing space: %q", out)
	}
}

// checkFullImport: an archive that does not fit is ENOSPC (issue 7, item 4:
// it was EFBIG, "File too large"), and the message says how much is needed
// and how much is free.
func checkFullImport(t *testing.T, d *diskFull) {
	archive := d.path("movies.tar.gz")
	d.must("snapshot", "create", "movies", "-o", archive)
	release := d.fill(3 << 20) // room to open the data dir, not for the index
	stderr := d.failsNoSpace(true, "snapshot", "import", archive, "--as", "copy")
	if !strings.Contains(stderr, "MiB of files") || !strings.Contains(stderr, "free") {
		t.Errorf("the import's error does not say how much it needs and how much is free:\n%s", stderr)
	}
	if _, _, code := d.run("index", "show", "copy"); code != 4 {
		t.Errorf("index show copy after the failed import: exit %d, want 4", code)
	}
	d.clean()
	release()
	d.must("snapshot", "import", archive, "--as", "copy")
	if in := d.show("copy"); in.NumberOfDocuments != baseDocs {
		t.Errorf("imported %d documents, want %d", in.NumberOfDocuments, baseDocs)
	}
}

// checkFullReadCommands: on a full disk every reading command works at
// once and writes nothing (issue 7, item 2: `tasks list` spun for ten
// minutes, writing millions of log lines, and ignored SIGTERM), and a
// command that waits ends within seconds of SIGTERM.
func checkFullReadCommands(t *testing.T, d *diskFull) {
	// Unflushed task records in the meta database's WAL: what a
	// read-write open replays into a flush.
	for i := range 5 {
		d.must("documents", "delete", "movies", fmt.Sprint(i+1))
	}
	release := d.fill(0)
	before := treeOf(t, d.data)
	for _, args := range [][]string{
		{"tasks", "list"}, {"tasks", "show", "1"}, {"index", "list"}, {"index", "show", "movies"},
		{"documents", "get", "movies", "42"}, {"documents", "export", "movies"}, {"snapshot", "list"},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		cmd := command(ctx, d.data, args...)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		start := time.Now()
		err := cmd.Run()
		cancel()
		if took := time.Since(start); took > 10*time.Second || err != nil { // 10 ms when idle
			t.Errorf("idxfs %s on a full disk: %v after %v\n%s", strings.Join(args, " "), err, took.Round(time.Millisecond), clipLog(stderr.String()))
		}
		if stderr.Len() > 0 {
			t.Errorf("idxfs %s on a full disk wrote to stderr:\n%s", strings.Join(args, " "), clipLog(stderr.String()))
		}
	}
	if after := treeOf(t, d.data); after != before {
		t.Errorf("reading commands changed the data dir:\nbefore:\n%s\nafter:\n%s", before, after)
	}

	// A command that blocks (on its input) ends at SIGTERM.
	release()
	cmd := d.command("documents", "add", "movies")
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pw.Close()
	cmd.Stdin = pr
	p := d.start(cmd)
	pr.Close()
	// It records its pid in LOCK once it opened the data dir; it then
	// reads its payload from stdin.
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(readFile(t, filepath.Join(d.data, "LOCK")), fmt.Sprintf(`"pid":%d,`, p.Process.Pid)) {
		if time.Now().After(deadline) {
			t.Fatal("documents add did not open the data dir within 30 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	start := time.Now()
	if err := p.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	code := p.wait(t, 10*time.Second)
	if took := time.Since(start); took > 5*time.Second { // the grace is 2 s; slack for a loaded machine
		t.Errorf("documents add ended %v after SIGTERM, want within 5 s", took.Round(time.Millisecond))
	}
	if code != 130 {
		t.Errorf("documents add after SIGTERM: exit %d, want 130", code)
	}
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return string(b)
}

// treeOf lists the files under dir with size and mtime, but the LOCK files
// (a reader locks them too).
func treeOf(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if fi.Name() != "LOCK" {
			fmt.Fprintf(&b, "%s %d %d\n", strings.TrimPrefix(p, dir), fi.Size(), fi.ModTime().UnixNano())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}
