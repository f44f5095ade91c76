package mount

import (
	"bufio"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/idxfs/idxfs/integration/bintest"
)

// The paths of the README's and the unit's examples, which the tests
// replace with their own.
const (
	exampleBinary  = "/usr/local/bin/idxfs"
	exampleDataDir = "/var/lib/idxfs"
	exampleMount   = "/srv/idxfs"
	exampleLog     = "/var/log/idxfs.log"
)

// repoFile reads a file of the repository.
func repoFile(t *testing.T, name string) string {
	t.Helper()
	root, err := bintest.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(root, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestSystemdNotify runs the example unit's ExecStart, with its Environment=
// (the data dir from IDXFS_DATA_DIR, MOUNTPOINT alone on the command line),
// under a NOTIFY_SOCKET the test listens on, as systemd would: READY=1 comes
// when the mount answers, STATUS= follows the tasks in flight, STOPPING=1
// comes at SIGTERM. The daemon also runs with --log-format json and no
// --log-level: every stderr line must be JSON, and info lines must be there
// (the mount's default level, as its help says).
func TestSystemdNotify(t *testing.T) {
	e := newEnv(t, map[string]int{"movies": 3000})
	unit := repoFile(t, "contrib/systemd/idxfs.service")
	var execStart []string
	var env []string
	subst := strings.NewReplacer(exampleBinary, bin, exampleDataDir, e.data, exampleMount, e.mnt)
	for _, line := range strings.Split(unit, "\n") {
		if v, ok := strings.CutPrefix(line, "ExecStart="); ok {
			execStart = strings.Fields(subst.Replace(v))
		}
		if v, ok := strings.CutPrefix(line, "Environment="); ok {
			env = append(env, subst.Replace(v))
		}
	}
	if len(execStart) < 3 || execStart[0] != bin || execStart[1] != "mount" {
		t.Fatalf("the unit's ExecStart is not an idxfs mount: %q", execStart)
	}
	if !strings.Contains(unit, "\nType=notify\n") {
		t.Errorf("the unit is not Type=notify")
	}
	if path, err := exec.LookPath("systemd-analyze"); err == nil {
		f := filepath.Join(t.TempDir(), "idxfs.service")
		if err := os.WriteFile(f, []byte(strings.ReplaceAll(unit, exampleBinary, bin)), 0o644); err != nil {
			t.Fatal(err)
		}
		if r := run(t, nil, path, "verify", f); r.code != 0 || strings.Contains(r.stderr, "idxfs.service") {
			t.Errorf("systemd-analyze verify of the unit: %v", r)
		}
	}

	sock := filepath.Join(t.TempDir(), "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	msgs := make(chan string, 100)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, _, err := conn.ReadFromUnix(buf)
			if err != nil {
				close(msgs)
				return
			}
			msgs <- string(buf[:n])
		}
	}()
	// next returns the next datagram holding want.
	next := func(want string) string {
		t.Helper()
		timeout := time.After(60 * time.Second)
		for {
			select {
			case m, ok := <-msgs:
				if !ok {
					t.Fatalf("the notify socket closed before %q", want)
				}
				if strings.Contains(m, want) {
					return m
				}
			case <-timeout:
				t.Fatalf("no notification with %q within 60s", want)
			}
		}
	}

	// A slow snapshot (--snapshot-bwlimit) shows in STATUS=.
	args := append(execStart[1:], "--log-format", "json", "--snapshot-bwlimit", "512K")
	cmd := exec.Command(bin, args...)
	cmd.Env = append(append(os.Environ(), "IDXFS_DATA_DIR=", "NOTIFY_SOCKET="+sock), env...)
	stderr := &bintest.Buffer{}
	cmd.Stdout, cmd.Stderr = &bintest.Buffer{}, stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(done) }()
	defer func() {
		select {
		case <-done:
		default:
			// Detach first: a daemon killed while a file of its mount is
			// open may hang in its exit (DESIGN-NOTES, Known gaps).
			exec.Command("umount", "-l", e.mnt).Run()
			cmd.Process.Kill()
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				t.Errorf("the killed daemon did not exit")
			}
			t.Logf("daemon stderr:\n%s", clip2(stderr.String()))
			return
		}
		if isMounted(e.mnt) {
			t.Errorf("%s still mounted", e.mnt)
			exec.Command("umount", "-l", e.mnt).Run()
		}
	}()

	ready := next("READY=1")
	// At READY=1 the mount answers, with no waiting.
	if !isMounted(e.mnt) {
		t.Fatalf("READY=1 came before %s was mounted", e.mnt)
	}
	if b, err := os.ReadFile(e.path("indexes", "movies", "status")); err != nil || len(b) == 0 {
		t.Fatalf("at READY=1, indexes/movies/status: %q, %v", b, err)
	}
	if !strings.Contains(ready, "STATUS=serving "+e.mnt+": no tasks in flight") {
		t.Errorf("READY=1 came with %q, want a STATUS= line saying no tasks are in flight", ready)
	}

	copied := make(chan result, 1)
	go func() {
		copied <- run(t, nil, "cp", e.path("indexes", "movies", "snapshot.tar.gz"), filepath.Join(t.TempDir(), "m.tgz"))
	}()
	busy := next("STATUS=serving " + e.mnt + ": 1 processing (singleIndexSnapshotCreation of movies")
	if !strings.Contains(busy, "0 enqueued") {
		t.Errorf("STATUS with a task in flight: %q", busy)
	}
	if r := <-copied; r.code != 0 {
		t.Fatalf("cp snapshot.tar.gz: %v", r)
	}
	next("STATUS=serving " + e.mnt + ": no tasks in flight")

	cmd.Process.Signal(syscall.SIGTERM)
	stopping := next("STOPPING=1")
	if !strings.Contains(stopping, "STATUS=shutting down") {
		t.Errorf("STOPPING=1 came with %q", stopping)
	}
	select {
	case <-done:
		if waitErr != nil {
			t.Errorf("idxfs mount after SIGTERM: %v\n%s", waitErr, stderr)
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("no exit within 60s of SIGTERM")
	}

	infos := 0
	for _, line := range strings.Split(strings.TrimSpace(stderr.String()), "\n") {
		var rec struct{ Level, Msg string }
		if err := json.Unmarshal([]byte(line), &rec); err != nil || rec.Level == "" {
			t.Errorf("stderr line is not a JSON log record: %q", line)
		}
		if rec.Level == "INFO" {
			infos++
		}
	}
	if infos == 0 {
		t.Errorf("no info line from a mount run without --log-level (its default is info):\n%s", stderr)
	}
}

