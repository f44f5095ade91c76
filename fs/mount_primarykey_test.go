package fs

import (
	"os"
	"syscall"
	"testing"

	"github.com/idxfs/idxfs/task"
)

// TestMountPrimaryKeyFile: primary-key reads as the index's key and a
// newline (empty while it has none); a key written to it is set by one
// indexUpdate task when the writer closes; the same key again succeeds, a
// conflicting or empty one fails the close with EINVAL and changes
// nothing; a stat starts no task.
func TestMountPrimaryKeyFile(t *testing.T) {
	t.Parallel()
	f := mountFS(t, map[string]int{"movies": 3}, nil)
	if err := os.Mkdir(f.path("indexes", "fresh"), 0o755); err != nil {
		t.Fatal(err)
	}
	pk := f.path("indexes", "fresh", primaryKeyName)
	updates := func() int { return len(f.tasks(task.IndexUpdate)) }

	if st := f.stat("indexes", "fresh", primaryKeyName); st.Size != 0 || st.Mode != syscall.S_IFREG|0o644&f.perm() {
		t.Errorf("stat %s: mode %o size %d, want %o and 0", primaryKeyName, st.Mode, st.Size, syscall.S_IFREG|0o644&f.perm())
	}
	if got := string(f.read("indexes", "fresh", primaryKeyName)); got != "" {
		t.Errorf("a keyless index's primary-key reads %q", got)
	}
	if got := string(f.read("indexes", "movies", primaryKeyName)); got != "id\n" {
		t.Errorf("movies' primary-key reads %q, want \"id\\n\"", got)
	}
	if n := updates(); n != 0 {
		t.Errorf("stats and reads started %d updates", n)
	}
	if err := writeDocuments(t, pk, os.O_WRONLY|os.O_TRUNC, []byte("sku\n")); err != nil {
		t.Fatalf("write sku: %v", err)
	}
	if got := string(f.read("indexes", "fresh", primaryKeyName)); got != "sku\n" {
		t.Errorf("primary-key reads %q after writing sku", got)
	}
	if st := f.stat("indexes", "fresh", primaryKeyName); st.Size != 4 {
		t.Errorf("stat size %d, want 4", st.Size)
	}
	ts := f.tasks(task.IndexUpdate)
	if len(ts) != 1 || ts[0].Status != task.Succeeded || ts[0].IndexUID != "fresh" {
		t.Fatalf("update tasks after one close: %+v, want one that succeeded", ts)
	}
	// The same key again (without a newline): a no-op that succeeds.
	if err := writeDocuments(t, pk, os.O_WRONLY|os.O_TRUNC, []byte("sku")); err != nil {
		t.Errorf("write the same key: %v", err)
	}
	// Another key, on an index with one: EINVAL.
	if err := writeDocuments(t, pk, os.O_WRONLY|os.O_TRUNC, []byte("id\n")); errnoIn(t, err) != syscall.EINVAL {
		t.Errorf("close after a conflicting key: %v, want EINVAL", err)
	}
	if err := writeDocuments(t, f.path("indexes", "movies", primaryKeyName), os.O_WRONLY|os.O_TRUNC, []byte("sku\n")); errnoIn(t, err) != syscall.EINVAL {
		t.Errorf("close after a key on a keyed index: %v, want EINVAL", err)
	}
	// Nothing, or two lines: EINVAL.
	for _, bad := range []string{"\n", "a\nb\n"} {
		if err := writeDocuments(t, pk, os.O_WRONLY|os.O_TRUNC, []byte(bad)); errnoIn(t, err) != syscall.EINVAL {
			t.Errorf("close after %q: %v, want EINVAL", bad, err)
		}
	}
	if got := string(f.read("indexes", "fresh", primaryKeyName)); got != "sku\n" {
		t.Errorf("refused writes changed the key: %q", got)
	}
}
