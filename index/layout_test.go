package index

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
)

func TestWriteFileAtomic(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := filepath.Join(dir, "VERSION")
	for _, content := range []string{"1\n", "2\n"} {
		if err := writeFileAtomic(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if got, _ := os.ReadFile(p); string(got) != content {
			t.Errorf("content %q, want %q", got, content)
		}
	}
	if names := dirNames(t, dir); !slices.Equal(names, []string{"VERSION"}) {
		t.Errorf("temporary files left: %v", names)
	}
	if err := writeFileAtomic(filepath.Join(dir, "missing", "x"), nil, 0o644); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("into a missing dir: %v", err)
	}
}

func TestIDs(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for range 100 {
		id := newID()
		if !validID(id) || seen[id] {
			t.Fatalf("newID = %q (seen before: %v)", id, seen[id])
		}
		seen[id] = true
	}
	for _, bad := range []string{"", "0123456789ABCDEF", "0123456789abcde", "0123456789abcdefa", "0123456789abcdeg", "../../../../etc/"} {
		if validID(bad) {
			t.Errorf("validID(%q)", bad)
		}
	}
}

// TestSizeOnDisk: an index's size on disk agrees with the size of its
// directory, and grows with its documents. (Pebble preallocates its WAL, so
// the documents must be more than the WAL holds before a flush: 16 MB.)
func TestSizeOnDisk(t *testing.T) {
	t.Parallel()
	s := openStore(t, "")
	mustCreate(t, s, "m", "")
	empty := mustGet(t, s, "m")
	add(t, s, "m", genNDJSON(1, 20000, 800))
	full := mustGet(t, s, "m")
	if full.SizeOnDisk <= empty.SizeOnDisk || full.SizeOnDisk < 8<<20 {
		t.Errorf("size on disk: %d empty, %d with 20000 documents", empty.SizeOnDisk, full.SizeOnDisk)
	}
	walked := dirSize(t, filepath.Join(s.Dir(), "indexes", full.ID))
	if full.SizeOnDisk < walked/2 || full.SizeOnDisk > walked*2 {
		t.Errorf("size on disk %d, the directory holds %d bytes", full.SizeOnDisk, walked)
	}
}

// TestSizeOnDiskIsDu: an index's size on disk is what du -sB1 reports for
// its directory (issue 9: pebble's own account was 3-10× off), and it does
// not change while the index does not.
func TestSizeOnDiskIsDu(t *testing.T) {
	t.Parallel()
	du, err := exec.LookPath("du")
	if err != nil {
		t.Skip("no du")
	}
	s := openStore(t, "")
	mustCreate(t, s, "m", "")
	for _, n := range []int{0, 3, 2000} {
		if n > 0 {
			add(t, s, "m", genNDJSON(1, n, 300))
		}
		// A background compaction may change the files between two
		// reads: compare when two Gets around du agree.
		for try := 0; ; try++ {
			before := mustGet(t, s, "m")
			out, err := exec.Command(du, "-sB1", filepath.Join(s.Dir(), "indexes", before.ID)).Output()
			if err != nil {
				t.Fatal(err)
			}
			after := mustGet(t, s, "m")
			var got int64
			if _, err := fmt.Sscan(string(out), &got); err != nil {
				t.Fatalf("du said %q: %v", out, err)
			}
			if before.SizeOnDisk == after.SizeOnDisk && before.SizeOnDisk == got {
				break
			}
			if try == 20 {
				t.Fatalf("%d documents: size on disk %d then %d, du -sB1 %d", n, before.SizeOnDisk, after.SizeOnDisk, got)
			}
		}
	}
}

// dirSize sums the sizes of the regular files under dir.
func dirSize(t *testing.T, dir string) int64 {
	t.Helper()
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if info, err := d.Info(); err == nil && d.Type().IsRegular() {
			n += info.Size()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestLockedErrorMessage(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		holder LockInfo
		want   string
	}{
		{LockInfo{PID: 1234, Mountpoint: "/mnt/idx"}, "data dir /x is in use by pid 1234 (mounted at /mnt/idx)"},
		{LockInfo{PID: 1234}, "data dir /x is in use by pid 1234"},
		{LockInfo{}, "data dir /x is in use by another process"},
		{LockInfo{PID: 1234, Command: "idxfs tasks wait 3"}, "data dir /x is in use by pid 1234, running: idxfs tasks wait 3"},
	} {
		err := error(&LockedError{Dir: "/x", Holder: tc.holder})
		if err.Error() != tc.want || !errors.Is(err, ErrLocked) {
			t.Errorf("%+v: %q", tc.holder, err)
		}
	}
}
