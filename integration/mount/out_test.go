package mount

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// copyOut is one way a user copies a file out of the mount: it writes src
// to dst.
type copyOut struct {
	name  string
	tools []string
	cmd   func(src, dst string) []string
}

var copiesOut = []copyOut{
	{"cat", []string{"cat"}, func(s, d string) []string { return []string{"bash", "-c", fmt.Sprintf("cat %q > %q", s, d)} }},
	{"cp", []string{"cp"}, func(s, d string) []string { return []string{"cp", s, d} }},
	{"dd bs=1M", []string{"dd"}, func(s, d string) []string { return []string{"dd", "if=" + s, "of=" + d, "bs=1M", "status=none"} }},
	{"python shutil.copyfile", []string{"python3"}, func(s, d string) []string {
		return []string{"python3", "-c", "import shutil,sys; shutil.copyfile(sys.argv[1], sys.argv[2])", s, d}
	}},
	{"pv", []string{"pv"}, func(s, d string) []string { return []string{"bash", "-c", fmt.Sprintf("pv -q %q > %q", s, d)} }},
	{"rsync -a", []string{"rsync"}, func(s, d string) []string { return []string{"rsync", "-a", s, d} }},
}

// TestSnapshotOut: every tool copies snapshot.tar.gz of a multi-MB index
// byte-identically to what the others got, the copy verifies, sha256sum
// reads the same bytes, and tar of the index directory after one read holds
// the whole archive. The first reader makes the snapshot; the others reuse
// it (one creation task).
func TestSnapshotOut(t *testing.T) {
	e := newEnv(t, map[string]int{"movies": 20000})
	e.mount()
	src := e.path("indexes", "movies", "snapshot.tar.gz")
	out := t.TempDir()
	var first string
	for i, c := range copiesOut {
		t.Run(c.name, func(t *testing.T) {
			for _, tool := range c.tools {
				requireTool(t, tool)
			}
			dst := filepath.Join(out, fmt.Sprintf("%d.tar.gz", i))
			args := c.cmd(src, dst)
			if r := run(t, nil, args[0], args[1:]...); r.code != 0 {
				t.Fatalf("%s: %v", c.name, r)
			}
			sum := fileSum(t, dst)
			if first == "" {
				first = sum
				st, _ := os.Stat(dst)
				if st.Size() < 1<<20 {
					t.Fatalf("the snapshot is only %d bytes", st.Size())
				}
				if r := run(t, nil, bin, "snapshot", "verify", dst); r.code != 0 {
					t.Fatalf("the copy does not verify: %v", r)
				}
			} else if sum != first {
				t.Fatalf("%s got other bytes (sha256 %s) than the first tool (%s)", c.name, sum, first)
			}
		})
	}
	if first == "" {
		t.Fatal("no tool copied the snapshot")
	}
	t.Run("sha256sum", func(t *testing.T) {
		requireTool(t, "sha256sum")
		if got := strings.Fields(must(t, "sha256sum", src))[0]; got != first {
			t.Errorf("sha256sum of the mounted file = %s, copies = %s", got, first)
		}
	})
	t.Run("tar of the index directory", func(t *testing.T) {
		requireTool(t, "tar")
		tarball := filepath.Join(out, "dir.tar")
		must(t, "tar", "cf", tarball, "-C", e.path("indexes"), "movies")
		x := t.TempDir()
		must(t, "tar", "xf", tarball, "-C", x)
		if got := fileSum(t, filepath.Join(x, "movies", "snapshot.tar.gz")); got != first {
			t.Errorf("tar holds another snapshot.tar.gz (sha256 %s, want %s)", got, first)
		}
	})
	if n := count(e.tasks(), "singleIndexSnapshotCreation", "movies"); n != 1 {
		t.Errorf("%d snapshot creation tasks, want 1 (the later readers reuse it)", n)
	}
}

