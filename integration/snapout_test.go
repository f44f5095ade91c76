package integration

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestSnapshotOutputHonoursUmask: `snapshot create -o FILE` makes FILE as
// any new file is made, 0666 less the umask (it was 0644 whatever the
// umask, also under umask 077).
func TestSnapshotOutputHonoursUmask(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	snapshotSource(h)
	for _, tt := range []struct {
		umask string
		want  os.FileMode
	}{{"077", 0o600}, {"022", 0o644}, {"002", 0o664}} {
		out := h.path("umask" + tt.umask + ".tgz")
		cmd := h.command("snapshot", "create", "src", "-o", out)
		// The umask is the process's: set it in a shell that then runs idxfs.
		cmd.Args = append([]string{"bash", "-c", "umask " + tt.umask + ` && exec "$0" "$@"`}, cmd.Args...)
		cmd.Path = "/bin/bash"
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if p := h.start(cmd); p.wait(t, cmdTimeout) != 0 {
			t.Fatalf("snapshot create -o under umask %s: %v\n%s", tt.umask, p.err, stderr.String())
		}
		st, err := os.Stat(out)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != tt.want {
			t.Errorf("under umask %s, -o made a %04o file, want %04o", tt.umask, st.Mode().Perm(), tt.want)
		}
	}
}

// TestSnapshotOutputKilled: `snapshot create -o FILE` killed with SIGKILL
// while it writes leaves no FILE and only its partial file
// (.FILE.<pid>.idxfs-partial), which the next `snapshot create -o` in that
// directory removes (issue 7: the partial stayed forever, 5 kills out of 5).
func TestSnapshotOutputKilled(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.must("index", "create", "src", "--primary-key", "id")
	var b bytes.Buffer
	if err := writeNDJSON(&b, 1, 3001, 0, 900); err != nil {
		t.Fatal(err)
	}
	h.must("documents", "add", "src", h.write("src.ndjson", b.Bytes()))
	stored := strings.TrimSpace(h.must("snapshot", "create", "src"))
	st, err := os.Stat(stored)
	if err != nil {
		t.Fatal(err)
	}
	// The stored snapshot is reused; the copy to FILE is what
	// --snapshot-bwlimit slows down, to seconds, so it can be killed midway.
	rate := st.Size() / 4
	out := filepath.Join(h.path("out"), "copy.tgz")
	if err := os.Mkdir(filepath.Dir(out), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := h.command("snapshot", "create", "src", "-o", out, "--snapshot-bwlimit", strconv.FormatInt(rate, 10))
	p := h.start(cmd)
	partial := filepath.Join(filepath.Dir(out), ".copy.tgz."+strconv.Itoa(cmd.Process.Pid)+".idxfs-partial")
	deadline := time.Now().Add(cmdTimeout)
	for {
		if fi, err := os.Stat(partial); err == nil && fi.Size() > 0 {
			break
		}
		select {
		case <-p.exited:
			t.Fatalf("snapshot create -o exited (%v) before %s had bytes", p.err, partial)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no bytes in %s after %v", partial, cmdTimeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := p.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-p.exited
	if _, err := os.Stat(out); err == nil {
		t.Fatalf("%s exists after the kill", out)
	}
	if _, err := os.Stat(partial); err != nil {
		t.Fatalf("the partial file is not there after SIGKILL (the test kills too late?): %v", err)
	}

	// The next run, to another name in the same directory, removes it.
	other := filepath.Join(filepath.Dir(out), "other.tgz")
	_, stderr, code := h.run("snapshot", "create", "src", "-o", other)
	if code != 0 {
		t.Fatalf("snapshot create -o after the kill: exit %d\n%s", code, stderr)
	}
	if !strings.Contains(stderr, "removed "+partial) {
		t.Errorf("the next run did not say it removed the partial file:\n%s", stderr)
	}
	ents, err := os.ReadDir(filepath.Dir(out))
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 1 || ents[0].Name() != "other.tgz" {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf("the output directory holds %v, want only other.tgz", names)
	}
	if got, err := os.ReadFile(other); err != nil || int64(len(got)) != st.Size() {
		t.Errorf("other.tgz: %d bytes (%v), want %d", len(got), err, st.Size())
	}
}

// TestSymlinkedDataDirRefused: a DATA/tmp or DATA/payloads that is a
// symbolic link makes every command refuse the data dir, naming it, with
// exit 3, and leaves what it points at alone (issue 7: its target was
// emptied at every start).
func TestSymlinkedDataDirRefused(t *testing.T) {
	t.Parallel()
	for _, dir := range []string{"tmp", "payloads", "snapshots"} {
		t.Run(dir, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			h.must("index", "create", "a")
			target := t.TempDir()
			precious := filepath.Join(target, "precious")
			if err := os.WriteFile(precious, []byte("keep"), 0o600); err != nil {
				t.Fatal(err)
			}
			p := filepath.Join(h.data, dir)
			if err := os.RemoveAll(p); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(target, p); err != nil {
				t.Fatal(err)
			}
			_, stderr, code := h.run("index", "list")
			if code != 3 || !strings.Contains(stderr, dir+" is a symbolic link") {
				t.Errorf("index list with a symlinked %s: exit %d, %q; want exit 3 naming it", dir, code, stderr)
			}
			if b, err := os.ReadFile(precious); err != nil || string(b) != "keep" {
				t.Errorf("the link's target was touched: %q, %v", b, err)
			}
		})
	}
}
