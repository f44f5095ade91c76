package integration

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/idxfs/idxfs/integration/bintest"
)

// The crash test (issue 7, "Make it stay fixed"): the real binary is killed
// (-9) at random points of snapshot creation, import (CLI, cp into the
// mount, and a temporary name renamed into import/ as rsync does),
// documents add (CLI and the mount), index creation and deletion (CLI and
// rmdir); then idxfs restarts (a CLI command or a remount) and the data dir
// must hold:
//   - every stored snapshot verifies;
//   - every listed index opens and holds what the tasks that say succeeded
//     wrote (an addition whole or not at all), and no index directory is
//     left that no index names;
//   - tmp/ and payloads/ are empty once the queue is drained;
//   - every task record says what happened: an index exists if and only if
//     the tasks that say succeeded made it so.
//
// IDXFS_CRASH_SEED repeats a run; IDXFS_CRASH_ITERATIONS (kills) or
// IDXFS_CRASH_DURATION (a Go duration; default 45s) bounds it.

// crashRun is one crash test's state: the data dir, and what the tasks that
// succeeded say it holds.
type crashRun struct {
	t   *testing.T
	h   *harness
	rng *rand.Rand
	mnt string

	indexes  map[string]int // index → documents it must hold
	ranges   [][2]int       // ids added to "base", ascending
	pending  [2]int         // the ids the current iteration adds to base
	bigRev   int            // the revision "big" holds (bigDocs documents)
	bigNext  int            // the revision the current iteration writes to big (0: none)
	bigSums  map[int]string // revision → SHA-256 of its export
	archive  string         // an archive of base as it was after setup
	archDocs int
	checked  map[string]bool // stored snapshots verified, indexes exported
	lastUID  uint64          // the newest task accounted for
	nextID   int             // the first id of the next addition
	seq      int             // numbers new index names
	target   string          // what a scenario's prep made for it
	cost     map[string]time.Duration
	kills    int
}

// crashScenario is an operation to kill: start returns the command to run
// (the CLI itself, or a tool working on the mount, whose daemon is killed).
type crashScenario struct {
	name  string
	mount bool
	prep  func(r *crashRun) // before the mount, if any
	start func(r *crashRun) *exec.Cmd
}

var crashScenarios = []crashScenario{
	{name: "cli snapshot create", start: func(r *crashRun) *exec.Cmd {
		return r.cli("snapshot", "create", "base")
	}},
	{name: "cli import", start: func(r *crashRun) *exec.Cmd {
		return r.cli("snapshot", "import", r.archive, "--as", r.newName("imp"))
	}},
	{name: "cli documents add", start: func(r *crashRun) *exec.Cmd {
		return r.cli("documents", "add", "base", r.payload())
	}},
	{name: "cli documents replace, several batches", start: func(r *crashRun) *exec.Cmd {
		return r.cli("documents", "replace", "big", r.bigPayload())
	}},
	{name: "cli index create", start: func(r *crashRun) *exec.Cmd {
		return r.cli("index", "create", r.newName("c"), "--primary-key", "id")
	}},
	{name: "cli index delete", start: func(r *crashRun) *exec.Cmd {
		return r.cli("index", "delete", r.victim())
	}},
	{name: "mount cp into import/", mount: true, start: func(r *crashRun) *exec.Cmd {
		return exec.Command("cp", r.archive, filepath.Join(r.mnt, "import", r.newName("cp")))
	}},
	{name: "mount rename into import/", mount: true, start: func(r *crashRun) *exec.Cmd {
		name := r.newName("rs")
		tmp := filepath.Join(r.mnt, "import", "."+name+".Xa1b2c")
		return exec.Command("bash", "-c", fmt.Sprintf("cp %q %q && mv %q %q", r.archive, tmp, tmp, filepath.Join(r.mnt, "import", name)))
	}},
	{name: "mount documents append", mount: true, start: func(r *crashRun) *exec.Cmd {
		return exec.Command("bash", "-c", fmt.Sprintf("cat %q >> %q", r.payload(), filepath.Join(r.mnt, "indexes", "base", "documents.ndjson")))
	}},
	{name: "mount snapshot read", mount: true, start: func(r *crashRun) *exec.Cmd {
		return exec.Command("cp", filepath.Join(r.mnt, "indexes", "base", "snapshot.tar.gz"), r.h.path("out.tar.gz"))
	}},
	{name: "mount mkdir", mount: true, start: func(r *crashRun) *exec.Cmd {
		return exec.Command("mkdir", filepath.Join(r.mnt, "indexes", r.newName("c")))
	}},
	{name: "mount rmdir", mount: true, prep: func(r *crashRun) { r.target = r.victim() }, start: func(r *crashRun) *exec.Cmd {
		return exec.Command("rmdir", filepath.Join(r.mnt, "indexes", r.target))
	}},
	// Issue 9: rename, swap and replace (an empty index swapped with one of
	// 300 documents, so that a half swap would show).
	{name: "cli index rename", start: func(r *crashRun) *exec.Cmd {
		return r.cli("index", "rename", r.victim(), r.newName("ren"))
	}},
	{name: "cli index swap", start: func(r *crashRun) *exec.Cmd {
		return r.cli("index", "swap", r.victim(), r.empty())
	}},
	{name: "cli import --replace", start: func(r *crashRun) *exec.Cmd {
		return r.cli("snapshot", "import", r.archive, "--as", r.victim(), "--replace")
	}},
	{name: "mount mv", mount: true, prep: func(r *crashRun) { r.target = r.victim() }, start: func(r *crashRun) *exec.Cmd {
		return exec.Command("mv", "-T", filepath.Join(r.mnt, "indexes", r.target), filepath.Join(r.mnt, "indexes", r.newName("mv")))
	}},
	{name: "mount cp to NAME.replace.tar.gz", mount: true, prep: func(r *crashRun) { r.target = r.victim() }, start: func(r *crashRun) *exec.Cmd {
		return exec.Command("cp", r.archive, filepath.Join(r.mnt, "import", r.target+".replace.tar.gz"))
	}},
}

