package task

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// storedAt is a StoredFile of index uid created at t, as the store names it.
func storedAt(uid string, t time.Time) StoredFile {
	name := uid + "_" + t.UTC().Format(storedTimeFormat) + SnapshotSuffix
	return StoredFile{ID: SnapshotID(name), IndexUID: uid, Name: name, Path: "/s/" + uid + "/" + name}
}

// TestJudge: restic's forget policy, per index: a snapshot is kept if any
// rule keeps it; --keep-within counts from the index's newest snapshot.
func TestJudge(t *testing.T) {
	t.Parallel()
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	// a: days 0..9 (newest day 9); gone: an index deleted long ago, days 0 and 1.
	var files []StoredFile
	for i := range 10 {
		files = append(files, storedAt("a", base.Add(time.Duration(i)*day)))
	}
	files = append(files, storedAt("gone", base.Add(-100*day)), storedAt("gone", base.Add(-99*day)))
	kept := func(p PrunePolicy) map[string][]int {
		out := map[string][]int{}
		for i, d := range Judge(files, p) {
			if d.Keep != (len(d.Reasons) > 0) {
				t.Errorf("%+v: keep %v with reasons %v", p, d.Keep, d.Reasons)
			}
			if d.Keep {
				n := i
				if d.IndexUID == "gone" {
					n = i - 10
				}
				out[d.IndexUID] = append(out[d.IndexUID], n)
			}
			if !d.CreatedAt.Equal(d.CreatedAt.UTC()) || d.CreatedAt.IsZero() {
				t.Errorf("createdAt %v", d.CreatedAt)
			}
		}
		return out
	}
	for _, c := range []struct {
		p    PrunePolicy
		a    []int
		gone []int
	}{
		{PrunePolicy{KeepLast: 3}, []int{7, 8, 9}, []int{0, 1}},
		{PrunePolicy{KeepLast: 1}, []int{9}, []int{1}},
		{PrunePolicy{KeepWithin: 2 * day}, []int{7, 8, 9}, []int{0, 1}},
		{PrunePolicy{KeepWithin: 12 * time.Hour}, []int{9}, []int{1}},
		// Either rule keeps.
		{PrunePolicy{KeepLast: 2, KeepWithin: 4 * day}, []int{5, 6, 7, 8, 9}, []int{0, 1}},
		{PrunePolicy{KeepLast: 5, KeepWithin: 1 * day}, []int{5, 6, 7, 8, 9}, []int{0, 1}},
	} {
		got := kept(c.p)
		if !slices.Equal(got["a"], c.a) || !slices.Equal(got["gone"], c.gone) {
			t.Errorf("%+v keeps a %v, gone %v; want %v, %v", c.p, got["a"], got["gone"], c.a, c.gone)
		}
	}
	ds := Judge(files, PrunePolicy{KeepLast: 1, KeepWithin: day})
	if r := ds[9].Reasons; len(r) != 2 || r[0] != "last 1" || r[1] != "within 1d of the newest" {
		t.Errorf("reasons of the newest: %q", r)
	}
	if r := ds[0].Reasons; len(r) != 0 {
		t.Errorf("reasons of a removed one: %q", r)
	}
}

