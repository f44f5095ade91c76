package integration

import (
	"bytes"
	"crypto/sha256"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// checks are what a user does with the CLI, each on a data dir of its own,
// like go-fuse's posixtest.All.
var checks = map[string]func(t *testing.T, h *harness){
	"Version":                 checkVersion,
	"DataDirFromEnvironment":  checkDataDirFromEnvironment,
	"DocumentsRoundTrip":      checkDocumentsRoundTrip,
	"BadDocumentInLargeBatch": checkBadDocumentInLargeBatch,
	"TwoProcesses":            checkTwoProcesses,
	"SnapshotCreate":          checkSnapshotCreate,
	"SnapshotImport":          checkSnapshotImport,
	"SnapshotImportExisting":  checkSnapshotImportExisting,
	"SnapshotImportCorrupt":   checkSnapshotImportCorrupt,
	"SnapshotWithTools":       checkSnapshotWithTools,
	"Interrupt":               checkInterrupt,
}

func TestCLI(t *testing.T) {
	names := make([]string, 0, len(checks))
	for name := range checks {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			checks[name](t, newHarness(t))
		})
	}
}

func checkVersion(t *testing.T, h *harness) {
	out := h.must("version")
	if !regexp.MustCompile(`(?m)^idxfs \S+`).MatchString(out) {
		t.Errorf("idxfs version: %q, want a line starting with idxfs and the version", out)
	}
}

// checkDataDirFromEnvironment: without --data-dir, the data dir is
// $IDXFS_DATA_DIR, else $XDG_DATA_HOME/idxfs, else ~/.local/share/idxfs.
func checkDataDirFromEnvironment(t *testing.T, h *harness) {
	home, xdg := h.path("home"), h.path("xdg")
	for _, tt := range []struct {
		env  []string
		name string // index to create
		dir  string // where it lands
	}{
		{[]string{"IDXFS_DATA_DIR=" + h.data, "XDG_DATA_HOME=" + xdg}, "fromenv", h.data},
		{[]string{"XDG_DATA_HOME=" + xdg}, "fromxdg", filepath.Join(xdg, "idxfs")},
		{nil, "fromhome", filepath.Join(home, ".local", "share", "idxfs")},
	} {
		cmd := exec.Command(binary, "index", "create", tt.name)
		cmd.Env = append([]string{"HOME=" + home, "PATH=" + os.Getenv("PATH")}, tt.env...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s idxfs index create %s: %v\n%s", strings.Join(cmd.Env, " "), tt.name, err, out)
		}
		if _, _, code := idxfs(t, tt.dir, "index", "show", tt.name); code != 0 {
			t.Errorf("%s idxfs index create %s: the index is not in %s", strings.Join(tt.env, " "), tt.name, tt.dir)
		}
	}
}

func checkDocumentsRoundTrip(t *testing.T, h *harness) {
	h.must("index", "create", "movies", "--primary-key", "id")

	// From a file (NDJSON), from stdin (a JSON array), from - (NDJSON
	// updates of the first 100).
	h.must("documents", "add", "movies", h.write("a.ndjson", ndjson(1, 3001, 0)))
	h.mustIn(bytes.NewReader(jsonArray(3001, 4001, 0)), "documents", "add", "movies")
	h.mustIn(bytes.NewReader(ndjson(1, 101, 1)), "documents", "add", "movies", "-")
	want := string(ndjson(1, 101, 1)) + string(ndjson(101, 4001, 0))
	if got := h.must("documents", "export", "movies"); got != want {
		t.Fatalf("export differs from what was added (%d bytes, want %d)", len(got), len(want))
	}
	if in := h.show("movies"); in.NumberOfDocuments != 4000 || in.PrimaryKey != "id" {
		t.Errorf("index show: %+v, want 4000 documents, primary key id", in)
	}
	if got, want := h.must("documents", "get", "movies", "42"), string(ndjson(42, 43, 1)); got != want {
		t.Errorf("documents get movies 42: %q, want %q", got, want)
	}

	h.must("documents", "delete", "movies", "42", "43")
	want = string(ndjson(1, 42, 1)) + string(ndjson(44, 101, 1)) + string(ndjson(101, 4001, 0))
	if got := h.must("documents", "export", "movies"); got != want {
		t.Errorf("export after deleting 42 and 43 differs")
	}
	if _, stderr, code := h.run("documents", "get", "movies", "42"); code != 4 || !strings.Contains(stderr, "42") {
		t.Errorf("documents get of a deleted document: exit %d, %q; want 4, naming 42", code, stderr)
	}

	h.must("documents", "replace", "movies", h.write("b.json", jsonArray(5000, 5100, 2)))
	if got, want := h.must("documents", "export", "movies"), string(ndjson(5000, 5100, 2)); got != want {
		t.Errorf("export after replace differs:\n%.300s\nwant\n%.300s", got, want)
	}
	if in := h.show("movies"); in.NumberOfDocuments != 100 {
		t.Errorf("after replace: %d documents, want 100", in.NumberOfDocuments)
	}

	if out := h.must("index", "list"); !strings.Contains(out, "movies") {
		t.Errorf("index list does not show movies:\n%s", out)
	}
	h.must("index", "delete", "movies")
	var ins []indexInfo
	h.mustJSON(&ins, "index", "list", "--json")
	if len(ins) != 0 {
		t.Errorf("index list after delete: %+v", ins)
	}
	if _, _, code := h.run("documents", "export", "movies"); code != 4 {
		t.Errorf("export of a deleted index: exit %d, want 4", code)
	}
}