// TestRsyncBackup: rsync -a of indexes/ twice with no change sends no
// snapshot the second time and makes no snapshot task; after a change to
// one index the third run sends that index's snapshot only.
func TestRsyncBackup(t *testing.T) {
	requireTool(t, "rsync")
	e := newEnv(t, map[string]int{"a": 3000, "b": 3000})
	e.mount()
	backup := t.TempDir() + "/"
	rsync := func() map[string]bool {
		out := must(t, "rsync", "-a", "--stats", "--out-format=SENT %n", e.path("indexes")+"/", backup)
		sent := map[string]bool{}
		for _, l := range strings.Split(out, "\n") {
			if name, ok := strings.CutPrefix(l, "SENT "); ok {
				sent[name] = true
			}
		}
		return sent
	}
	sent := rsync()
	for _, n := range []string{"a/snapshot.tar.gz", "b/snapshot.tar.gz"} {
		if !sent[n] {
			t.Errorf("first run did not send %s: %v", n, sent)
		}
	}
	for _, n := range []string{"a", "b"} {
		if r := run(t, nil, bin, "snapshot", "verify", filepath.Join(backup, n, "snapshot.tar.gz")); r.code != 0 {
			t.Errorf("backup of %s does not verify: %v", n, r)
		}
	}
	creations := count(e.tasks(), "singleIndexSnapshotCreation", "")

	sent = rsync()
	if sent["a/snapshot.tar.gz"] || sent["b/snapshot.tar.gz"] {
		t.Errorf("second run with no change sent a snapshot: %v", sent)
	}
	if n := count(e.tasks(), "singleIndexSnapshotCreation", ""); n != creations {
		t.Errorf("second run made %d new snapshot tasks", n-creations)
	}

	sh(t, fmt.Sprintf(`echo '{"id": 99999, "title": "new"}' >> %q`, e.path("indexes", "a", "documents.ndjson")))
	sent = rsync()
	if !sent["a/snapshot.tar.gz"] || sent["b/snapshot.tar.gz"] {
		t.Errorf("after a change to a, third run sent %v; want a's snapshot and not b's", sent)
	}
	if n := count(e.tasks(), "singleIndexSnapshotCreation", "b"); n != 1 {
		t.Errorf("b was snapshotted %d times, want once", n)
	}
}

// TestConcurrentReaders: eight cats of one snapshot get the same bytes from
// one creation task.
func TestConcurrentReaders(t *testing.T) {
	e := newEnv(t, map[string]int{"m": 20000})
	e.mount("--snapshot-bwlimit", "4M")
	src := e.path("indexes", "m", "snapshot.tar.gz")
	dir := t.TempDir()
	var wg sync.WaitGroup
	res := make([]result, 8)
	for i := range res {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res[i] = run(t, nil, "bash", "-c", fmt.Sprintf("cat %q > %s/%d", src, dir, i))
		}()
	}
	wg.Wait()
	var first string
	for i, r := range res {
		if r.code != 0 {
			t.Fatalf("cat %d: %v", i, r)
		}
		sum := fileSum(t, fmt.Sprintf("%s/%d", dir, i))
		if i == 0 {
			first = sum
		} else if sum != first {
			t.Errorf("cat %d got other bytes", i)
		}
	}
	if n := count(e.tasks(), "singleIndexSnapshotCreation", "m"); n != 1 {
		t.Errorf("%d creation tasks for 8 concurrent readers, want 1", n)
	}
}

