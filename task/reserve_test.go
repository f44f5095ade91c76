package task

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/idxfs/idxfs/index"
)

// TestReserve: a reserved name is refused to Reserve and to imports, with
// who holds it; an import enqueued with the reservation takes the name over
// and holds it until it finishes, even once the reservation is released.
func TestReserve(t *testing.T) {
	t.Parallel()
	e, _ := testEngine(t, Options{})
	e.Start()
	createIndex(t, e, "m")
	if _, err := e.Reserve("m", "import/m"); !errors.Is(err, index.ErrExists) {
		t.Errorf("reserve an existing index: %v, want ErrExists", err)
	}
	if _, err := e.Reserve("a/b", "import/a/b"); !errors.Is(err, index.ErrInvalidUID) {
		t.Errorf("reserve a bad name: %v, want ErrInvalidUID", err)
	}
	res, err := e.Reserve("x", "import/x.tar.gz")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Reserve("x", "import/x"); !errors.Is(err, index.ErrExists) || !strings.Contains(err.Error(), "import/x.tar.gz") {
		t.Errorf("reserve a reserved name: %v, want ErrExists naming import/x.tar.gz", err)
	}
	pr, pw := io.Pipe()
	defer pw.Close()
	imp := Request{Kind: SingleIndexSnapshotImport, NewIndexUID: "x", Stream: pr}
	if _, err := e.Enqueue(context.Background(), imp); !errors.Is(err, index.ErrExists) {
		t.Errorf("import of a reserved name without its reservation: %v, want ErrExists", err)
	}
	imp.Reservation = res
	tk, err := e.Enqueue(context.Background(), imp)
	if err != nil {
		t.Fatalf("import with the reservation: %v", err)
	}
	res.Release()
	res.Release() // twice: nothing
	if _, err := e.Reserve("x", "import/x"); !errors.Is(err, index.ErrExists) || !strings.Contains(err.Error(), "is importing it") {
		t.Errorf("reserve a name an import took over: %v, want ErrExists", err)
	}
	pw.CloseWithError(io.ErrUnexpectedEOF)
	if tk := wait(t, e, tk.UID); tk.Status != Failed {
		t.Errorf("import of a broken stream: %s", tk.Status)
	}
	again, err := e.Reserve("x", "import/x")
	if err != nil {
		t.Fatalf("reserve once the import finished and the reservation was released: %v", err)
	}
	again.Release()
	var none *Reservation
	none.Release()
}

// rewritten is a ReopenableStream whose first reading is spoilt by a
// rewrite: it yields garbage, then the complete archive when reopened.
type rewritten struct {
	io.Reader
	complete []byte
	reopened int
}

func (r *rewritten) Rewritten() bool { return r.reopened == 0 }

func (r *rewritten) Reopen() io.Reader {
	r.reopened++
	return bytes.NewReader(r.complete)
}

// TestImportRestartsRewritten: an import whose stream says bytes it read
// were rewritten starts over from the complete source, in the same task,
// which succeeds: no failed task is left behind.
func TestImportRestartsRewritten(t *testing.T) {
	t.Parallel()
	e, st := testEngine(t, Options{})
	e.Start()
	createIndex(t, e, "m")
	addDocs(t, e, "m", docs(1, 100))
	want := export(t, st, "m")
	raw, err := os.ReadFile(snapshotOf(t, e, "m").Path)
	if err != nil {
		t.Fatal(err)
	}
	spoilt := append([]byte("garbage"), raw[7:len(raw)/2]...)
	src := &rewritten{Reader: bytes.NewReader(spoilt), complete: raw}
	tk := mustSucceed(t, do(t, e, Request{Kind: SingleIndexSnapshotImport, NewIndexUID: "re", SnapshotPath: "import/re", Stream: src}))
	if src.reopened != 1 {
		t.Errorf("the stream was reopened %d times, want 1", src.reopened)
	}
	if got := export(t, st, "re"); got != want {
		t.Error("the restarted import differs from the source")
	}
	if failed := e.List(Filter{Statuses: []Status{Failed}}); len(failed) != 0 {
		t.Errorf("failed tasks after a restarted import %d: %+v", tk.UID, failed)
	}
	tmpEmpty(t, st)

	// A stream that was not rewritten fails as it is.
	bad := &rewritten{Reader: bytes.NewReader(spoilt), complete: raw, reopened: 1}
	if tk := do(t, e, Request{Kind: SingleIndexSnapshotImport, NewIndexUID: "bad", SnapshotPath: "import/bad", Stream: bad}); tk.Status != Failed || bad.reopened != 1 {
		t.Errorf("an import of garbage not rewritten: %s, reopened %d times; want failed, not reopened", tk.Status, bad.reopened-1)
	}
}
