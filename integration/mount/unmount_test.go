package mount

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// startSnapshotInFlight enqueues a snapshot of "m" with the CLI, mounts
// with it slowed to seconds, and returns once the daemon is making it: the
// daemon then has work to finish when it is unmounted.
func startSnapshotInFlight(e *env, mountArgs ...string) *daemon {
	e.t.Helper()
	var tk task
	if err := json.Unmarshal([]byte(e.cli("snapshot", "create", "m", "--no-wait", "--json")), &tk); err != nil {
		e.t.Fatal(err)
	}
	d := e.mount(append([]string{"--snapshot-bwlimit", "1M"}, mountArgs...)...)
	file := e.path("tasks", fmt.Sprintf("%d.json", tk.UID))
	until(e.t, time.Minute, "the snapshot task to be processing", func() bool {
		b, err := os.ReadFile(file)
		return err == nil && json.Unmarshal(b, &tk) == nil && tk.Status == "processing"
	})
	return d
}

// TestUnmountThenCommand: `idxfs unmount M && idxfs index list` succeeds,
// time after time, while the daemon has a snapshot in flight to finish
// (or cancel, after --shutdown-grace) when it is unmounted: idxfs unmount
// returns only once the daemon has let go of the data dir. The index list
// does not wait for the lock (--lock-wait 0): the data dir must be free.
func TestUnmountThenCommand(t *testing.T) {
	e := newEnv(t, map[string]int{"m": 20000})
	for i := range 3 {
		d := startSnapshotInFlight(e, "--shutdown-grace", "1s")
		out := sh(t, fmt.Sprintf("%q unmount %q && %q --lock-wait 0 --data-dir %q index list", bin, e.mnt, bin, e.data))
		if !strings.Contains(out, "m") {
			t.Errorf("run %d: index list after unmount printed %q", i, out)
		}
		if code, ok := d.wait(30 * time.Second); !ok || code != 0 {
			t.Fatalf("run %d: the daemon exited %d (%v) after the unmount\n%s", i, code, ok, d.log)
		}
	}
}

// TestUnmountWaitTimesOut: a daemon that takes longer than idxfs unmount
// --wait to let go of the data dir makes idxfs unmount fail with exit 3
// naming it (pid and command line); it is unmounted all the same, and the
// daemon still ends on its own.
func TestUnmountWaitTimesOut(t *testing.T) {
	e := newEnv(t, map[string]int{"m": 20000})
	d := startSnapshotInFlight(e, "--shutdown-grace", "20s")
	r := run(t, nil, bin, "unmount", "--wait", "300ms", e.mnt)
	pid := strconv.Itoa(d.cmd.Process.Pid)
	if r.code != 3 || !strings.Contains(r.stderr, "has not let go of the data dir after 300ms") ||
		!strings.Contains(r.stderr, "in use by pid "+pid+", running: idxfs mount") {
		t.Errorf("idxfs unmount --wait 300ms of a daemon finishing a snapshot: %v; want exit 3 naming pid %s", r, pid)
	}
	if isMounted(e.mnt) {
		t.Error("still mounted after idxfs unmount")
	}
	if code, ok := d.wait(time.Minute); !ok || code != 0 {
		t.Fatalf("the daemon exited %d (%v) after the unmount\n%s", code, ok, d.log)
	}
}

// TestUmountThenCommandWaits: after a plain umount (not idxfs unmount),
// the daemon still finishing its tasks no longer names the mountpoint in
// LOCK, so a command waits for the data dir (--lock-wait, default 5s)
// instead of failing with "mounted at".
func TestUmountThenCommandWaits(t *testing.T) {
	e := newEnv(t, map[string]int{"m": 20000})
	d := startSnapshotInFlight(e, "--shutdown-grace", "1s")
	r := run(t, nil, "bash", "-c", fmt.Sprintf("umount %q && %q --data-dir %q index list", e.mnt, bin, e.data))
	if r.code != 0 || !strings.Contains(r.stdout, "m") {
		t.Errorf("umount && idxfs index list: %v; want the list, once the daemon let go", r)
	}
	if code, ok := d.wait(30 * time.Second); !ok || code != 0 {
		t.Fatalf("the daemon exited %d (%v) after the unmount\n%s", code, ok, d.log)
	}
}
