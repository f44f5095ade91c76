package integration

import (
	"bytes"
	"context"
	"os"
	"regexp"
	"testing"

	"github.com/idxfs/idxfs/snapshot"
)

// TestSnapshotCreateReuses: `snapshot create` after a small change copies
// the unchanged files' members from the previous snapshot; the outcome line
// says how many, the task's details (reusedFiles, reusedBytes) too, and the
// archive verifies.
func TestSnapshotCreateReuses(t *testing.T) {
	h := newHarness(t)
	h.must("index", "create", "src", "--primary-key", "id")
	h.must("documents", "add", "src", h.write("src.ndjson", ndjson(1, 40001, 0)))
	h.must("snapshot", "create", "src")
	taskRe := regexp.MustCompile(`\(task (\d+)`)
	reusedRe := regexp.MustCompile(`(\d+) files?, [^,]+, reused from the previous snapshot`)
	// Pebble compacts in the background: of several rounds of +1 %
	// documents, some find sstables the previous snapshot holds.
	seen := false
	for round := 1; round <= 4 && !seen; round++ {
		from := 40001 + (round-1)*400
		h.must("documents", "add", "src", h.write("more.ndjson", ndjson(from, from+400, 0)))
		stdout, stderr, code := h.run("snapshot", "create", "src")
		if code != 0 {
			t.Fatalf("snapshot create: exit %d\n%s", code, stderr)
		}
		m := taskRe.FindStringSubmatch(stderr)
		if m == nil {
			t.Fatalf("snapshot create printed no task on stderr: %q", stderr)
		}
		var tk struct {
			Details struct {
				ReusedFiles *int   `json:"reusedFiles"`
				ReusedBytes *int64 `json:"reusedBytes"`
			} `json:"details"`
		}
		h.mustJSON(&tk, "tasks", "show", "--json", m[1])
		if tk.Details.ReusedFiles == nil || tk.Details.ReusedBytes == nil {
			t.Fatalf("task %s: no reusedFiles/reusedBytes in its details", m[1])
		}
		r := reusedRe.FindStringSubmatch(stderr)
		if (*tk.Details.ReusedFiles > 0) != (r != nil) {
			t.Fatalf("details say %d files reused, the outcome line %q", *tk.Details.ReusedFiles, stderr)
		}
		if r == nil {
			continue
		}
		seen = true
		b, err := os.ReadFile(stdout[:len(stdout)-1])
		if err != nil {
			t.Fatal(err)
		}
		if _, err := snapshot.Verify(context.Background(), bytes.NewReader(b), snapshot.ReadOptions{}); err != nil {
			t.Fatalf("the reused snapshot does not verify: %v", err)
		}
		h.must("snapshot", "verify", stdout[:len(stdout)-1])
	}
	if !seen {
		t.Fatal("four snapshots after +1 % documents reused nothing")
	}
}
