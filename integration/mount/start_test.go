package mount

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// deadMountpoint returns a directory on which a daemon was killed (-9): a
// dead FUSE mount, cleared at the end of the test.
func deadMountpoint(t *testing.T) string {
	t.Helper()
	other := newEnv(t, nil)
	d := other.mount()
	d.signal(syscall.SIGKILL)
	d.wait(30 * time.Second)
	t.Cleanup(func() {
		if exec.Command("fusermount3", "-u", other.mnt).Run() != nil {
			exec.Command("umount", "-l", other.mnt).Run()
		}
	})
	if _, err := os.Stat(other.mnt); !errors.Is(err, syscall.ENOTCONN) {
		t.Fatalf("stat of a killed mount: %v, want ENOTCONN", err)
	}
	return other.mnt
}

// TestMountFailsBeforeOpening (issue 7 item 9): a mount on a mountpoint that
// cannot be mounted fails at once with exit 9, before it opens the data dir:
// the tasks enqueued with --no-wait stay enqueued and tmp/ is not emptied.
func TestMountFailsBeforeOpening(t *testing.T) {
	requireFUSE(t)
	file := filepath.Join(t.TempDir(), "file")
	os.WriteFile(file, nil, 0o644)
	for _, c := range []struct {
		name string
		mnt  func(t *testing.T) string
	}{
		{"missing", func(t *testing.T) string { return filepath.Join(t.TempDir(), "nowhere") }},
		{"not a directory", func(*testing.T) string { return file }},
		{"dead mount", deadMountpoint},
	} {
		t.Run(c.name, func(t *testing.T) {
			mnt := c.mnt(t)
			e := newEnv(t, map[string]int{"m": 200})
			docs := filepath.Join(t.TempDir(), "more.ndjson")
			writeDocs(t, docs, 1000, 2000)
			e.cli("documents", "add", "m", docs, "--no-wait")
			e.cli("index", "create", "q", "--no-wait")
			marker := filepath.Join(e.data, "tmp", "marker")
			if err := os.WriteFile(marker, []byte("x"), 0o644); err != nil {
				t.Fatal(err)
			}

			start := time.Now()
			r := run(t, nil, bin, "mount", e.data, mnt)
			took := time.Since(start)
			if r.code != 9 {
				t.Errorf("mount on a %s mountpoint: %v, want exit 9", c.name, r)
			}
			if took > 5*time.Second {
				t.Errorf("mount on a %s mountpoint took %v to fail", c.name, took)
			}
			if _, err := os.Stat(marker); err != nil {
				t.Errorf("tmp/ was emptied by a mount that failed: %v", err)
			}
			var ts []task
			if err := json.Unmarshal([]byte(e.cli("tasks", "list", "--json")), &ts); err != nil {
				t.Fatal(err)
			}
			enqueued := 0
			for _, tk := range ts {
				if tk.Status == "enqueued" {
					enqueued++
				}
			}
			if enqueued != 2 {
				t.Errorf("after the failed mount %d tasks are enqueued, want 2: %+v", enqueued, ts)
			}
		})
	}
}
