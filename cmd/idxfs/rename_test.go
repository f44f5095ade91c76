package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestIndexRenameSwap: rename and swap as a user types them, the refusal
// of a rename onto an existing index with the way that does it.
func TestIndexRenameSwap(t *testing.T) {
	t.Parallel()
	dir := newIndex(t)
	mustIn(t, dir, nil, "index", "create", "other", "--primary-key", "id")

	r := mustIn(t, dir, nil, "index", "rename", "films", "movies")
	if !strings.Contains(r.stdout, `renamed index "films" to "movies"`) {
		t.Errorf("rename printed %q", r.stdout)
	}
	if r := in(t, dir, nil, "index", "show", "films"); r.code != exitNotFound {
		t.Errorf("show of the old name: %s", r)
	}
	if r := mustIn(t, dir, nil, "documents", "export", "movies"); r.stdout == "" || strings.Count(r.stdout, "\n") != 3 {
		t.Errorf("movies holds %q, want the three documents of films", r.stdout)
	}

	r = in(t, dir, nil, "index", "rename", "movies", "other")
	if r.code != exitExists || !strings.Contains(r.stderr, "idxfs index swap movies other") {
		t.Errorf("rename onto an existing index: %s\nwant exit %d and the swap hint", r, exitExists)
	}
	if r := in(t, dir, nil, "index", "rename", "movies"); r.code != exitUsage {
		t.Errorf("rename with one name: %s", r)
	}

	r = mustIn(t, dir, nil, "index", "swap", "movies", "other")
	if !strings.Contains(r.stdout, `swapped indexes "movies" and "other"`) {
		t.Errorf("swap printed %q", r.stdout)
	}
	if r := mustIn(t, dir, nil, "documents", "export", "other"); strings.Count(r.stdout, "\n") != 3 {
		t.Errorf("other holds %q after the swap, want movies' three documents", r.stdout)
	}
	if r := mustIn(t, dir, nil, "documents", "export", "movies"); r.stdout != "" {
		t.Errorf("movies holds %q after the swap, want other's none", r.stdout)
	}
	if r := in(t, dir, nil, "index", "swap", "movies", "nope"); r.code != exitNotFound {
		t.Errorf("swap with a missing index: %s", r)
	}
	r = mustIn(t, dir, nil, "tasks", "list", "--type", "indexRename,indexSwap")
	if !strings.Contains(r.stdout, "indexRename") || !strings.Contains(r.stdout, "indexSwap") {
		t.Errorf("tasks list:\n%s", r.stdout)
	}
}

// TestSnapshotImportReplace: an import onto an existing index says how to
// replace it; --replace with a corrupt archive leaves the index; with a
// good one it replaces it.
func TestSnapshotImportReplace(t *testing.T) {
	t.Parallel()
	dir := newIndex(t)
	out := filepath.Join(t.TempDir(), "films.tar.gz")
	mustIn(t, dir, nil, "snapshot", "create", "films", "--output", out)
	mustIn(t, dir, strings.NewReader(`{"id":9,"title":"nine"}`), "documents", "add", "films")

	r := in(t, dir, nil, "snapshot", "import", out)
	if r.code != exitExists || !strings.Contains(r.stderr, "--replace") {
		t.Errorf("import onto an existing index: %s\nwant exit %d and a hint at --replace", r, exitExists)
	}

	raw, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	raw[len(raw)*2/3] ^= 0x55
	bad := filepath.Join(t.TempDir(), "bad.tar.gz")
	if err := os.WriteFile(bad, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	if r := in(t, dir, nil, "snapshot", "import", bad, "--as", "films", "--replace"); r.code != exitInvalid {
		t.Errorf("replace from a corrupt archive: %s", r)
	}
	if r := mustIn(t, dir, nil, "documents", "export", "films"); strings.Count(r.stdout, "\n") != 4 {
		t.Errorf("films after a failed replace holds %q, want its four documents", r.stdout)
	}

	r = mustIn(t, dir, nil, "snapshot", "import", out, "--replace")
	if !strings.Contains(r.stdout, `replacing "films"`) {
		t.Errorf("replace printed %q", r.stdout)
	}
	if r := mustIn(t, dir, nil, "documents", "export", "films"); strings.Count(r.stdout, "\n") != 3 {
		t.Errorf("films after the replace holds %q, want the archive's three documents", r.stdout)
	}
	if ents, _ := os.ReadDir(filepath.Join(dir, "tmp")); len(ents) != 0 {
		t.Errorf("tmp/ holds %d entries", len(ents))
	}
}
