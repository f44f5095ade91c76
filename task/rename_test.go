package task

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/idxfs/idxfs/index"
)

func TestRenameTask(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e, st := testEngine(t, Options{})
	e.Start()
	createIndex(t, e, "a")
	mustSucceed(t, addDocs(t, e, "a", docs(1, 10)))
	createIndex(t, e, "taken")
	want := export(t, st, "a")

	for _, tt := range []struct {
		from, to string
		err      error
	}{
		{"a", "taken", index.ErrExists},
		{"a", "a", ErrInvalid},
		{"a", "bad name", index.ErrInvalidUID},
		{"bad name", "x", index.ErrInvalidUID},
	} {
		if _, err := e.Enqueue(ctx, Request{Kind: IndexRename, IndexUID: tt.from, NewIndexUID: tt.to}); !errors.Is(err, tt.err) {
			t.Errorf("rename %q to %q: %v, want %v", tt.from, tt.to, err, tt.err)
		}
	}
	if tk := do(t, e, Request{Kind: IndexRename, IndexUID: "nope", NewIndexUID: "x"}); tk.Status != Failed || tk.Error.Code != CodeIndexNotFound {
		t.Errorf("rename of a missing index: %s %+v", tk.Status, tk.Error)
	}

	tk := mustSucceed(t, do(t, e, Request{Kind: IndexRename, IndexUID: "a", NewIndexUID: "b"}))
	var d IndexRenameDetails
	if err := tk.DecodeDetails(&d); err != nil || d != (IndexRenameDetails{OldIndexUID: "a", NewIndexUID: "b"}) {
		t.Errorf("details %s", tk.Details)
	}
	if st.Exists("a") || export(t, st, "b") != want {
		t.Errorf("after the rename: a exists %v, b's documents are a's: %v", st.Exists("a"), export(t, st, "b") == want)
	}
}

// TestRenameClaimsItsName: from enqueue to end, a rename's new name is
// refused to imports, reservations and other renames; tasks of the old name
// enqueued before it run first.
func TestRenameClaimsItsName(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e, st := testEngine(t, Options{Workers: 2})
	g := newGate()
	e.hooks.process = g.hook
	e.Start()
	for _, uid := range []string{"a", "c"} {
		g.open(enqueue(t, e, Request{Kind: IndexCreation, IndexUID: uid}))
	}
	add := enqueue(t, e, Request{Kind: DocumentAdditionOrUpdate, IndexUID: "a", Documents: strings.NewReader(docs(1, 5))})
	g.waitStarted(t, add)
	ren := enqueue(t, e, Request{Kind: IndexRename, IndexUID: "a", NewIndexUID: "b"})
	if _, err := e.Reserve("b", "import/b"); !errors.Is(err, index.ErrExists) {
		t.Errorf("reserve the name a rename claims: %v, want ErrExists", err)
	}
	if _, err := e.ReserveReplace("b", "import/b"); !errors.Is(err, index.ErrExists) {
		t.Errorf("reserve-to-replace the name a rename claims: %v, want ErrExists", err)
	}
	pr, pw := io.Pipe()
	defer pw.Close()
	if _, err := e.Enqueue(ctx, Request{Kind: SingleIndexSnapshotImport, NewIndexUID: "b", Stream: pr}); !errors.Is(err, index.ErrExists) {
		t.Errorf("import to the name a rename claims: %v, want ErrExists", err)
	}
	if _, err := e.Enqueue(ctx, Request{Kind: IndexRename, IndexUID: "c", NewIndexUID: "b"}); !errors.Is(err, index.ErrExists) {
		t.Errorf("a second rename to b: %v, want ErrExists", err)
	}
	// A creation of b waits for the rename, which holds b, and then fails.
	create := enqueue(t, e, Request{Kind: IndexCreation, IndexUID: "b"})
	if g.isStarted(ren) {
		t.Fatal("the rename started before the addition to a ended")
	}
	g.open(add)
	mustSucceed(t, wait(t, e, add))
	g.waitStarted(t, ren)
	g.open(ren)
	mustSucceed(t, wait(t, e, ren))
	g.open(create)
	if tk := wait(t, e, create); tk.Status != Failed || tk.Error.Code != CodeIndexAlreadyExists {
		t.Errorf("creation of b after the rename: %s %+v", tk.Status, tk.Error)
	}
	if info, err := st.Get(ctx, "b"); err != nil || info.Documents != 5 {
		t.Errorf("b = %+v, %v; want a's 5 documents", info, err)
	}
	res, err := e.Reserve("a", "import/a")
	if err != nil {
		t.Errorf("the old name is free after the rename: %v", err)
	}
	res.Release()
}