// TestMountDataDirFlag: idxfs mount MOUNTPOINT takes the data dir from
// --data-dir, as every command does.
func TestMountDataDirFlag(t *testing.T) {
	e := newEnv(t, map[string]int{"films": 2})
	d := startDaemon(t, []string{"--data-dir", e.data, "mount", e.mnt}, e.mnt)
	if _, err := os.Stat(e.path("indexes", "films")); err != nil {
		t.Errorf("indexes/films: %v", err)
	}
	d.stop()
}

// TestMountHelper: mount -t fuse.idxfs and an fstab line, through
// mount.fuse3, with idxfs found on a minimal PATH (the binary is linked into
// /usr/local/bin for the duration). The command lines are the README's.
func TestMountHelper(t *testing.T) {
	requireFUSE(t)
	if os.Geteuid() != 0 {
		skip(t, "mount(8) of a fuse.idxfs file system needs root here")
	}
	helper := ""
	for _, p := range []string{"/sbin/mount.fuse3", "/usr/sbin/mount.fuse3"} {
		if _, err := os.Stat(p); err == nil {
			helper = p
		}
	}
	if helper == "" {
		skip(t, "no mount.fuse3 (apt-get install fuse3)")
	}
	requireTool(t, "mount")
	linkBinary(t)
	readme := repoFile(t, "README.md")
	var mountLine, fstabLine string
	for _, line := range strings.Split(readme, "\n") {
		if strings.HasPrefix(line, "mount -t fuse.idxfs ") {
			mountLine = line
		}
		if strings.HasPrefix(line, exampleDataDir+" ") && strings.Contains(line, " fuse.idxfs ") {
			fstabLine = line
		}
	}
	if mountLine == "" || fstabLine == "" {
		t.Fatalf("README has no mount -t fuse.idxfs line (%q) or fstab line (%q)", mountLine, fstabLine)
	}
	minimal := []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root"}

	check := func(t *testing.T, e *env, log string, mount func() result) {
		r := mount()
		if r.code != 0 {
			t.Fatalf("mount: %v\nlog: %s", r, readOr(log))
		}
		// mount returned: the mount answers now.
		if _, err := os.Stat(e.path("indexes", "films")); err != nil {
			t.Fatalf("right after mount, indexes/films: %v\nlog: %s", err, readOr(log))
		}
		if !mountinfoHas(e.mnt, "fuse.idxfs", "allow_other") {
			t.Errorf("%s is not a fuse.idxfs mount with allow_other", e.mnt)
		}
		lock := readLock(t, e.data)
		if lock.PID == 0 || lock.Mountpoint != e.mnt {
			t.Errorf("LOCK records %+v", lock)
		}
		if r := runEnv(t, minimal, "umount", e.mnt); r.code != 0 {
			t.Fatalf("umount: %v", r)
		}
		until(t, 60*time.Second, "the daemon to exit after umount", func() bool { return gone(lock.PID) })
		if out := e.cli("index", "list"); !strings.Contains(out, "films") {
			t.Errorf("after umount, index list: %q", out)
		}
		if b := readOr(log); !strings.Contains(b, "level=INFO") || !strings.Contains(b, "unmounted") {
			t.Errorf("log_file holds %q, want the daemon's info lines", b)
		}
	}

	t.Run("mount -t fuse.idxfs", func(t *testing.T) {
		e := newEnv(t, map[string]int{"films": 2})
		log := filepath.Join(t.TempDir(), "idxfs.log")
		subst := strings.NewReplacer(exampleDataDir, e.data, exampleMount, e.mnt, exampleLog, log)
		args := strings.Fields(subst.Replace(mountLine))
		check(t, e, log, func() result { return runEnv(t, minimal, args[0], args[1:]...) })
	})
	t.Run("fstab line", func(t *testing.T) {
		e := newEnv(t, map[string]int{"films": 2})
		log := filepath.Join(t.TempDir(), "idxfs.log")
		subst := strings.NewReplacer(exampleDataDir, e.data, exampleMount, e.mnt, exampleLog, log)
		fstab := filepath.Join(t.TempDir(), "fstab")
		if err := os.WriteFile(fstab, []byte(subst.Replace(fstabLine)+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		check(t, e, log, func() result { return runEnv(t, minimal, "mount", "-T", fstab, e.mnt) })
	})
	t.Run("refused options", func(t *testing.T) {
		e := newEnv(t, map[string]int{"films": 2})
		for opt, want := range map[string]string{"bogus": `"bogus"`, "ro": "read-only", "snapshot_keep=0": "--snapshot-keep 0", "allow_other=1": "no value"} {
			r := runEnv(t, minimal, "mount", "-t", "fuse.idxfs", e.data, e.mnt, "-o", opt)
			if r.code == 0 || !strings.Contains(r.stderr, want) {
				t.Errorf("mount -o %s: %v, want a failure naming %s", opt, r, want)
			}
			if isMounted(e.mnt) {
				t.Errorf("mount -o %s mounted", opt)
				runEnv(t, minimal, "umount", e.mnt)
			}
		}
	})
	t.Run("the daemon's error", func(t *testing.T) {
		e := newEnv(t, map[string]int{"films": 2})
		// The mountpoint inside the data dir: the daemon refuses it
		// (exit 9); the helper returns its message and code.
		inside := filepath.Join(e.data, "m")
		if err := os.Mkdir(inside, 0o755); err != nil {
			t.Fatal(err)
		}
		r := runEnv(t, minimal, helper, e.data, inside, "-o", "rw,dev,suid", "-t", "fuse.idxfs")
		if r.code != 9 || !strings.Contains(r.stderr, "data dir") {
			t.Errorf("mount.fuse3 with the mountpoint in the data dir: %v, want exit 9 and the daemon's reason", r)
		}
		if isMounted(inside) {
			t.Errorf("%s mounted", inside)
			runEnv(t, minimal, "umount", inside)
		}
	})
}

// linkBinary makes /usr/local/bin/idxfs the binary under test until t ends,
// putting back what was there.
func linkBinary(t *testing.T) {
	t.Helper()
	saved := exampleBinary + ".idxfs-test-saved"
	had := false
	if _, err := os.Lstat(exampleBinary); err == nil {
		if err := os.Rename(exampleBinary, saved); err != nil {
			t.Fatal(err)
		}
		had = true
	}
	if err := os.Symlink(bin, exampleBinary); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		os.Remove(exampleBinary)
		if had {
			os.Rename(saved, exampleBinary)
		}
	})
}

