package integration

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// storedInfo is what `snapshot list --json` says that the checks read.
type storedInfo struct {
	ID           string `json:"id"`
	ShortID      string `json:"shortId"`
	Path         string `json:"path"`
	IndexUID     string `json:"indexUid"`
	IndexVersion uint64 `json:"indexVersion"`
	Documents    int    `json:"numberOfDocuments"`
}

func (h *harness) stored(idx ...string) []storedInfo {
	h.t.Helper()
	var ss []storedInfo
	h.mustJSON(&ss, append([]string{"snapshot", "list", "--json"}, idx...)...)
	return ss
}

// snapshotVersions makes n versions of index name, each snapshotted, and
// returns the stored paths, oldest first.
func (h *harness) snapshotVersions(name string, n int) []string {
	h.t.Helper()
	h.must("index", "create", name, "--primary-key", "id")
	var paths []string
	for i := range n {
		h.mustIn(bytes.NewReader(ndjson(1, 11+i, i)), "documents", "add", name)
		paths = append(paths, strings.TrimSpace(h.must("snapshot", "create", name, "--snapshot-keep", "10")))
	}
	return paths
}

// TestSnapshotIDsDeleteImport: snapshot list prints a short id per stored
// snapshot (the whole one with --json); import, delete take an id, any
// unique prefix, or a path; a missing one is exit 4, and nothing is
// deleted if one argument is not found.
func TestSnapshotIDsDeleteImport(t *testing.T) {
	h := newHarness(t)
	paths := h.snapshotVersions("a", 3)
	ss := h.stored()
	if len(ss) != 3 {
		t.Fatalf("snapshot list: %+v", ss)
	}
	hex := regexp.MustCompile(`^[0-9a-f]{64}$`)
	text := h.must("snapshot", "list")
	for i, s := range ss {
		if !hex.MatchString(s.ID) || s.ShortID != s.ID[:8] || s.Path != paths[i] {
			t.Errorf("snapshot %d: %+v", i, s)
		}
		if !regexp.MustCompile(`(?m)^` + s.ShortID + `\s+a\s`).MatchString(text) {
			t.Errorf("snapshot list does not start a line with %s:\n%s", s.ShortID, text)
		}
	}
	// The id is stable: a second listing, and the next process, agree.
	if again := h.stored(); again[0].ID != ss[0].ID {
		t.Errorf("ids changed between listings: %s, %s", ss[0].ID, again[0].ID)
	}

	// Import the oldest by its short id, and by a 5-digit prefix.
	h.must("snapshot", "import", ss[0].ShortID, "--as", "r")
	if in := h.show("r"); in.NumberOfDocuments != ss[0].Documents || in.NumberOfDocuments != 10 {
		t.Errorf("import by id: %+v, want the %d documents of the oldest", in, ss[0].Documents)
	}
	h.must("snapshot", "import", ss[1].ID[:5], "--as", "r2")
	if in := h.show("r2"); in.NumberOfDocuments != 11 {
		t.Errorf("import by a prefix: %d documents, want 11", in.NumberOfDocuments)
	}
	if _, stderr, code := h.run("snapshot", "import", "ffffffff", "--as", "x"); code != 4 || !strings.Contains(stderr, "no such stored snapshot") {
		t.Errorf("import of an unknown id: exit %d, %s", code, stderr)
	}

	// One argument not found: nothing deleted.
	if _, stderr, code := h.run("snapshot", "delete", ss[0].ShortID, "ffffffff"); code != 4 || !strings.Contains(stderr, "ffffffff") {
		t.Errorf("delete with an unknown id: exit %d, %s", code, stderr)
	}
	if _, err := os.Stat(paths[0]); err != nil {
		t.Errorf("a refused delete removed %s: %v", paths[0], err)
	}
	out := h.must("snapshot", "delete", ss[0].ShortID, paths[1])
	for i := range 2 {
		if _, err := os.Stat(paths[i]); !os.IsNotExist(err) {
			t.Errorf("%s still there after delete: %v", paths[i], err)
		}
		if !strings.Contains(out, "deleted "+ss[i].ShortID) {
			t.Errorf("delete output:\n%s", out)
		}
	}
	if _, _, code := h.run("snapshot", "delete", ss[0].ShortID); code != 4 {
		t.Errorf("second delete: exit %d, want 4", code)
	}
	if _, _, code := h.run("snapshot", "delete", "/etc/passwd"); code != 4 {
		t.Errorf("delete of a file outside the store: exit %d, want 4", code)
	}
	if got := h.stored(); len(got) != 1 || got[0].Path != paths[2] {
		t.Errorf("left: %+v", got)
	}
}

// pruneDecision is what `snapshot prune --json` says that the checks read.
type pruneDecision struct {
	ShortID     string   `json:"shortId"`
	IndexUID    string   `json:"indexUid"`
	Path        string   `json:"path"`
	Keep        bool     `json:"keep"`
	Removed     bool     `json:"removed"`
	IndexExists bool     `json:"indexExists"`
	Reasons     []string `json:"reasons"`
}