func TestParseKeepDuration(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]time.Duration{
		"7d": 7 * 24 * time.Hour, "2w": 14 * 24 * time.Hour, "36h": 36 * time.Hour,
		"1d12h": 36 * time.Hour, "90m": 90 * time.Minute, "1w1d": 8 * 24 * time.Hour,
	} {
		if got, err := ParseKeepDuration(in); err != nil || got != want {
			t.Errorf("ParseKeepDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "0", "0d", "d", "7x", "-1d", "1d2w", "7 d"} {
		if got, err := ParseKeepDuration(in); !errors.Is(err, ErrInvalid) {
			t.Errorf("ParseKeepDuration(%q) = %v, %v; want ErrInvalid", in, got, err)
		}
	}
}

// TestPruneDeleteResolve: ids resolve by unique prefix; delete removes the
// file (an open reader reads on) and the store's record; prune refuses no
// rule, leaves everything with --dry-run and judges a deleted index's
// snapshots by the same rules.
func TestPruneDeleteResolve(t *testing.T) {
	t.Parallel()
	e, _ := testEngine(t, Options{SnapshotKeep: 10})
	e.Start()
	var paths []string
	for _, uid := range []string{"a", "b"} {
		createIndex(t, e, uid)
		for i := range 3 {
			addDocs(t, e, uid, docs(i*10, 5))
			paths = append(paths, snapshotOf(t, e, uid).Path)
		}
	}
	mustSucceed(t, do(t, e, Request{Kind: IndexDeletion, IndexUID: "b"}))

	files, err := e.SnapshotFiles("")
	if err != nil || len(files) != 6 {
		t.Fatalf("SnapshotFiles = %v, %v", files, err)
	}
	ss, _ := e.Snapshots("a")
	if ss[0].ID != files[0].ID || ss[0].ShortID != files[0].ID[:ShortIDLen] {
		t.Errorf("Snapshots gives id %s/%s, SnapshotFiles %s", ss[0].ID, ss[0].ShortID, files[0].ID)
	}
	for _, f := range files {
		for _, ref := range []string{f.ID, f.ID[:ShortIDLen], f.Path} {
			if got, err := e.ResolveSnapshot(ref); err != nil || got.Path != f.Path {
				t.Errorf("ResolveSnapshot(%s) = %v, %v; want %s", ref, got.Path, err, f.Path)
			}
		}
	}
	// A prefix of several ids is ambiguous, and the error names them.
	twins := []StoredFile{{ID: "abcd1234" + files[0].ID[8:], Path: "/x"}, {ID: "abcd5678" + files[1].ID[8:], Path: "/y"}}
	if _, err := FindSnapshot(twins, "abcd"); !errors.Is(err, ErrAmbiguousSnapshotID) || !strings.Contains(err.Error(), "/x") || !strings.Contains(err.Error(), "/y") {
		t.Errorf("ambiguous prefix: %v", err)
	}
	if f, err := FindSnapshot(twins, "abcd5"); err != nil || f.Path != "/y" {
		t.Errorf("unique prefix: %v, %v", f, err)
	}
	for _, ref := range []string{"ffffffffffffffff", "zzzz", "/etc/passwd", filepath.Join(filepath.Dir(files[0].Path), "x"+SnapshotSuffix)} {
		if _, err := e.ResolveSnapshot(ref); !errors.Is(err, ErrStoredSnapshotNotFound) {
			t.Errorf("ResolveSnapshot(%s): %v, want ErrStoredSnapshotNotFound", ref, err)
		}
	}

	if _, err := e.PruneSnapshots(PrunePolicy{}, "", false); !errors.Is(err, ErrInvalid) {
		t.Errorf("prune with no rule: %v", err)
	}
	ds, err := e.PruneSnapshots(PrunePolicy{KeepLast: 1}, "", true)
	if err != nil || len(ds) != 6 {
		t.Fatalf("dry run: %v, %v", ds, err)
	}
	for i, d := range ds {
		if d.Keep != (i == 2 || i == 5) || d.Removed || d.IndexExists != (d.IndexUID == "a") {
			t.Errorf("dry run decision %d: %+v", i, d)
		}
	}
	if got, _ := e.SnapshotFiles(""); len(got) != 6 {
		t.Errorf("dry run removed files: %d left", len(got))
	}

	// Delete the newest of a while a reader has it open.
	r, err := OpenStored(paths[2])
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	f, _ := e.ResolveSnapshot(paths[2])
	if err := e.DeleteSnapshot(f); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(paths[2]); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("deleted file still there: %v", err)
	}
	if _, err := r.Read(make([]byte, 10)); err != nil {
		t.Errorf("an open reader of a deleted snapshot: %v", err)
	}
	if err := e.DeleteSnapshot(f); !errors.Is(err, ErrStoredSnapshotNotFound) {
		t.Errorf("second delete: %v", err)
	}
	if _, ok, _ := e.FreshSnapshot(context.Background(), "a"); ok {
		t.Error("the deleted snapshot is still fresh")
	}
	if d := snapshotOf(t, e, "a"); d.Reused {
		t.Error("a snapshot after the delete reused the deleted one")
	}

	ds, err = e.PruneSnapshots(PrunePolicy{KeepLast: 1}, "b", false)
	if err != nil || len(ds) != 3 || !ds[2].Keep || ds[0].Keep || !ds[0].Removed {
		t.Fatalf("prune b: %+v, %v", ds, err)
	}
	left, _ := e.SnapshotFiles("b")
	if len(left) != 1 || left[0].Path != paths[5] {
		t.Errorf("left of b: %v, want %s", left, paths[5])
	}
	// The last one of the deleted index, deleted by hand: its directory goes.
	if err := e.DeleteSnapshot(left[0]); err != nil {
		t.Fatal(err)
	}
	if dirs, _ := e.SnapshotDirs(); !slices.Equal(dirs, []string{"a"}) {
		t.Errorf("store directories %v, want [a]", dirs)
	}
	if _, err := e.PruneSnapshots(PrunePolicy{KeepLast: 1}, "b", false); !errors.Is(err, ErrStoredSnapshotNotFound) || !strings.Contains(err.Error(), `"b"`) {
		t.Errorf("prune of an index with no snapshots: %v", err)
	}
}