func checkBadDocumentInLargeBatch(t *testing.T, h *harness) {
	h.must("index", "create", "movies", "--primary-key", "id")
	h.mustIn(bytes.NewReader(ndjson(1, 1001, 0)), "documents", "add", "movies")
	before := h.must("documents", "export", "movies")
	version := h.show("movies").Version

	// 50,000 documents, the 31,337th without its primary key.
	const n, bad = 50_000, 31_337
	lines := bytes.SplitAfter(ndjson(1, n+1, 1), []byte("\n"))
	lines[bad-1] = []byte(`{"title":"no id","year":2001}` + "\n")
	file := h.write("big.ndjson", bytes.Join(lines, nil))

	_, stderr, code := h.run("documents", "add", "movies", file)
	if code != 6 {
		t.Fatalf("documents add with a bad line: exit %d, want 6\n%s", code, stderr)
	}
	if !regexp.MustCompile(`\bline 31337\b`).MatchString(stderr) || !strings.Contains(stderr, `"movies"`) {
		t.Errorf("stderr does not name index movies and line 31337:\n%s", stderr)
	}
	if after := h.must("documents", "export", "movies"); after != before {
		t.Errorf("the failed addition changed the documents")
	}
	if v := h.show("movies").Version; v != version {
		t.Errorf("the failed addition changed the version: %d, was %d", v, version)
	}
	var failed []taskInfo
	h.mustJSON(&failed, "tasks", "list", "--status", "failed", "--json")
	if len(failed) != 1 || failed[0].Error == nil || failed[0].Error.Code != "missing_primary_key" {
		t.Errorf("failed tasks: %+v, want the addition, with code missing_primary_key", failed)
	}
}

func checkTwoProcesses(t *testing.T, h *harness) {
	h.must("index", "create", "movies", "--primary-key", "id")

	// The first process reads its documents from a pipe that stays open:
	// it holds the data dir until the pipe closes.
	cmd := h.command("documents", "add", "movies")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var firstErr bytes.Buffer
	cmd.Stderr = &firstErr
	first := h.start(cmd)
	if _, err := stdin.Write(ndjson(1, 1001, 0)); err != nil {
		t.Fatal(err)
	}
	pid := first.Process.Pid

	// Wait until LOCK records it.
	lockPID := regexp.MustCompile(`"pid":\s*(\d+)`)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		b, _ := os.ReadFile(filepath.Join(h.data, "LOCK"))
		if m := lockPID.FindSubmatch(b); m != nil && string(m[1]) == strconv.Itoa(pid) {
			break
		}
		select {
		case <-first.exited:
			t.Fatalf("the first process exited before it took the data dir: %v\n%s", first.err, firstErr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("LOCK does not record pid %d after 30s: %q", pid, b)
		}
	}

	// A second process is told who holds it.
	holder := regexp.MustCompile(`\bpid (\d+)\b`)
	for _, args := range [][]string{{"index", "list"}, {"index", "create", "other"}} {
		_, stderr, code := h.run(args...)
		if code != 3 {
			t.Errorf("idxfs %s while another process holds the data dir: exit %d, want 3\n%s", strings.Join(args, " "), code, stderr)
		}
		if m := holder.FindStringSubmatch(stderr); m == nil || m[1] != strconv.Itoa(pid) {
			t.Errorf("idxfs %s: stderr does not name the holder, pid %d:\n%s", strings.Join(args, " "), pid, stderr)
		}
	}

	// Both finish once the pipe closes.
	if _, err := stdin.Write(ndjson(1001, 2001, 0)); err != nil {
		t.Fatal(err)
	}
	stdin.Close()
	if code := first.wait(t, time.Minute); code != 0 {
		t.Fatalf("the first process: exit %d\n%s", code, firstErr.String())
	}
	var ins []indexInfo
	h.mustJSON(&ins, "index", "list", "--json")
	if len(ins) != 1 || ins[0].UID != "movies" || ins[0].NumberOfDocuments != 2000 {
		t.Errorf("index list: %+v, want movies with 2000 documents (and no index other)", ins)
	}
}

