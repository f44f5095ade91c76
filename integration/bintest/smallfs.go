package bintest

import (
	"bufio"
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
)

// SmallFS mounts a tmpfs of size bytes on a new directory and returns its
// path; it is unmounted when t ends. Full-disk tests run on it: a real
// filesystem that returns ENOSPC. It needs root (mount(2)); elsewhere it
// skips, or fails when Required.
func SmallFS(t testing.TB, size int64) string {
	t.Helper()
	if os.Geteuid() != 0 {
		Skip(t, "a full-disk test mounts a small tmpfs, which needs root")
	}
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, fmt.Sprintf("size=%d,mode=0755", size)); err != nil {
		Skip(t, "cannot mount a %d-byte tmpfs on %s: %v", size, dir, err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			// Something still uses it (a daemon a test failed to stop):
			// detach it so that the test run does not leave a mount.
			syscall.Unmount(dir, syscall.MNT_DETACH)
			t.Errorf("unmount small fs %s: %v", dir, err)
		}
	})
	return dir
}

// Free returns the bytes available to an unprivileged writer on the
// filesystem holding path.
func Free(t testing.TB, path string) int64 {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		t.Fatalf("statfs %s: %v", path, err)
	}
	return int64(st.Bavail) * st.Bsize
}

// Fill takes space on the filesystem holding dir until about leave bytes
// are free, with one file that the returned function removes (freeing the
// space again; it is also removed when t ends).
func Fill(t testing.TB, dir string, leave int64) (release func()) {
	t.Helper()
	path := filepath.Join(dir, fmt.Sprintf(".fill-%d", os.Getpid()))
	for i := 0; ; i++ {
		if _, err := os.Stat(path); os.IsNotExist(err) {
			break
		}
		path = filepath.Join(dir, fmt.Sprintf(".fill-%d-%d", os.Getpid(), i))
	}
	take := Free(t, dir) - leave
	if take <= 0 {
		t.Fatalf("fill %s: only %d bytes free, wanted to leave %d", dir, Free(t, dir), leave)
	}
	// fallocate(1) reserves the blocks at once on tmpfs and ext4.
	if out, err := exec.Command("fallocate", "-l", fmt.Sprint(take), path).CombinedOutput(); err != nil {
		t.Fatalf("fallocate %d bytes in %s: %v\n%s", take, dir, err, out)
	}
	done := false
	release = func() {
		if !done {
			done = true
			os.Remove(path)
		}
	}
	t.Cleanup(release)
	return release
}

// RandomDocs writes n NDJSON documents {"id":ID,"body":...} with ids from
// first on, about 2 KiB each of random text (which compresses little, so
// that what they take on disk is about their size), deterministically.
func RandomDocs(t testing.TB, path string, first, n int) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(f)
	r := rand.New(rand.NewPCG(uint64(first), uint64(n)))
	raw := make([]byte, 1500)
	for id := first; id < first+n; id++ {
		for i := range raw {
			raw[i] = byte(r.Uint32())
		}
		fmt.Fprintf(w, `{"id":%d,"body":%q}`+"\n", id, base64.StdEncoding.EncodeToString(raw))
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}
