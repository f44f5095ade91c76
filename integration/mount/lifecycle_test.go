package mount

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/idxfs/idxfs/integration/bintest"
)

// snapshotTask returns the snapshot creation task of index idx, if any.
func (e *env) snapshotTask(idx string) (task, bool) {
	for _, tk := range e.tasks() {
		if tk.Type == "singleIndexSnapshotCreation" && tk.IndexUID == idx {
			return tk, true
		}
	}
	return task{}, false
}

// startCat starts `cat FILE > /dev/null` in the background.
func startCat(t *testing.T, file string) (*exec.Cmd, chan error) {
	cmd := exec.Command("cat", file)
	cmd.Stderr = &bintest.Buffer{}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() { cmd.Process.Kill() })
	return cmd, done
}

// TestInterruptedOpen: Ctrl-C (SIGINT) of a cat blocked in the open of a
// snapshot being made returns promptly; the snapshot still completes.
func TestInterruptedOpen(t *testing.T) {
	e := newEnv(t, map[string]int{"m": 20000})
	e.mount("--snapshot-bwlimit", "1M")
	cmd, done := startCat(t, e.path("indexes", "m", "snapshot.tar.gz"))
	until(t, time.Minute, "the snapshot task to be processing", func() bool {
		tk, ok := e.snapshotTask("m")
		return ok && tk.Status == "processing"
	})
	cmd.Process.Signal(syscall.SIGINT)
	start := time.Now()
	select {
	case err := <-done:
		if err == nil {
			t.Error("the interrupted cat exited 0")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("cat blocked in open did not return within 5s of SIGINT")
	}
	t.Logf("cat returned %v after SIGINT", time.Since(start))
	until(t, 2*time.Minute, "the snapshot to complete", func() bool {
		tk, _ := e.snapshotTask("m")
		return tk.Status == "succeeded"
	})
	if got := strings.Fields(must(t, "ls", e.path("snapshots", "m"))); len(got) != 1 {
		t.Errorf("snapshots/m holds %v, want the one snapshot", got)
	}
}

// TestSigtermDuringSnapshot: SIGTERM to the daemon while a snapshot is
// being made unmounts cleanly and exits 0; the reader gets an error, not a
// hang; the restart shows the task failed as interrupted (or succeeded),
// no temporary files, and the mountpoint works again.
func TestSigtermDuringSnapshot(t *testing.T) {
	e := newEnv(t, map[string]int{"m": 20000})
	d := e.mount("--snapshot-bwlimit", "1M", "--shutdown-grace", "1s")
	_, done := startCat(t, e.path("indexes", "m", "snapshot.tar.gz"))
	until(t, time.Minute, "the snapshot task to be processing", func() bool {
		tk, ok := e.snapshotTask("m")
		return ok && tk.Status == "processing"
	})
	d.signal(syscall.SIGTERM)
	code, ok := d.wait(30 * time.Second)
	if !ok {
		t.Fatalf("daemon did not exit within 30s of SIGTERM\n%s", d.log)
	}
	if code != 0 {
		t.Errorf("daemon exited %d after SIGTERM\n%s", code, d.log)
	}
	if isMounted(e.mnt) {
		t.Fatal("still mounted after SIGTERM")
	}
	select {
	case err := <-done:
		if err == nil {
			t.Error("cat of a snapshot cut short by shutdown exited 0")
		}
	case <-time.After(10 * time.Second):
		t.Error("cat still blocked 10s after the daemon exited")
	}
	var tasks []task
	if err := json.Unmarshal([]byte(e.cli("tasks", "list", "--json", "--type", "singleIndexSnapshotCreation")), &tasks); err != nil {
		t.Fatal(err)
	}
	if len(tasks) != 1 {
		t.Fatalf("tasks after restart: %+v", tasks)
	}
	if tk := tasks[0]; !(tk.Status == "failed" && tk.Error != nil && tk.Error.Code == "interrupted") && tk.Status != "succeeded" {
		t.Errorf("snapshot task after SIGTERM: %s %+v, want failed/interrupted or succeeded", tk.Status, tk.Error)
	}
	if ents, _ := os.ReadDir(filepath.Join(e.data, "tmp")); len(ents) != 0 {
		t.Errorf("DATA/tmp after restart holds %d entries", len(ents))
	}
	e.mount()
	if !strings.Contains(must(t, "cat", e.path("status")), "m") {
		t.Error("the remount does not serve the index")
	}
}

// TestStaleMountpoint: after the daemon is killed (-9), the mountpoint is
// dead ("transport endpoint is not connected"); mounting on it fails with a
// message that says how to clear it; once cleared, mounting works.
func TestStaleMountpoint(t *testing.T) {
	e := newEnv(t, map[string]int{"m": 10})
	d := e.mount()
	d.signal(syscall.SIGKILL)
	d.wait(30 * time.Second)
	if _, err := os.Stat(e.mnt); err == nil || !strings.Contains(err.Error(), "not connected") {
		t.Fatalf("stat of a dead mount: %v; want transport endpoint is not connected", err)
	}
	r := run(t, nil, bin, "mount", e.data, e.mnt)
	if r.code != 9 || !strings.Contains(r.stderr, "fusermount3 -u "+e.mnt) {
		t.Errorf("mount on a stale mountpoint: %v; want exit 9 and how to clear it", r)
	}
	if out, err := exec.Command("fusermount3", "-u", e.mnt).CombinedOutput(); err != nil {
		if out2, err2 := exec.Command("umount", "-l", e.mnt).CombinedOutput(); err2 != nil {
			t.Fatalf("clearing the stale mount: %s %s", out, out2)
		}
	}
	e.mount()
	if !strings.Contains(must(t, "cat", e.path("status")), "m") {
		t.Error("the mount after clearing does not serve the index")
	}
}

// TestMountRefusals: a mountpoint inside the data dir is refused; a CLI
// command on a mounted data dir works through the mount, and one that has
// no file equivalent says where it is mounted (issue 9 item 1); idxfs
// unmount stops the daemon.
func TestMountRefusals(t *testing.T) {
	e := newEnv(t, map[string]int{"m": 10})
	inside := filepath.Join(e.data, "mnt")
	os.Mkdir(inside, 0o755)
	if r := run(t, nil, bin, "mount", e.data, inside); r.code != 9 || !strings.Contains(r.stderr, "inside the data dir") {
		t.Errorf("mount inside the data dir: %v", r)
	}
	os.Remove(inside)

	d := e.mount()
	if r := run(t, nil, bin, "index", "list", "--data-dir", e.data); r.code != 0 || !strings.Contains(r.stdout, "\nm ") {
		t.Errorf("index list on a mounted data dir: %v; want index m, through the mount", r)
	}
	// (Every command has a file equivalent since, index create
	// --primary-key --no-wait the last: TestCLICreateWithKeyNoWaitThroughMount.
	// Its detached child holds the mount until its calls end.)
	r := run(t, nil, bin, "index", "create", "x", "--primary-key", "id", "--no-wait", "--data-dir", e.data)
	if m := enqueuedLine.FindStringSubmatch(r.stdout); r.code != 0 || m == nil {
		t.Errorf("index create --primary-key --no-wait on a mounted data dir: %v; want the enqueued task, through the mount", r)
	} else if w := run(t, nil, bin, "tasks", "wait", m[1], "--data-dir", e.data); w.code != 0 {
		t.Errorf("tasks wait %s: %v", m[1], w)
	}
	if c := mountCallChild(t, e.mnt); c != 0 {
		until(t, time.Minute, "the detached child to exit", func() bool { return gone(c) })
	}
	if r := run(t, nil, bin, "mount", e.data, t.TempDir()); r.code != 3 {
		t.Errorf("a second mount of the data dir: %v; want exit 3", r)
	}
	must(t, bin, "unmount", e.mnt)
	if code, ok := d.wait(30 * time.Second); !ok || code != 0 {
		t.Errorf("daemon after idxfs unmount: exit %d, exited %v\n%s", code, ok, d.log)
	}
}

// TestDemoMount: mount --demo serves the embedded demo index without a data
// dir, and what the README suggests to try works.
func TestDemoMount(t *testing.T) {
	requireFUSE(t)
	mnt := filepath.Join(t.TempDir(), "demo")
	d := startDaemon(t, []string{"mount", "--demo", mnt}, mnt)
	var st struct {
		NumberOfDocuments int    `json:"numberOfDocuments"`
		PrimaryKey        string `json:"primaryKey"`
	}
	if err := json.Unmarshal([]byte(must(t, "cat", filepath.Join(mnt, "indexes", "movies", "status.json"))), &st); err != nil {
		t.Fatal(err)
	}
	if st.NumberOfDocuments != 4000 || st.PrimaryKey != "id" {
		t.Errorf("demo index: %+v", st)
	}
	out := filepath.Join(t.TempDir(), "movies.tar.gz")
	must(t, "cp", filepath.Join(mnt, "indexes", "movies", "snapshot.tar.gz"), out)
	must(t, "cp", out, filepath.Join(mnt, "import", "movies2"))
	if !exists(filepath.Join(mnt, "indexes", "movies2", "status")) {
		t.Error("cp into import/ did not make movies2")
	}
	if !strings.Contains(d.log.String(), "cat "+mnt+"/status") {
		t.Errorf("the demo does not say what to try:\n%s", d.log)
	}
	var status struct{ DataDir string }
	json.Unmarshal([]byte(must(t, "cat", filepath.Join(mnt, "status.json"))), &status)
	d.stop()
	if status.DataDir == "" || exists(status.DataDir) {
		t.Errorf("the demo's temporary data dir %q is still there after exit", status.DataDir)
	}
}

// TestMountAsNormalUser: a normal user mounts through fusermount3, without
// allow_other: the user reads the mount, root does not.
func TestMountAsNormalUser(t *testing.T) {
	requireFUSE(t)
	if os.Geteuid() != 0 {
		t.Skip("runs as root, to act as another user; as a normal user every other test mounts as one")
	}
	requireTool(t, "fusermount3")
	requireTool(t, "setpriv")
	if st, err := os.Stat("/dev/fuse"); err != nil || st.Mode().Perm()&0o006 != 0o006 {
		skip(t, "/dev/fuse is not usable by normal users here (mode %v; .ci/run makes it 0666)", st.Mode().Perm())
	}
	u, err := user.Lookup("nobody")
	if err != nil {
		skip(t, "no user nobody: %v", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	base, err := os.MkdirTemp("", "idxfs-user-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	os.Chmod(base, 0o755)
	data, mnt, work := filepath.Join(base, "data"), filepath.Join(base, "mnt"), filepath.Join(base, "work")
	for _, p := range []string{data, mnt, work} {
		os.Mkdir(p, 0o755)
		os.Chown(p, uid, gid)
	}
	as := func(args ...string) []string {
		return append([]string{"--reuid=" + u.Uid, "--regid=" + u.Gid, "--clear-groups", "--reset-env"}, args...)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd := exec.CommandContext(ctx, "setpriv", as(bin, "mount", data, mnt, "--log-level", "debug")...)
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	logs := make(chan string, 1)
	go func() {
		var b strings.Builder
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			b.WriteString(sc.Text() + "\n")
		}
		logs <- b.String()
	}()
	t.Cleanup(func() {
		exec.Command("setpriv", as("fusermount3", "-u", mnt)...).Run()
		cmd.Wait()
		if isMounted(mnt) {
			exec.Command("umount", "-l", mnt).Run()
			t.Error("the user's mount was left behind")
		}
	})
	until(t, 30*time.Second, "the user's mount", func() bool { return isMounted(mnt) })
	r := run(t, nil, "setpriv", as("mkdir", filepath.Join(mnt, "indexes", "mine"))...)
	if r.code != 0 {
		t.Fatalf("mkdir as the user: %v", r)
	}
	r = run(t, nil, "setpriv", as("cat", filepath.Join(mnt, "indexes", "mine", "status"))...)
	if r.code != 0 || !strings.Contains(r.stdout, "mine") {
		t.Errorf("cat as the user: %v", r)
	}
	if _, err := os.Stat(filepath.Join(mnt, "status")); err == nil {
		t.Error("root could read a mount made without --allow-other")
	}
	// A snapshot out and an import back in, as the user: the import
	// streams through the user's daemon, which parks bytes in the user's
	// DATA/tmp.
	archive := filepath.Join(work, "mine.tar.gz")
	if r := run(t, nil, "setpriv", as("cp", filepath.Join(mnt, "indexes", "mine", "snapshot.tar.gz"), archive)...); r.code != 0 {
		t.Fatalf("cp of the snapshot as the user: %v", r)
	}
	if r := run(t, nil, "setpriv", as("cp", archive, filepath.Join(mnt, "import", "copy"))...); r.code != 0 {
		t.Fatalf("cp into import/ as the user: %v", r)
	}
	if r := run(t, nil, "setpriv", as("cat", filepath.Join(mnt, "indexes", "copy", "status"))...); r.code != 0 || !strings.Contains(r.stdout, "copy") {
		t.Errorf("the imported index, as the user: %v", r)
	}
	must(t, "setpriv", as(bin, "unmount", mnt)...)
	select {
	case l := <-logs:
		if cmd.Wait(); cmd.ProcessState.ExitCode() != 0 {
			t.Errorf("the user's daemon exited %d:\n%s", cmd.ProcessState.ExitCode(), l)
		}
	case <-time.After(30 * time.Second):
		t.Error("the user's daemon did not exit after idxfs unmount")
	}
}

// TestCancelByRm: rm of a task file cancels the task; a reader blocked on
// that snapshot gets ECANCELED.
func TestCancelByRm(t *testing.T) {
	e := newEnv(t, map[string]int{"m": 20000})
	e.mount("--snapshot-bwlimit", "1M")
	cmd, done := startCat(t, e.path("indexes", "m", "snapshot.tar.gz"))
	var tk task
	until(t, time.Minute, "the snapshot task to be processing", func() bool {
		var ok bool
		tk, ok = e.snapshotTask("m")
		return ok && tk.Status == "processing"
	})
	must(t, "rm", e.path("tasks", fmt.Sprintf("%d.json", tk.UID)))
	select {
	case err := <-done:
		if err == nil {
			t.Error("cat of a canceled snapshot exited 0")
		}
		if msg := cmd.Stderr.(*bintest.Buffer).String(); !strings.Contains(msg, "Operation canceled") {
			t.Errorf("cat of a canceled snapshot said %q, want Operation canceled (ECANCELED)", msg)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("cat still blocked 30s after its snapshot task was canceled")
	}
	until(t, 30*time.Second, "the task to be canceled", func() bool {
		tk, _ = e.snapshotTask("m")
		return tk.Status == "canceled"
	})
	if ents, _ := os.ReadDir(e.path("snapshots")); len(ents) != 0 {
		t.Errorf("a canceled snapshot left %d entries in snapshots/", len(ents))
	}
}

// TestXattrs: extended attributes are not supported (ENOSYS, which the
// kernel reports as EOPNOTSUPP), so cp -a and python's copy2 go on without.
func TestXattrs(t *testing.T) {
	requireTool(t, "python3")
	e := newEnv(t, map[string]int{"m": 10})
	e.mount()
	r := run(t, nil, "python3", "-c", `
import errno, os, sys
for p in sys.argv[1:]:
    try:
        os.setxattr(p, "user.test", b"1")
    except OSError as e:
        if e.errno != errno.EOPNOTSUPP:
            sys.exit("%s: setxattr: %s" % (p, e))
    else:
        sys.exit("%s: setxattr succeeded" % p)
`, e.path("status"), e.path("indexes", "m", "documents.ndjson"))
	if r.code != 0 {
		t.Errorf("%v", r)
	}
}

// TestUnmountWithoutFusermount: a normal user's `idxfs unmount` on a machine
// without fuse3 says what to install, instead of an empty fusermount3 error.
func TestUnmountWithoutFusermount(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("runs as root, to act as another user without fusermount3 in its PATH")
	}
	requireTool(t, "setpriv")
	u, err := user.Lookup("nobody")
	if err != nil {
		skip(t, "no user nobody: %v", err)
	}
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	r := run(t, nil, "setpriv", "--reuid="+u.Uid, "--regid="+u.Gid, "--clear-groups", "--reset-env",
		"env", "PATH=/nonexistent", bin, "unmount", dir)
	if r.code != 9 || !strings.Contains(r.stderr, "apt-get install fuse3") {
		t.Errorf("unmount as a normal user without fusermount3: %v; want exit 9 naming fuse3", r)
	}
}