// snapshotSource creates index src with 3,000 movies and returns its export.
func snapshotSource(h *harness) string {
	h.t.Helper()
	h.must("index", "create", "src", "--primary-key", "id")
	h.must("documents", "add", "src", h.write("src.ndjson", ndjson(1, 3001, 0)))
	return h.must("documents", "export", "src")
}

func checkSnapshotCreate(t *testing.T, h *harness) {
	snapshotSource(h)
	out := h.must("snapshot", "create", "src")
	path := strings.TrimSuffix(out, "\n")
	if strings.Contains(path, "\n") || filepath.Dir(path) != filepath.Join(h.data, "snapshots", "indexes", "src") {
		t.Fatalf("snapshot create printed %q, want the path of the snapshot in %s", out, filepath.Join(h.data, "snapshots", "indexes", "src"))
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o400 || !st.Mode().IsRegular() {
		t.Errorf("snapshot %s: mode %v, want -r-------- (issue 7: the owner's, as the data dir is)", path, st.Mode())
	}
	stored, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}

	// -o FILE and -o - give the same bytes: the index did not change.
	h.must("snapshot", "create", "src", "-o", h.path("copy.tgz"))
	if b, err := os.ReadFile(h.path("copy.tgz")); err != nil || !bytes.Equal(b, stored) {
		t.Errorf("snapshot create -o FILE: %d bytes (%v), not the stored snapshot's %d", len(b), err, len(stored))
	}
	if b := h.must("snapshot", "create", "src", "-o", "-"); b != string(stored) {
		t.Errorf("snapshot create -o -: %d bytes, not the stored snapshot's %d", len(b), len(stored))
	}
	var list []struct {
		IndexUID          string `json:"indexUid"`
		Path              string `json:"path"`
		NumberOfDocuments int    `json:"numberOfDocuments"`
	}
	h.mustJSON(&list, "snapshot", "list", "--json")
	if len(list) != 1 || list[0].Path != path || list[0].NumberOfDocuments != 3000 {
		t.Errorf("snapshot list: %+v, want the one snapshot %s", list, path)
	}
	if out := h.must("snapshot", "list"); !strings.Contains(out, path) {
		t.Errorf("snapshot list does not show %s:\n%s", path, out)
	}

	if out := h.must("snapshot", "verify", h.path("copy.tgz")); !strings.Contains(out, "ok") {
		t.Errorf("snapshot verify: %q", out)
	}
	var md struct {
		IndexUID          string `json:"indexUid"`
		NumberOfDocuments int    `json:"numberOfDocuments"`
		PrimaryKey        string `json:"primaryKey"`
	}
	h.mustJSON(&md, "snapshot", "inspect", path)
	if md.IndexUID != "src" || md.NumberOfDocuments != 3000 || md.PrimaryKey != "id" {
		t.Errorf("snapshot inspect: %+v", md)
	}
}

func checkSnapshotImport(t *testing.T, h *harness) {
	want := snapshotSource(h)
	archive := h.path("src.tgz")
	h.must("snapshot", "create", "src", "-o", archive)
	f, err := os.Open(archive)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()

	h.must("snapshot", "import", archive, "--as", "new")
	h.mustIn(f, "snapshot", "import", "-", "--as", "new2")
	h.must("index", "delete", "src")
	h.must("snapshot", "import", archive)
	for _, name := range []string{"new", "new2", "src"} {
		if got := h.must("documents", "export", name); got != want {
			t.Errorf("index %s: its export differs from the source's", name)
		}
		if in := h.show(name); in.NumberOfDocuments != 3000 || in.PrimaryKey != "id" {
			t.Errorf("index %s: %+v", name, in)
		}
	}
	// The imported indexes are indexes like any other.
	h.mustIn(bytes.NewReader(ndjson(3001, 3002, 0)), "documents", "add", "new")
	if in := h.show("new"); in.NumberOfDocuments != 3001 {
		t.Errorf("after adding to an imported index: %d documents, want 3001", in.NumberOfDocuments)
	}
}