// empty creates an index with no documents.
func (r *crashRun) empty() string {
	name := r.newName("empty")
	r.h.must("index", "create", name, "--primary-key", "id")
	r.indexes[name] = 0
	r.lastUID = r.newestUID()
	return name
}

func TestCrash(t *testing.T) {
	if _, err := os.Stat("/dev/fuse"); err != nil {
		bintest.Skip(t, "no /dev/fuse: %v", err)
	}
	if os.Geteuid() != 0 {
		bintest.RequireTool(t, "fusermount3")
	}
	bintest.RequireTool(t, "bash")
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("IDXFS_CRASH_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("IDXFS_CRASH_SEED=%q: %v", s, err)
		}
		seed = v
	}
	budget, iterations := 45*time.Second, 0
	if s := os.Getenv("IDXFS_CRASH_DURATION"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			t.Fatalf("IDXFS_CRASH_DURATION=%q: %v", s, err)
		}
		budget = d
	}
	if s := os.Getenv("IDXFS_CRASH_ITERATIONS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			t.Fatalf("IDXFS_CRASH_ITERATIONS=%q: %v", s, err)
		}
		iterations, budget = n, 24*time.Hour
	}
	t.Logf("crash test seed %d (IDXFS_CRASH_SEED=%d repeats it)", seed, seed)

	r := &crashRun{
		t: t, h: newHarness(t), rng: rand.New(rand.NewPCG(seed, 0x1d4f5)),
		indexes: map[string]int{}, checked: map[string]bool{}, cost: map[string]time.Duration{}, nextID: 1,
	}
	r.mnt = filepath.Join(t.TempDir(), "mnt")
	if err := os.Mkdir(r.mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.clearMount)
	r.setup()

	deadline := time.Now().Add(budget)
	for i := 1; time.Now().Before(deadline) && (iterations == 0 || r.kills < iterations); i++ {
		sc := crashScenarios[r.rng.IntN(len(crashScenarios))]
		r.iterate(i, sc)
		if t.Failed() {
			t.Fatalf("iteration %d (%s) broke an invariant; IDXFS_CRASH_SEED=%d repeats the run", i, sc.name, seed)
		}
	}
	r.check(accounted{touched: map[string]bool{"base": true, "big": true}})
	t.Logf("crash test: %d kills, seed %d", r.kills, seed)
}