func TestSwapTask(t *testing.T) {
	t.Parallel()
	e, st := testEngine(t, Options{})
	e.Start()
	createIndex(t, e, "a")
	mustSucceed(t, addDocs(t, e, "a", docs(1, 10)))
	createIndex(t, e, "b")
	mustSucceed(t, addDocs(t, e, "b", docs(100, 3)))
	wantA, wantB := export(t, st, "a"), export(t, st, "b")
	if tk := do(t, e, Request{Kind: IndexSwap, IndexUID: "a", NewIndexUID: "nope"}); tk.Status != Failed || tk.Error.Code != CodeIndexNotFound {
		t.Errorf("swap with a missing index: %s %+v", tk.Status, tk.Error)
	}
	tk := mustSucceed(t, do(t, e, Request{Kind: IndexSwap, IndexUID: "a", NewIndexUID: "b"}))
	var d IndexSwapDetails
	if err := tk.DecodeDetails(&d); err != nil || d.Indexes != [2]string{"a", "b"} {
		t.Errorf("details %s", tk.Details)
	}
	if export(t, st, "a") != wantB || export(t, st, "b") != wantA {
		t.Error("the documents did not swap")
	}
}

// TestImportReplace: a verified archive replaces the index of its name; a
// corrupt one leaves it as it was and nothing in tmp/.
func TestImportReplace(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e, st, snap := storedSrc(t)
	createIndex(t, e, "live")
	mustSucceed(t, addDocs(t, e, "live", docs(1, 3)))
	before := export(t, st, "live")

	raw, err := os.ReadFile(snap.Path)
	if err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(t.TempDir(), "bad.tar.gz")
	raw[len(raw)*2/3] ^= 0x55
	if err := os.WriteFile(bad, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	tk := do(t, e, Request{Kind: SingleIndexSnapshotImport, SnapshotPath: bad, NewIndexUID: "live", Replace: true})
	if tk.Status != Failed || tk.Error.Code != CodeInvalidSnapshot {
		t.Errorf("replace from a corrupt archive: %s %+v", tk.Status, tk.Error)
	}
	if export(t, st, "live") != before {
		t.Error("a failed replace changed the index")
	}
	tmpEmpty(t, st)

	if _, err := e.Enqueue(ctx, Request{Kind: SingleIndexSnapshotImport, SnapshotPath: snap.Path, NewIndexUID: "live"}); !errors.Is(err, index.ErrExists) {
		t.Errorf("import onto an existing index without replace: %v", err)
	}
	tk = mustSucceed(t, do(t, e, Request{Kind: SingleIndexSnapshotImport, SnapshotPath: snap.Path, NewIndexUID: "live", Replace: true}))
	var d SnapshotImportDetails
	if err := tk.DecodeDetails(&d); err != nil || !d.Replace || !d.Replaced || d.NumberOfDocuments != 10 {
		t.Errorf("details %s", tk.Details)
	}
	if export(t, st, "live") != export(t, st, "src") {
		t.Error("live does not hold the archive's documents")
	}
	// Onto a name with no index, a replacing import is an import.
	tk = mustSucceed(t, do(t, e, Request{Kind: SingleIndexSnapshotImport, SnapshotPath: snap.Path, NewIndexUID: "fresh", Replace: true}))
	var d2 SnapshotImportDetails
	if err := tk.DecodeDetails(&d2); err != nil || d2.Replaced || !st.Exists("fresh") {
		t.Errorf("replace of a new name: %s", tk.Details)
	}
	tmpEmpty(t, st)
	if ents, _ := os.ReadDir(filepath.Join(st.Dir(), "indexes")); len(ents) != 3 {
		t.Errorf("indexes/ holds %d databases, want 3 (src, live, fresh)", len(ents))
	}
}