func checkSnapshotImportExisting(t *testing.T, h *harness) {
	snapshotSource(h)
	archive := h.path("src.tgz")
	h.must("snapshot", "create", "src", "-o", archive)
	h.must("index", "create", "other", "--primary-key", "id")
	h.mustIn(bytes.NewReader(ndjson(7, 9, 5)), "documents", "add", "other")
	before := map[string]string{}
	versions := map[string]uint64{}
	for _, name := range []string{"src", "other"} {
		before[name] = h.must("documents", "export", name)
		versions[name] = h.show(name).Version
	}
	for _, args := range [][]string{
		{"snapshot", "import", archive},
		{"snapshot", "import", archive, "--as", "other"},
		{"snapshot", "import", "--as", "src", archive},
	} {
		_, stderr, code := h.run(args...)
		if code != 5 {
			t.Errorf("idxfs %s: exit %d, want 5\n%s", strings.Join(args, " "), code, stderr)
		}
	}
	for _, name := range []string{"src", "other"} {
		if got := h.must("documents", "export", name); got != before[name] {
			t.Errorf("index %s changed", name)
		}
		if v := h.show(name).Version; v != versions[name] {
			t.Errorf("index %s: version %d, was %d", name, v, versions[name])
		}
	}
}

func checkSnapshotImportCorrupt(t *testing.T, h *harness) {
	snapshotSource(h)
	archive := h.path("src.tgz")
	h.must("snapshot", "create", "src", "-o", archive)
	good, err := os.ReadFile(archive)
	if err != nil {
		t.Fatal(err)
	}
	flipped := bytes.Clone(good)
	flipped[len(flipped)/2] ^= 0x55
	bad := map[string][]byte{
		"truncated": good[:len(good)/2],
		"cut short": good[:len(good)-1],
		"flipped":   flipped,
		"not gzip":  []byte("just some text\n"),
		"empty":     nil,
	}
	var names []string
	for name := range bad {
		names = append(names, name)
	}
	slices.Sort(names)
	indexes := func() (names []string) {
		var ins []indexInfo
		h.mustJSON(&ins, "index", "list", "--json")
		for _, in := range ins {
			names = append(names, in.UID)
		}
		return names
	}
	before := indexes()
	for i, name := range names {
		file := h.write("bad"+strconv.Itoa(i)+".tgz", bad[name])
		for _, viaStdin := range []bool{false, true} {
			args := []string{"snapshot", "import", file, "--as", "imp"}
			in := io.Reader(nil)
			if viaStdin {
				args[2], in = "-", bytes.NewReader(bad[name])
			}
			_, stderr, code := h.runIn(in, args...)
			if code != 6 {
				t.Errorf("%s archive, import %s: exit %d, want 6\n%s", name, args[2], code, stderr)
			}
			if !strings.Contains(stderr, `"imp"`) && !strings.Contains(stderr, "stdin") {
				t.Errorf("%s archive, import %s: stderr names neither the index nor stdin:\n%s", name, args[2], stderr)
			}
			if got := indexes(); !slices.Equal(got, before) {
				t.Errorf("%s archive, import %s: the indexes are %q, were %q", name, args[2], got, before)
			}
			tmp, err := os.ReadDir(filepath.Join(h.data, "tmp"))
			if err != nil || len(tmp) != 0 {
				t.Errorf("%s archive, import %s: DATA/tmp holds %v (%v), want nothing", name, args[2], tmp, err)
			}
		}
		if _, _, code := h.run("snapshot", "verify", file); code != 6 {
			t.Errorf("%s archive: snapshot verify: exit %d, want 6", name, code)
		}
	}
	// The good archive still imports under the name the bad ones wanted.
	h.must("snapshot", "import", archive, "--as", "imp")
}