// TestSnapshotPrune: prune refuses no rule; --dry-run deletes nothing;
// --keep-last keeps the newest N of each index, a deleted index's too;
// --keep-within keeps those within DURATION of the index's newest; --index
// limits it to one index.
func TestSnapshotPrune(t *testing.T) {
	h := newHarness(t)
	a := h.snapshotVersions("a", 4)
	b := h.snapshotVersions("b", 3)
	h.must("index", "delete", "b")
	// An old snapshot of a, as a store of years ago holds it (the store
	// dates a snapshot by its name).
	old := filepath.Join(filepath.Dir(a[0]), "a_20200101T000000.000000Z.idx.snapshot")
	sh := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
	}
	sh("cp", a[0], old)
	sh("chmod", "0400", old)
	a = append([]string{old}, a...)

	for _, bad := range [][]string{{}, {"--keep-last", "0"}, {"--keep-within", "soon"}, {"--keep-within", "0d"}} {
		if _, stderr, code := h.run(append([]string{"snapshot", "prune"}, bad...)...); code != 2 {
			t.Errorf("prune %v: exit %d, want 2 (%s)", bad, code, stderr)
		}
	}
	left := func() int {
		return len(h.stored())
	}
	if n := left(); n != 8 {
		t.Fatalf("%d stored snapshots, want 8", n)
	}

	var ds []pruneDecision
	h.mustJSON(&ds, "snapshot", "prune", "--keep-last", "2", "--dry-run", "--json")
	keep := map[string]bool{a[3]: true, a[4]: true, b[1]: true, b[2]: true}
	for _, d := range ds {
		if d.Keep != keep[d.Path] || d.Removed || d.IndexExists != (d.IndexUID == "a") {
			t.Errorf("dry run: %+v", d)
		}
		if d.Keep && (len(d.Reasons) != 1 || d.Reasons[0] != "last 2") {
			t.Errorf("reasons: %+v", d)
		}
	}
	if len(ds) != 8 || left() != 8 {
		t.Errorf("dry run: %d decisions, %d snapshots left", len(ds), left())
	}
	text := h.must("snapshot", "prune", "--keep-last", "2", "--dry-run")
	if !strings.Contains(text, "would remove") || !strings.Contains(text, "b (deleted)") || left() != 8 {
		t.Errorf("dry run text:\n%s", text)
	}

	// --keep-within 1h keeps a's recent ones and drops the old one only.
	h.mustJSON(&ds, "snapshot", "prune", "--keep-within", "1h", "--index", "a", "--json")
	for _, d := range ds {
		if d.IndexUID != "a" || d.Keep == (d.Path == old) || d.Removed != (d.Path == old) {
			t.Errorf("--keep-within 1h --index a: %+v", d)
		}
	}
	if _, err := os.Stat(old); !os.IsNotExist(err) {
		t.Errorf("the old snapshot is still there: %v", err)
	}

	// --keep-last 1: the newest of each index, the deleted one's included.
	text = h.must("snapshot", "prune", "--keep-last", "1")
	var paths []string
	for _, s := range h.stored() {
		paths = append(paths, s.Path)
	}
	if strings.Join(paths, " ") != a[4]+" "+b[2] {
		t.Errorf("after --keep-last 1: %v, want %s and %s\n%s", paths, a[4], b[2], text)
	}
	if !regexp.MustCompile(`kept 2, removed 5 snapshots`).MatchString(text) {
		t.Errorf("prune summary:\n%s", text)
	}
	if _, stderr, code := h.run("snapshot", "prune", "--keep-last", "1", "--index", "nope"); code != 4 {
		t.Errorf("prune of an index with no snapshots: exit %d, %s", code, stderr)
	}
}

// TestConcurrentSnapshotCreations: two `snapshot create --no-wait` of one
// index version, run together: the second reuses the first's archive, so
// that with --snapshot-keep 2 the previous version's snapshot stays.
func TestConcurrentSnapshotCreations(t *testing.T) {
	h := newHarness(t)
	h.must("index", "create", "a", "--primary-key", "id")
	h.must("documents", "add", "a", h.write("a.ndjson", ndjson(1, 30001, 0)))
	prev := strings.TrimSpace(h.must("snapshot", "create", "a"))
	h.mustIn(bytes.NewReader(ndjson(1, 2, 1)), "documents", "add", "a")

	var uids []uint64
	for range 2 {
		var tk taskInfo
		h.mustJSON(&tk, "snapshot", "create", "a", "--no-wait", "--json")
		uids = append(uids, tk.UID)
	}
	// Both run in this one process, as a mount would run them.
	h.must("tasks", "wait", strconv.FormatUint(uids[1], 10), "--snapshot-keep", "2")
	var details [2]struct {
		Details struct {
			Path   string `json:"path"`
			Reused bool   `json:"reused"`
		} `json:"details"`
		Status string `json:"status"`
	}
	for i, uid := range uids {
		h.mustJSON(&details[i], "tasks", "show", strconv.FormatUint(uid, 10), "--json")
	}
	if details[0].Status != "succeeded" || details[1].Status != "succeeded" || details[1].Details.Path != details[0].Details.Path {
		t.Errorf("the two creations: %+v; want the second to reuse the first's archive", details)
	}
	ss := h.stored("a")
	if len(ss) != 2 || ss[0].Path != prev || ss[1].Path != details[0].Details.Path {
		t.Errorf("stored: %+v; want the previous version's %s and one of the new version", ss, prev)
	}
}