// runEnv runs a command with only the given environment.
func runEnv(t testing.TB, env []string, name string, args ...string) result {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil && !filepath.IsAbs(name) {
		for _, dir := range []string{"/usr/sbin", "/sbin", "/usr/bin", "/bin"} {
			if _, serr := os.Stat(filepath.Join(dir, name)); serr == nil {
				path = filepath.Join(dir, name)
			}
		}
	} else if filepath.IsAbs(name) {
		path = name
	}
	cmd := exec.Command(path, args...)
	cmd.Env = env
	var out, errb bintest.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		cmd.Process.Kill()
		t.Fatalf("%s %v: no exit within 2 minutes", name, args)
	}
	return result{stdout: out.String(), stderr: errb.String(), code: cmd.ProcessState.ExitCode()}
}

type lockInfo struct {
	PID        int    `json:"pid"`
	Mountpoint string `json:"mountpoint"`
}

func readLock(t *testing.T, data string) lockInfo {
	t.Helper()
	var l lockInfo
	b, err := os.ReadFile(filepath.Join(data, "LOCK"))
	if err == nil {
		err = json.Unmarshal(b, &l)
	}
	if err != nil {
		t.Fatalf("LOCK: %v", err)
	}
	return l
}

// gone reports whether pid has exited (a zombie counts: an init that does
// not reap is not the daemon's doing).
func gone(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && len(s) > i+2 {
		return s[i+2] == 'Z'
	}
	return false
}

// mountinfoHas reports whether mnt is mounted with fstype and option.
func mountinfoHas(mnt, fstype, option string) bool {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		for i, fl := range fields {
			if fl == "-" && len(fields) > i+3 && len(fields) > 4 && fields[4] == mnt {
				return fields[i+1] == fstype && strings.Contains(","+fields[i+3]+",", ","+option+",")
			}
		}
	}
	return false
}

func readOr(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}