// setup makes index "base" and an archive of it.
func (r *crashRun) setup() {
	r.h.must("index", "create", "base", "--primary-key", "id")
	r.h.must("documents", "add", "base", r.payload())
	r.archive = r.h.path("base.tar.gz")
	r.h.must("snapshot", "create", "base", "-o", r.archive)
	r.archDocs = r.nextID - 1
	r.indexes["base"] = 0 // counted from the ranges
	r.h.must("index", "create", "big", "--primary-key", "id")
	r.h.must("documents", "add", "big", r.bigPayload())
	r.check(r.account())
}

// cli is the CLI on the data dir, with args.
func (r *crashRun) cli(args ...string) *exec.Cmd { return r.h.command(args...) }

func (r *crashRun) newName(prefix string) string {
	r.seq++
	return fmt.Sprintf("%s%d", prefix, r.seq)
}

// victim creates an index to delete, with a few documents.
func (r *crashRun) victim() string {
	name := r.newName("victim")
	r.h.must("index", "create", name, "--primary-key", "id")
	r.h.mustIn(bytes.NewReader(ndjson(1, 301, 0)), "documents", "add", name, "-")
	r.indexes[name] = 300
	r.lastUID = r.newestUID()
	return name
}

// payload writes the next addition to base: new ids only, so that what
// base holds tells which additions were applied.
func (r *crashRun) payload() string {
	n := 500 + r.rng.IntN(4000)
	r.pending = [2]int{r.nextID, r.nextID + n}
	r.nextID += n
	return r.h.write("payload.ndjson", ndjson(r.pending[0], r.pending[1], 0))
}

// bigDocs documents of about 1 KiB make "big" about 20 MiB: more than one
// batch of pass 2 (16 MiB), so that a kill can fall between two commits.
const bigDocs = 20_000

// bigPayload writes the next revision of every document of big.
func (r *crashRun) bigPayload() string {
	r.bigNext = r.bigRev + 1
	if r.bigSums == nil {
		r.bigSums = map[int]string{}
	}
	p := r.h.path("big.ndjson")
	f, err := os.Create(p)
	if err != nil {
		r.t.Fatal(err)
	}
	h := sha256.New()
	if err := writeNDJSON(io.MultiWriter(f, h), 1, bigDocs+1, r.bigNext, 1000); err != nil {
		r.t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		r.t.Fatal(err)
	}
	r.bigSums[r.bigNext] = hex.EncodeToString(h.Sum(nil))
	return p
}

// iterate runs sc and kills it at a random point, restarts idxfs and checks
// the invariants. The first run of a scenario is not killed: it measures
// how long the operation takes, and the kill falls in that time (+20%).
func (r *crashRun) iterate(i int, sc crashScenario) {
	t := r.t
	r.pending, r.bigNext = [2]int{}, 0
	var d *crashDaemon
	if sc.prep != nil {
		sc.prep(r)
	}
	if sc.mount {
		d = r.mount()
	}
	cmd := sc.start(r)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()

	cost, measured := r.cost[sc.name]
	what := "not killed (timing the operation)"
	if measured {
		killAt := time.Duration(r.rng.Int64N(int64(cost)*12/10 + 1))
		victim, exited := cmd.Process, done
		if d != nil {
			victim, exited = d.cmd.Process, d.done
		}
		select {
		case <-time.After(killAt):
			if victim.Signal(syscall.SIGKILL) == nil {
				r.kills++
				what = fmt.Sprintf("killed at %v", killAt.Round(time.Millisecond))
			}
		case <-exited:
			what = fmt.Sprintf("ended before the kill at %v", killAt.Round(time.Millisecond))
		}
	}
	if d != nil && measured {
		// The mount goes before the tool is waited for: a tool blocked on
		// a request to a dead daemon is freed by the end of the mount.
		d.stop(t, r.mnt, false)
		r.clearMount()
	}
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		cmd.Process.Kill()
		t.Errorf("%s did not end", sc.name)
		select {
		case <-done:
		case <-time.After(10 * time.Second): // unkillable: leave it
		}
	}
	if !measured {
		r.cost[sc.name] = time.Since(start)
	}
	if d != nil && !measured {
		d.stop(t, r.mnt, true)
		r.clearMount()
	}
	t.Logf("iteration %d: %s: %s (%s)", i, sc.name, what, strings.TrimSpace(lastLine(out.String())))
	r.restart()
	r.check(r.account())
	r.trim()
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}

