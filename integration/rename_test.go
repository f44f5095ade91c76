package integration

import (
	"os"
	"strings"
	"testing"
)

// TestRenameSwapReplaceCLI: idxfs index rename, index swap and snapshot
// import --replace as a user runs them, with the binary: the tasks show in
// tasks list; an import onto an existing index says --replace; a corrupt
// archive with --replace leaves the old index and its documents.
func TestRenameSwapReplaceCLI(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.must("index", "create", "movies", "--primary-key", "id")
	h.mustIn(strings.NewReader(`{"id":1}`+"\n"+`{"id":2}`+"\n"), "documents", "add", "movies")
	h.must("index", "create", "books", "--primary-key", "id")

	h.must("index", "rename", "movies", "films")
	if _, _, code := h.run("index", "show", "movies"); code != 4 {
		t.Errorf("index show of the old name: exit %d, want 4", code)
	}
	if in := h.show("films"); in.NumberOfDocuments != 2 {
		t.Errorf("films = %+v, want movies' 2 documents", in)
	}
	if _, stderr, code := h.run("index", "rename", "films", "books"); code != 5 || !strings.Contains(stderr, "idxfs index swap films books") {
		t.Errorf("rename onto an existing index: exit %d, %q", code, stderr)
	}
	h.must("index", "swap", "films", "books")
	if f, b := h.show("films"), h.show("books"); f.NumberOfDocuments != 0 || b.NumberOfDocuments != 2 {
		t.Errorf("after the swap: films %+v, books %+v", f, b)
	}

	archive := h.path("books.tar.gz")
	h.must("snapshot", "create", "books", "--output", archive)
	h.mustIn(strings.NewReader(`{"id":3}`+"\n"), "documents", "add", "books")
	if _, stderr, code := h.run("snapshot", "import", archive); code != 5 || !strings.Contains(stderr, "--replace") {
		t.Errorf("import onto an existing index: exit %d, %q; want 5 and --replace", code, stderr)
	}
	raw, err := os.ReadFile(archive)
	if err != nil {
		t.Fatal(err)
	}
	raw[len(raw)/2] ^= 0xff
	bad := h.write("bad.tar.gz", raw)
	if _, _, code := h.run("snapshot", "import", bad, "--as", "books", "--replace"); code != 6 {
		t.Errorf("replace from a corrupt archive: exit %d, want 6", code)
	}
	if b := h.show("books"); b.NumberOfDocuments != 3 {
		t.Errorf("books after a failed replace: %+v, want its 3 documents", b)
	}
	if out := h.must("snapshot", "import", archive, "--replace"); !strings.Contains(out, `replacing "books"`) {
		t.Errorf("replace printed %q", out)
	}
	if b := h.show("books"); b.NumberOfDocuments != 2 {
		t.Errorf("books after the replace: %+v, want the archive's 2 documents", b)
	}
	var ts []taskInfo
	h.mustJSON(&ts, "tasks", "list", "--json")
	kinds := map[string]int{}
	for _, tk := range ts {
		kinds[tk.Type+"/"+tk.Status]++
	}
	if kinds["indexRename/succeeded"] != 1 || kinds["indexSwap/succeeded"] != 1 || kinds["singleIndexSnapshotImport/succeeded"] != 1 || kinds["singleIndexSnapshotImport/failed"] != 1 {
		t.Errorf("tasks list: %v", kinds)
	}
	if ents, _ := os.ReadDir(h.data + "/tmp"); len(ents) != 0 {
		t.Errorf("DATA/tmp holds %d entries", len(ents))
	}
}