// TestStatNoWork: ls -l, find and du over the mount start no snapshot and
// return promptly; a stale snapshot.tar.gz has size 0, a fresh one its size.
func TestStatNoWork(t *testing.T) {
	e := newEnv(t, map[string]int{"a": 2000, "b": 0, "c": 100})
	e.mount()
	start := time.Now()
	must(t, "ls", "-lR", e.mnt)
	must(t, "find", e.mnt)
	must(t, "du", "-s", e.mnt)
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("ls, find and du took %v", d)
	}
	if n := count(e.tasks(), "singleIndexSnapshotCreation", ""); n != 0 {
		t.Errorf("stat started %d snapshot tasks", n)
	}
	snap := e.path("indexes", "a", "snapshot.tar.gz")
	st, err := os.Stat(snap)
	// 0444 masked by the data dir's 0700 (DESIGN-NOTES, "Owners and modes").
	if err != nil || st.Size() != 0 || st.Mode().Perm() != 0o400 || !st.Mode().IsRegular() {
		t.Fatalf("stat of a stale snapshot.tar.gz: %v, %v", st, err)
	}
	b, err := os.ReadFile(snap)
	if err != nil {
		t.Fatal(err)
	}
	st, _ = os.Stat(snap)
	if st.Size() != int64(len(b)) {
		t.Errorf("after a read, stat says %d bytes, the read got %d", st.Size(), len(b))
	}
	// Directory attributes that look sane to ls -l.
	line := must(t, "ls", "-ld", e.path("indexes"))
	if !regexp.MustCompile(`^d[rwx-]{9} +5 `).MatchString(line) {
		t.Errorf("ls -ld indexes/ = %q, want a directory with 5 links (2 + 3 indexes)", line)
	}
	var status struct {
		Indexes []struct{ UID string } `json:"indexes"`
	}
	if err := json.Unmarshal([]byte(must(t, "cat", e.path("status.json"))), &status); err != nil || len(status.Indexes) != 3 {
		t.Errorf("status.json: %+v, %v", status, err)
	}
}