// crashDaemon is a running idxfs mount.
type crashDaemon struct {
	cmd  *exec.Cmd
	out  bintest.Buffer
	done chan struct{}
}

// mount mounts the data dir and waits until it serves.
func (r *crashRun) mount() *crashDaemon {
	r.t.Helper()
	d := &crashDaemon{done: make(chan struct{})}
	d.cmd = exec.Command(binary, "mount", r.h.data, r.mnt, "--log-level", "warn", "--import-grace", "1s")
	d.cmd.Stdout, d.cmd.Stderr = &d.out, &d.out
	if err := d.cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	go func() { d.cmd.Wait(); close(d.done) }()
	deadline := time.Now().Add(30 * time.Second)
	// Mounted, and past fs.Mount (which opens a file on the mount, go-fuse's
	// poll hack): the daemon says so.
	for !bintest.Mounted(r.mnt) || !strings.Contains(d.out.String(), " mounted at ") {
		select {
		case <-d.done:
			r.t.Fatalf("idxfs mount exited before mounting:\n%s", d.out.String())
		default:
		}
		if time.Now().After(deadline) {
			d.cmd.Process.Kill()
			r.t.Fatalf("not mounted after 30s:\n%s", d.out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	return d
}

// stop ends the daemon: with SIGTERM if term (it must then exit 0), else it
// was killed and is only waited for. A daemon that does not end is reported
// and its FUSE connection aborted (as root), so that nothing stays blocked.
func (d *crashDaemon) stop(t *testing.T, mnt string, term bool) {
	limit := 10 * time.Second
	if term {
		d.cmd.Process.Signal(syscall.SIGTERM)
		limit = time.Minute
	}
	select {
	case <-d.done:
	case <-time.After(limit):
		d.cmd.Process.Kill()
		state, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stack", d.cmd.Process.Pid))
		t.Errorf("idxfs mount did not exit (kernel stack:\n%s); aborting its FUSE connection\n%s", state, d.out.String())
		syscall.Unmount(mnt, syscall.MNT_FORCE) // aborts a FUSE connection
		select {
		case <-d.done:
		case <-time.After(10 * time.Second): // unkillable: leave it
			return
		}
	}
	if term && d.cmd.ProcessState.ExitCode() != 0 {
		t.Errorf("idxfs mount exited %d:\n%s", d.cmd.ProcessState.ExitCode(), d.out.String())
	}
}

// clearMount unmounts the mountpoint, dead or alive, until it is not one.
func (r *crashRun) clearMount() {
	for i := 0; bintest.Mounted(r.mnt); i++ {
		if i == 50 {
			r.t.Errorf("%s is still mounted", r.mnt)
			return
		}
		if exec.Command("fusermount3", "-u", r.mnt).Run() != nil {
			exec.Command("umount", "-l", r.mnt).Run()
		}
		if bintest.Mounted(r.mnt) {
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// crashTask is what the checks read of a task.
type crashTask struct {
	UID      uint64          `json:"uid"`
	IndexUID string          `json:"indexUid"`
	Type     string          `json:"type"`
	Status   string          `json:"status"`
	Details  json.RawMessage `json:"details"`
	Error    *struct {
		Message string `json:"message"`
		Code    string `json:"code"`
	} `json:"error"`
}

func (r *crashRun) tasks() []crashTask {
	var ts []crashTask
	r.h.mustJSON(&ts, "tasks", "list", "--limit", "0", "--json")
	sort.Slice(ts, func(i, j int) bool { return ts[i].UID < ts[j].UID })
	return ts
}

func (r *crashRun) newestUID() uint64 {
	ts := r.tasks()
	if len(ts) == 0 {
		return 0
	}
	return ts[len(ts)-1].UID
}

func unfinished(ts []crashTask) []crashTask {
	var out []crashTask
	for _, tk := range ts {
		if tk.Status == "enqueued" || tk.Status == "processing" {
			out = append(out, tk)
		}
	}
	return out
}

// restart starts idxfs again and drains the queue: with the CLI (tasks
// wait) or a remount, at random.
func (r *crashRun) restart() {
	t := r.t
	if r.rng.IntN(3) == 0 {
		d := r.mount()
		deadline := time.Now().Add(2 * time.Minute)
		for {
			busy := false
			ents, _ := os.ReadDir(filepath.Join(r.mnt, "tasks"))
			for _, e := range ents {
				var tk crashTask
				b, err := os.ReadFile(filepath.Join(r.mnt, "tasks", e.Name()))
				if err == nil && json.Unmarshal(b, &tk) == nil && (tk.Status == "enqueued" || tk.Status == "processing") {
					busy = true
				}
			}
			if !busy {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the remount did not drain the queue:\n%s", d.out.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
		d.stop(t, r.mnt, true)
		r.clearMount()
	}
	// Commands that only read (tasks list) open the data dir read-only and
	// clean nothing up; a command that writes does (recovery, tmp/ and
	// payloads/). Waiting for a finished task is such a command.
	if uid := r.newestUID(); uid != 0 {
		r.h.run("tasks", "wait", strconv.FormatUint(uid, 10))
	}
	for i := 0; ; i++ {
		u := unfinished(r.tasks())
		if len(u) == 0 {
			return
		}
		if i == 10 {
			t.Fatalf("tasks still unfinished after restarts: %+v", u)
		}
		r.h.run("tasks", "wait", strconv.FormatUint(u[0].UID, 10))
	}
}

// accounted is what the tasks of an iteration were about.
type accounted struct {
	touched map[string]bool // the indexes of its tasks
	made    map[string]bool // the snapshots its tasks say they stored
}

// account applies what the tasks since the last check say they did.
func (r *crashRun) account() accounted {
	t := r.t
	additions := 0
	touched, made := map[string]bool{}, map[string]bool{}
	for _, tk := range r.tasks() {
		if tk.UID <= r.lastUID {
			continue
		}
		r.lastUID = tk.UID
		touched[tk.IndexUID] = true
		if tk.Status != "succeeded" {
			if tk.Status != "failed" && tk.Status != "canceled" {
				t.Errorf("task %d (%s of %s) is %s after the queue drained", tk.UID, tk.Type, tk.IndexUID, tk.Status)
			}
			continue
		}
		switch tk.Type {
		case "singleIndexSnapshotCreation":
			var d struct {
				Path   string `json:"path"`
				Reused bool   `json:"reused"`
			}
			if err := json.Unmarshal(tk.Details, &d); err != nil || d.Path == "" {
				t.Errorf("succeeded snapshot task %d without a path: %s", tk.UID, tk.Details)
			}
			if !d.Reused {
				made[d.Path] = true
			}
		case "indexCreation":
			r.indexes[tk.IndexUID] = 0
		case "singleIndexSnapshotImport":
			r.indexes[tk.IndexUID] = r.archDocs
		case "indexDeletion":
			delete(r.indexes, tk.IndexUID)
		case "indexRename":
			var d struct {
				Old string `json:"oldIndexUid"`
				New string `json:"newIndexUid"`
			}
			if err := json.Unmarshal(tk.Details, &d); err != nil {
				t.Errorf("rename task %d: %v", tk.UID, err)
			}
			r.indexes[d.New] = r.indexes[d.Old]
			delete(r.indexes, d.Old)
		case "indexSwap":
			var d struct {
				Indexes [2]string `json:"indexes"`
			}
			if err := json.Unmarshal(tk.Details, &d); err != nil {
				t.Errorf("swap task %d: %v", tk.UID, err)
			}
			a, b := d.Indexes[0], d.Indexes[1]
			r.indexes[a], r.indexes[b] = r.indexes[b], r.indexes[a]
		case "documentAdditionOrUpdate":
			if tk.IndexUID == "big" && r.bigNext != 0 {
				r.bigRev, r.bigNext = r.bigNext, 0
				continue
			}
			if tk.IndexUID != "base" || r.pending == [2]int{} || additions > 0 {
				t.Errorf("unexpected addition: task %d %s", tk.UID, tk.Details)
				continue
			}
			additions++
			r.ranges = append(r.ranges, r.pending)
		}
	}
	return accounted{touched, made}
}

// trim deletes indexes (not killed) when there are many, so that a long
// run does not slow down as they pile up.
func (r *crashRun) trim() {
	if len(r.indexes) <= 25 {
		return
	}
	var names []string
	for name := range r.indexes {
		if name != "base" && name != "big" {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	for _, name := range names[:len(names)-15] {
		r.h.must("index", "delete", name)
	}
	r.account()
}

// check asserts the invariants. The documents of base and big, which
// grow large, are compared when a task was about them.
func (r *crashRun) check(a accounted) {
	touched := a.touched
	t := r.t
	// Indexes: those the tasks say, each whole.
	var list []indexInfo
	r.h.mustJSON(&list, "index", "list", "--json")
	got := map[string]int{}
	for _, in := range list {
		got[in.UID] = in.NumberOfDocuments
	}
	want := map[string]int{}
	baseDocs := 0
	for _, rg := range r.ranges {
		baseDocs += rg[1] - rg[0]
	}
	for name, n := range r.indexes {
		want[name] = n
	}
	want["base"] = baseDocs
	if r.bigRev > 0 {
		want["big"] = bigDocs
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("indexes (documents) %v, but the succeeded tasks say %v", got, want)
	}
	var exp bytes.Buffer
	for _, rg := range r.ranges {
		exp.Write(ndjson(rg[0], rg[1], 0))
	}
	if touched["base"] {
		if out := r.h.must("documents", "export", "base"); out != exp.String() {
			t.Errorf("base holds %d bytes of documents, the succeeded additions %d", len(out), exp.Len())
		}
	}
	if touched["big"] {
		if out := r.h.must("documents", "export", "big"); fmt.Sprintf("%x", sha256.Sum256([]byte(out))) != r.bigSums[r.bigRev] {
			t.Errorf("big does not hold revision %d, the last its succeeded tasks wrote", r.bigRev)
		}
	}
	for name, n := range got {
		if name == "base" || name == "big" || r.checked["index "+name] {
			continue
		}
		out := r.h.must("documents", "export", name)
		if lines := strings.Count(out, "\n"); lines != n {
			t.Errorf("index %s exports %d documents, says %d", name, lines, n)
		}
		r.checked["index "+name] = true
	}
	// No index directory without an index.
	if ents, err := os.ReadDir(filepath.Join(r.h.data, "indexes")); err != nil || len(ents) != len(got) {
		t.Errorf("indexes/ holds %d directories for %d indexes (%v)", len(ents), len(got), err)
	}
	// Staging is empty.
	for _, dir := range []string{"tmp", "payloads"} {
		if ents, _ := os.ReadDir(filepath.Join(r.h.data, dir)); len(ents) != 0 {
			var names []string
			for _, e := range ents {
				names = append(names, e.Name())
			}
			t.Errorf("%s/ holds %v after the restart", dir, names)
		}
	}
	// Every stored snapshot verifies, and was stored by a task that says
	// it succeeded.
	stored, _ := filepath.Glob(filepath.Join(r.h.data, "snapshots", "indexes", "*", "*.idx.snapshot"))
	// A snapshot's member index (README, "Incremental snapshots") is not
	// a snapshot; after the restart none is left without its archive.
	indexes, _ := filepath.Glob(filepath.Join(r.h.data, "snapshots", "indexes", "*", "*.idx.snapshot.members"))
	for _, p := range indexes {
		if _, err := os.Stat(strings.TrimSuffix(p, ".members")); err != nil {
			t.Errorf("member index %s without its snapshot: %v", p, err)
		}
	}
	if all, _ := filepath.Glob(filepath.Join(r.h.data, "snapshots", "indexes", "*", "*")); len(all) != len(stored)+len(indexes) {
		t.Errorf("the snapshot store holds files other than snapshots and their member indexes: %v", all)
	}
	for p := range a.made {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("a snapshot task says it succeeded, but its snapshot is not stored: %v", err)
		}
	}
	for _, p := range stored {
		if r.checked[p] {
			continue
		}
		if !a.made[p] {
			t.Errorf("stored snapshot %s appeared, but no task says it succeeded in making it", p)
		}
		if _, stderr, code := r.h.run("snapshot", "verify", p); code != 0 {
			t.Errorf("stored snapshot %s does not verify: %s", p, stderr)
		}
		r.checked[p] = true
	}
}
