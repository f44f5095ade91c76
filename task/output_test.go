package task

import (
	"bytes"
	"context"
	"errors"
	"os"
	"sync"
	"testing"
)

// lockedBuffer is a Request.Output the test reads while the task writes.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
	err error // returned by every Write once set
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.err != nil {
		return 0, b.err
	}
	return b.buf.Write(p)
}

func (b *lockedBuffer) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Len()
}

// TestSnapshotOutput: Request.Output receives the archive as it is
// written — all of it before the task stores it — byte for byte the stored
// file; a reused snapshot writes nothing to it; a failing Output does not
// fail the snapshot.
func TestSnapshotOutput(t *testing.T) {
	t.Parallel()
	e, _ := testEngine(t, Options{})
	var out lockedBuffer
	atStore := -1
	e.hooks.beforeStore = func(ctx context.Context, tk Task) error {
		atStore = out.Len()
		return nil
	}
	e.Start()
	createIndex(t, e, "o")
	mustSucceed(t, addDocs(t, e, "o", docs(1, 2000)))

	tk := mustSucceed(t, do(t, e, Request{Kind: SingleIndexSnapshotCreation, IndexUID: "o", Output: &out}))
	var d SnapshotCreationDetails
	if err := tk.DecodeDetails(&d); err != nil {
		t.Fatal(err)
	}
	stored, err := os.ReadFile(d.Path)
	if err != nil {
		t.Fatal(err)
	}
	if d.Reused || int64(len(stored)) != d.Size || !bytes.Equal(out.buf.Bytes(), stored) {
		t.Fatalf("Output got %d bytes, the stored archive has %d (details: size %d, reused %v)", out.buf.Len(), len(stored), d.Size, d.Reused)
	}
	if atStore != len(stored) {
		t.Errorf("Output held %d bytes when the task stored the archive, want all %d", atStore, len(stored))
	}

	// Unchanged index: the stored snapshot is reused, nothing is written.
	var again lockedBuffer
	tk = mustSucceed(t, do(t, e, Request{Kind: SingleIndexSnapshotCreation, IndexUID: "o", Output: &again}))
	if err := tk.DecodeDetails(&d); err != nil {
		t.Fatal(err)
	}
	if !d.Reused || again.Len() != 0 {
		t.Errorf("reused %v, Output got %d bytes; want reused and none", d.Reused, again.Len())
	}

	// A failing Output: the snapshot succeeds all the same.
	mustSucceed(t, addDocs(t, e, "o", docs(5000, 10)))
	bad := lockedBuffer{err: errors.New("disk full")}
	tk = mustSucceed(t, do(t, e, Request{Kind: SingleIndexSnapshotCreation, IndexUID: "o", Output: &bad}))
	if err := tk.DecodeDetails(&d); err != nil {
		t.Fatal(err)
	}
	if d.Reused || d.Size == 0 {
		t.Errorf("details %+v after a failing Output, want a new snapshot", d)
	}
}