// TestProgress: while a large snapshot is being made, polling the index's
// status.json shows the task processing with a rising percentage; after it
// the task file shows it succeeded with its details.
func TestProgress(t *testing.T) {
	e := newEnv(t, map[string]int{"big": 20000})
	e.mount("--snapshot-bwlimit", "1M") // a snapshot that takes seconds
	done := make(chan result)
	go func() {
		done <- run(t, nil, "bash", "-c", fmt.Sprintf("cat %q | wc -c", e.path("indexes", "big", "snapshot.tar.gz")))
	}()
	var seen []float64
	var uid uint64
poll:
	for {
		select {
		case r := <-done:
			if r.code != 0 {
				t.Fatalf("cat: %v", r)
			}
			break poll
		default:
		}
		b, err := os.ReadFile(e.path("indexes", "big", "status.json"))
		if err != nil {
			t.Fatal(err)
		}
		var st struct {
			TasksInFlight []task `json:"tasksInFlight"`
		}
		if err := json.Unmarshal(b, &st); err != nil {
			t.Fatalf("status.json does not parse: %v\n%s", err, b)
		}
		for _, tk := range st.TasksInFlight {
			if tk.Type == "singleIndexSnapshotCreation" && tk.Status == "processing" && tk.Progress != nil {
				uid = tk.UID
				if len(seen) == 0 || seen[len(seen)-1] != tk.Progress.Percentage {
					seen = append(seen, tk.Progress.Percentage)
				}
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(seen) < 3 {
		t.Fatalf("saw the snapshot processing at percentages %v: want at least 3 distinct values", seen)
	}
	for i := 1; i < len(seen); i++ {
		if seen[i] < seen[i-1] {
			t.Errorf("percentage fell: %v", seen)
		}
	}
	// open returned once the archive's bytes were complete; the task stores
	// the file (fsync, link) behind the read and then ends (README).
	var b []byte
	var tk task
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		var err error
		if b, err = os.ReadFile(e.path("tasks", strconv.FormatUint(uid, 10)+".json")); err != nil {
			t.Fatal(err)
		}
		tk = task{}
		json.Unmarshal(b, &tk)
		if tk.Status != "processing" || time.Now().After(deadline) {
			break
		}
	}
	var d struct {
		Path              string
		Size              int64
		NumberOfDocuments int
	}
	json.Unmarshal(tk.Details, &d)
	if tk.Status != "succeeded" || d.Size == 0 || d.NumberOfDocuments != 20000 || !strings.HasSuffix(d.Path, ".idx.snapshot") {
		t.Errorf("task after the snapshot: %s\n%s", tk.Status, b)
	}
}

// TestDocumentsOut: every tool reads all of documents.ndjson (its size is
// known at open, as for the snapshot), and the bytes agree.
func TestDocumentsOut(t *testing.T) {
	e := newEnv(t, map[string]int{"m": 3000})
	e.mount()
	src := e.path("indexes", "m", "documents.ndjson")
	if st, err := os.Stat(src); err != nil || st.Size() != 0 {
		t.Fatalf("stat before any read: %v, %v; want size 0 (no export cached)", st, err)
	}
	out := t.TempDir()
	var first string
	for i, c := range copiesOut {
		for _, tool := range c.tools {
			requireTool(t, tool)
		}
		dst := filepath.Join(out, fmt.Sprintf("%d.ndjson", i))
		args := c.cmd(src, dst)
		if r := run(t, nil, args[0], args[1:]...); r.code != 0 {
			t.Fatalf("%s: %v", c.name, r)
		}
		b, err := os.ReadFile(dst)
		if err != nil {
			t.Fatal(err)
		}
		if n := strings.Count(string(b), "\n"); n != 3000 {
			t.Errorf("%s copied %d documents of 3000", c.name, n)
		}
		if i == 0 {
			first = string(b)
		} else if string(b) != first {
			t.Errorf("%s got other bytes than %s", c.name, copiesOut[0].name)
		}
	}
	if st, err := os.Stat(src); err != nil || st.Size() != int64(len(first)) {
		t.Errorf("stat after a read: %v, %v; want the export's size %d", st, err, len(first))
	}
}

// TestExactStat: with --exact-stat, stat of a stale snapshot.tar.gz waits
// for a fresh snapshot, so that tar (which trusts lstat) includes it.
func TestExactStat(t *testing.T) {
	requireTool(t, "tar")
	e := newEnv(t, map[string]int{"m": 2000})
	e.mount("--exact-stat")
	st, err := os.Stat(e.path("indexes", "m", "snapshot.tar.gz"))
	if err != nil || st.Size() == 0 {
		t.Fatalf("stat with --exact-stat: %v, %v; want the snapshot's size", st, err)
	}
	tarball := filepath.Join(t.TempDir(), "m.tar")
	must(t, "tar", "cf", tarball, "-C", e.path("indexes"), "m")
	listing := must(t, "tar", "tvf", tarball)
	if !regexp.MustCompile(fmt.Sprintf(`\s%d .*m/snapshot\.tar\.gz`, st.Size())).MatchString(listing) {
		t.Errorf("tar of the index directory does not hold the %d-byte snapshot:\n%s", st.Size(), listing)
	}
}

// TestStatusFiles: cat, grep, jq and python's open().read() see the whole
// of every status file, and the JSON ones parse.
func TestStatusFiles(t *testing.T) {
	requireTool(t, "python3")
	requireTool(t, "jq")
	e := newEnv(t, map[string]int{"m": 500})
	e.mount()
	must(t, "cat", e.path("indexes", "m", "snapshot.tar.gz")) // a task, a snapshot: more to show
	for _, f := range []string{"status", "status.json", "indexes/m/status", "indexes/m/status.json", "tasks/1.json"} {
		p := e.path(f)
		catOut := must(t, "cat", p)
		if catOut == "" || !strings.HasSuffix(catOut, "\n") {
			t.Errorf("cat %s = %q", f, clip(catOut))
		}
		pyOut := must(t, "python3", "-c", "import sys; sys.stdout.write(open(sys.argv[1]).read())", p)
		if len(pyOut) < len(catOut)*9/10 {
			t.Errorf("python read %d bytes of %s, cat %d", len(pyOut), f, len(catOut))
		}
		if grep := run(t, nil, "grep", "-c", "", p); grep.code != 0 || strings.TrimSpace(grep.stdout) != fmt.Sprint(strings.Count(catOut, "\n")) {
			t.Errorf("grep -c of %s: %v (cat has %d lines)", f, grep, strings.Count(catOut, "\n"))
		}
		if strings.HasSuffix(f, ".json") {
			if r := run(t, nil, "jq", "-e", ".", p); r.code != 0 {
				t.Errorf("jq . %s: %v", f, r)
			}
		}
	}
	if got := strings.TrimSpace(must(t, "jq", "-r", ".latestSnapshot.fresh", e.path("indexes", "m", "status.json"))); got != "true" {
		t.Errorf("latestSnapshot.fresh = %s after a snapshot of the unchanged index", got)
	}
}
