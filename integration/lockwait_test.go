package integration

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// holdLock starts a `snapshot create` of "big" slowed to seconds, and
// returns once it holds the data dir (LOCK records its pid).
func holdLock(h *harness) *proc {
	h.t.Helper()
	p := h.start(h.command("snapshot", "create", "big", "--snapshot-bwlimit", "2M"))
	deadline := time.Now().Add(cmdTimeout)
	for {
		var info struct{ PID int }
		if b, err := os.ReadFile(filepath.Join(h.data, "LOCK")); err == nil && json.Unmarshal(b, &info) == nil && info.PID == p.Process.Pid {
			return p
		}
		select {
		case <-p.exited:
			h.t.Fatalf("snapshot create exited (%v) before it held the data dir", p.err)
		default:
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("snapshot create does not hold the data dir after %v", cmdTimeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestLockWait: a second command on a data dir that a first one holds
// waits for it up to --lock-wait (IDXFS_LOCK_WAIT): it runs once the first
// one is done, or fails with exit 3 naming the holder (pid and command line)
// when the wait is shorter; --lock-wait 0 fails at once.
func TestLockWait(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	progressSource(h)
	first := holdLock(h)
	pid := strconv.Itoa(first.Process.Pid)

	start := time.Now()
	_, stderr, code := h.run("index", "list", "--lock-wait", "0")
	if code != 3 || !strings.Contains(stderr, "in use by pid "+pid+", running: idxfs ") || !strings.Contains(stderr, "snapshot create big") {
		t.Errorf("--lock-wait 0 while held: exit %d, stderr %q; want exit 3 naming pid %s and its command", code, stderr, pid)
	}
	if strings.Contains(stderr, "waiting") {
		t.Errorf("--lock-wait 0 waited: %q", stderr)
	}
	failedAtOnce := time.Since(start)

	_, stderr, code = h.run("index", "list", "--lock-wait", "300ms")
	if code != 3 || !strings.Contains(stderr, "in use by pid "+pid) || !strings.Contains(stderr, "waiting up to 300ms") || !strings.Contains(stderr, "; waited 3") {
		t.Errorf("--lock-wait 300ms while held: exit %d, stderr %q; want exit 3 after saying it waits", code, stderr)
	}

	cmd := h.command("index", "list", "--lock-wait", "0")
	cmd.Env = append(cmd.Env, "IDXFS_LOCK_WAIT=0s")
	if out, err := cmd.CombinedOutput(); cmd.ProcessState.ExitCode() != 3 || !strings.Contains(string(out), "in use by pid "+pid) {
		t.Errorf("IDXFS_LOCK_WAIT=0s while held: %v, %q; want exit 3", err, out)
	}

	select {
	case <-first.exited:
		t.Fatalf("the first command ended (%v) before the checks of a held lock were done (took %v, the first of them %v): slow it down", first.err, time.Since(start), failedAtOnce)
	default:
	}
	// The default wait (5s) is shorter than what is left of the snapshot
	// at times; a minute is not.
	stdout, stderr, code := h.run("index", "list", "--lock-wait", "1m")
	if code != 0 || !strings.Contains(stdout, "big") || !strings.Contains(stderr, "waiting up to 1m0s") {
		t.Errorf("--lock-wait 1m while held: exit %d, stdout %q, stderr %q; want it to wait, then list", code, stdout, stderr)
	}
	if c := first.wait(t, time.Minute); c != 0 {
		t.Errorf("the first command: exit %d", c)
	}
}

// TestLockWaitBadValue: a negative --lock-wait is a usage error.
func TestLockWaitBadValue(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	if _, stderr, code := h.run("index", "list", "--lock-wait", "-1s"); code != 2 || !strings.Contains(stderr, "--lock-wait") {
		t.Errorf("--lock-wait -1s: exit %d, %q; want a usage error (exit 2)", code, stderr)
	}
}
