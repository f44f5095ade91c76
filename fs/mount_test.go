package fs

// In-process mount tests, in go-fuse's own test style: each test mounts the
// tree with Mount in a t.TempDir(), drives it with plain system calls from
// the test goroutine (go-fuse serves the requests on goroutines of its own),
// and its cleanup unmounts and fails the test if the mount is left over.
// They check the node semantics in seconds; the binary-level tests in
// integration/mount check the same mount through the built daemon and real
// tools, with the slow cases (disk full, crashes, signals).

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/idxfs/idxfs/index"
	"github.com/idxfs/idxfs/index/indextest"
	"github.com/idxfs/idxfs/integration/bintest"
	"github.com/idxfs/idxfs/task"
)

// requireFUSE skips the test, saying why, where this process cannot mount
// FUSE; with IDXFS_REQUIRE_FUSE=1 (CI) it fails instead.
func requireFUSE(t *testing.T) {
	t.Helper()
	if _, err := os.Stat("/dev/fuse"); err != nil {
		bintest.Skip(t, "no /dev/fuse: %v", err)
	}
	if os.Geteuid() != 0 {
		if _, err := exec.LookPath("fusermount3"); err != nil {
			bintest.Skip(t, "not root and no fusermount3 (apt-get install fuse3)")
		}
	}
}

// testFS is one in-process mount over a new data dir.
type testFS struct {
	t      *testing.T
	mnt    string
	data   string
	store  *index.Store
	engine *task.Engine
	srv    *Server
	logs   *bintest.Buffer // the mount's and the engine's log lines
}

// mountFS mounts a new data dir holding the given indexes (name → number
// of documents of indextest's data set) with the engine started, as the
// daemon does. opts, if not nil, changes the Options before the mount.
func mountFS(t *testing.T, indexes map[string]int, opts func(*Options)) *testFS {
	t.Helper()
	requireFUSE(t)
	dir := t.TempDir()
	f := &testFS{t: t, mnt: filepath.Join(dir, "mnt"), data: filepath.Join(dir, "data"), logs: &bintest.Buffer{}}
	if err := os.Mkdir(f.mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	f.store = indextest.Open(t, f.data) // closed last
	for name, n := range indexes {
		indextest.AddIndex(t, f.store, name, n)
	}
	log := slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	eng, err := task.Open(task.Options{Store: f.store, Logger: log, Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	f.engine = eng
	o := Options{Store: f.store, Engine: eng, Logger: log, Version: "test"}
	if opts != nil {
		opts(&o)
	}
	srv, err := Mount(f.mnt, o)
	if err != nil {
		eng.Close(context.Background())
		t.Fatal(err)
	}
	f.srv = srv
	t.Cleanup(func() {
		if err := srv.Unmount(); err != nil {
			t.Errorf("unmount: %v", err)
		}
		if bintest.Mounted(f.mnt) {
			t.Errorf("%s is still mounted after the test", f.mnt)
			syscall.Unmount(f.mnt, syscall.MNT_DETACH)
		}
		if t.Failed() {
			t.Logf("mount log:\n%s", f.logs)
		}
	})
	// Registered after the unmount, so it runs before it, as the daemon's
	// shutdown does: tasks in flight end first.
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		eng.Close(ctx)
	})
	eng.Start()
	return f
}

// path returns the path of elem under the mountpoint.
func (f *testFS) path(elem ...string) string {
	return filepath.Join(append([]string{f.mnt}, elem...)...)
}

// read reads a file of the mount whole.
func (f *testFS) read(elem ...string) []byte {
	f.t.Helper()
	b, err := os.ReadFile(f.path(elem...))
	if err != nil {
		f.t.Fatal(err)
	}
	return b
}

// stat stats a path of the mount, without following a symlink.
func (f *testFS) stat(elem ...string) syscall.Stat_t {
	f.t.Helper()
	var st syscall.Stat_t
	if err := syscall.Lstat(f.path(elem...), &st); err != nil {
		f.t.Fatalf("lstat %s: %v", filepath.Join(elem...), err)
	}
	return st
}

// perm is the data dir's permission bits, which mask every mode of the
// mount.
func (f *testFS) perm() uint32 {
	f.t.Helper()
	fi, err := os.Stat(f.data)
	if err != nil {
		f.t.Fatal(err)
	}
	return uint32(fi.Mode().Perm())
}

// tasks returns the engine's tasks of kind k.
func (f *testFS) tasks(k task.Kind) []task.Task {
	return f.engine.List(task.Filter{Types: []task.Kind{k}})
}

// errnoIn returns the errno in err, 0 for nil, and fails the test for an
// error without one.
func errnoIn(t *testing.T, err error) syscall.Errno {
	t.Helper()
	if err == nil {
		return 0
	}
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		t.Fatalf("%v has no errno", err)
	}
	return errno
}