func checkSnapshotWithTools(t *testing.T, h *harness) {
	gzip, tar, sha := requireTool(t, "gzip"), requireTool(t, "tar"), requireTool(t, "sha256sum")
	want := snapshotSource(h)
	archive := h.path("src.tgz")
	h.must("snapshot", "create", "src", "-o", archive)

	if out, err := exec.Command(gzip, "-t", archive).CombinedOutput(); err != nil {
		t.Errorf("gzip -t: %v\n%s", err, out)
	}
	out, err := exec.Command(tar, "tzf", archive).Output()
	if err != nil {
		t.Fatalf("tar tzf: %v", err)
	}
	entries := strings.Fields(string(out))
	if len(entries) < 3 || entries[0] != "metadata.json" || entries[len(entries)-1] != "SHA256SUMS" {
		t.Errorf("tar tzf: %q, want metadata.json first and SHA256SUMS last", entries)
	}
	for _, e := range entries[1 : len(entries)-1] {
		if !strings.HasPrefix(e, "index/") {
			t.Errorf("tar tzf: entry %q outside index/", e)
		}
	}

	// Extract it, check the checksums, re-pack it with tar as a single
	// gzip member: idxfs imports that too.
	x := h.path("x")
	if err := os.Mkdir(x, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(tar, "xzf", archive, "-C", x).CombinedOutput(); err != nil {
		t.Fatalf("tar xzf: %v\n%s", err, out)
	}
	c := exec.Command(sha, "-c", "--quiet", "SHA256SUMS")
	c.Dir = x
	if out, err := c.CombinedOutput(); err != nil {
		t.Errorf("sha256sum -c SHA256SUMS: %v\n%s", err, out)
	}
	repacked := h.path("repacked.tgz")
	if out, err := exec.Command(tar, "czf", repacked, "-C", x, "metadata.json", "index", "SHA256SUMS").CombinedOutput(); err != nil {
		t.Fatalf("tar czf: %v\n%s", err, out)
	}
	h.must("snapshot", "verify", repacked)
	h.must("snapshot", "import", repacked, "--as", "repacked")
	if got := h.must("documents", "export", "repacked"); got != want {
		t.Errorf("the index imported from tar's archive differs from the source")
	}
}

func checkInterrupt(t *testing.T, h *harness) {
	h.must("index", "create", "big", "--primary-key", "id")
	h.mustIn(bytes.NewReader(ndjson(1, 11, 0)), "documents", "add", "big")
	old := h.must("documents", "export", "big")

	// About 200 MB: 200,000 movies of about 1 KiB.
	const n = 200_000
	payload := h.path("big.ndjson")
	f, err := os.Create(payload)
	if err != nil {
		t.Fatal(err)
	}
	newSum := sha256.New()
	if err := writeNDJSON(io.MultiWriter(f, newSum), 1, n+1, 1, 900); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}

	cmd := h.command("--log-level", "info", "documents", "add", "big", payload)
	stderr := watchStderr(t, cmd, "task started")
	p := h.start(cmd)
	stderr.started()
	select {
	case <-stderr.found:
	case <-p.exited:
		t.Fatalf("idxfs exited before its task started: %v\n%s", p.err, stderr)
	case <-time.After(cmdTimeout):
		t.Fatalf("no \"task started\" after %v:\n%s", cmdTimeout, stderr)
	}
	start := time.Now()
	if err := p.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	code := p.wait(t, cmdTimeout)
	took := time.Since(start)
	<-stderr.eof
	if code != 130 {
		t.Errorf("exit %d after SIGINT, want 130\n%s", code, stderr)
	}
	if took > 10*time.Second {
		t.Errorf("exited %v after SIGINT, want < 10s", took)
	}

	var tasks []taskInfo
	h.mustJSON(&tasks, "tasks", "list", "--index", "big", "--type", "documentAdditionOrUpdate", "--json")
	if len(tasks) != 2 {
		t.Fatalf("tasks: %+v, want the two additions", tasks)
	}
	st := tasks[0].Status
	if st != "canceled" && st != "succeeded" {
		t.Errorf("the interrupted task is %s, want canceled or succeeded", st)
	}
	// All old or all new.
	export, err := os.Create(h.path("export.ndjson"))
	if err != nil {
		t.Fatal(err)
	}
	defer export.Close()
	if _, stderr, code := idxfsIO(t, h.data, nil, export, "documents", "export", "big"); code != 0 {
		t.Fatalf("documents export: exit %d\n%s", code, stderr)
	}
	if _, err := export.Seek(0, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	sum := sha256.New()
	size, err := io.Copy(sum, export)
	if err != nil {
		t.Fatal(err)
	}
	oldSum := sha256.Sum256([]byte(old))
	isOld := bytes.Equal(sum.Sum(nil), oldSum[:])
	isNew := bytes.Equal(sum.Sum(nil), newSum.Sum(nil))
	switch {
	case st == "canceled" && !isOld:
		t.Errorf("the task was canceled, but the index holds %d bytes of documents that are not the old ones", size)
	case st == "succeeded" && !isNew:
		t.Errorf("the task succeeded, but the index does not hold exactly the new documents (%d bytes)", size)
	}
	t.Logf("SIGINT: task %s, exit after %v", st, took.Round(time.Millisecond))
}
