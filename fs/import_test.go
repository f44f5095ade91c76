package fs

import (
	"context"
	"errors"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/idxfs/idxfs/index"
	"github.com/idxfs/idxfs/task"
)

func TestImportIndexName(t *testing.T) {
	t.Parallel()
	for name, want := range map[string]string{
		"movies":              "movies",
		"movies.tar.gz":       "movies",
		"movies.tgz":          "movies",
		"movies.idx.snapshot": "movies",
		"movies_20261125T185700.123456Z.idx.snapshot": "movies",
		"my_index_20261125T185700Z.idx.snapshot":      "my_index",
		"movies_2026.idx.snapshot":                    "movies_2026",
		".tar.gz":                                     ".tar.gz",
		"a.tar.gz.tar.gz":                             "a.tar.gz",
		"backup.zip":                                  "backup.zip",
	} {
		if got := importIndexName(name); got != want {
			t.Errorf("importIndexName(%q) = %q, want %q", name, got, want)
		}
	}
	for name, temp := range map[string]bool{".movies.tar.gz.AbC123": true, "movies": false, "m.x": false} {
		if isTempName(name) != temp {
			t.Errorf("isTempName(%q) = %v", name, !temp)
		}
	}
}

// testMount returns the state of a mount (not mounted) on a new data dir.
func testMount(t *testing.T, grace time.Duration) *mountState {
	t.Helper()
	st, err := index.Open(t.TempDir(), index.Options{})
	if err != nil {
		t.Fatal(err)
	}
	eng, err := task.Open(task.Options{Store: st})
	if err != nil {
		st.Close()
		t.Fatal(err)
	}
	opts := Options{Store: st, Engine: eng, ImportGrace: grace}
	opts.ensureDefaults()
	m := newMountState(opts)
	t.Cleanup(func() {
		m.close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		eng.Close(ctx)
		st.Close()
	})
	return m
}

// TestImportOneWriter: a second write open of a name that a handle is
// filling gets EBUSY (reading back is fine); once the first handle has
// closed, an open takes the file over, and the first handle's later writes
// fail. Truncate by path and rename while a writer fills the file get EBUSY.
// (A temporary name: nothing is imported before its rename.)
func TestImportOneWriter(t *testing.T) {
	t.Parallel()
	m := testMount(t, time.Hour)
	ctx := context.Background()
	e, h1, errno := m.imports.create(".x.tar.gz.AbC", 0o644)
	if errno != 0 {
		t.Fatal(errno)
	}
	f := &importFile{e: e}
	if _, errno := h1.Write(ctx, []byte("first"), 0); errno != 0 {
		t.Fatal(errno)
	}
	if _, _, errno := f.Open(ctx, syscall.O_WRONLY|syscall.O_TRUNC); errno != syscall.EBUSY {
		t.Errorf("second write open while the first fills the file: %v, want EBUSY", errno)
	}
	r, _, errno := f.Open(ctx, syscall.O_RDONLY)
	if errno != 0 {
		t.Errorf("read open while a writer fills the file: %v", errno)
	} else {
		r.(*importHandle).Release(ctx)
	}
	in := &fuse.SetAttrIn{}
	in.Valid, in.Size = fuse.FATTR_SIZE, 0
	if errno := f.Setattr(ctx, nil, in, &fuse.AttrOut{}); errno != syscall.EBUSY {
		t.Errorf("truncate by path while a writer fills the file: %v, want EBUSY", errno)
	}
	if errno := m.imports.rename(ctx, e, "x.tar.gz"); errno != syscall.EBUSY {
		t.Errorf("rename while a writer fills the file: %v, want EBUSY", errno)
	}
	if errno := h1.Flush(ctx); errno != 0 {
		t.Fatalf("flush of a temporary name: %v", errno)
	}
	fh, _, errno := f.Open(ctx, syscall.O_WRONLY|syscall.O_TRUNC)
	if errno != 0 {
		t.Fatalf("write open after the first writer closed: %v", errno)
	}
	h2 := fh.(*importHandle)
	if _, errno := h1.Write(ctx, []byte("late"), 5); errno != syscall.EBUSY {
		t.Errorf("write of the first handle after a second took over: %v, want EBUSY", errno)
	}
	if errno := h1.Flush(ctx); errno != syscall.EBUSY {
		t.Errorf("flush of the first handle after its write failed: %v, want EBUSY", errno)
	}
	if _, errno := h2.Write(ctx, []byte("second"), 0); errno != 0 {
		t.Fatal(errno)
	}
	if got := e.stage.Size(); got != int64(len("second")) {
		t.Errorf("staged %d bytes, want the second writer's %d", got, len("second"))
	}
	h1.Release(ctx)
	h2.Flush(ctx)
	h2.Release(ctx)
	if m.imports.get(".x.tar.gz.AbC") != e {
		t.Errorf("a closed temporary file with bytes went before the grace period")
	}
}

// TestImportEmpty: a write handle that closes an empty file gets EINVAL,
// but the entry stays while the handle is open (it may still be filled, as
// bash's `cat >` does after closing a duplicate); it goes at the release.
// An idle uncommitted entry with bytes goes after the grace period.
func TestImportEmpty(t *testing.T) {
	t.Parallel()
	m := testMount(t, 50*time.Millisecond)
	ctx := context.Background()
	_, h, errno := m.imports.create("empty", 0o644)
	if errno != 0 {
		t.Fatal(errno)
	}
	if errno := h.Flush(ctx); errno != syscall.EINVAL {
		t.Errorf("flush of an empty file: %v, want EINVAL", errno)
	}
	if m.imports.get("empty") == nil {
		t.Fatal("the entry went at a flush, with its handle still open")
	}
	h.Release(ctx)
	if m.imports.get("empty") != nil {
		t.Error("an empty entry stayed after its last release")
	}
	if ents, _ := os.ReadDir(m.store.TmpDir()); len(ents) != 0 {
		t.Errorf("DATA/tmp holds %d files after an empty import", len(ents))
	}

	e, h, _ := m.imports.create(".left.XyZ", 0o644)
	h.Write(ctx, []byte("bytes"), 0)
	h.Flush(ctx)
	h.Release(ctx)
	for deadline := time.Now().Add(10 * time.Second); m.imports.get(".left.XyZ") != nil || !e.stage.isRemoved(); {
		if time.Now().After(deadline) {
			t.Fatal("an idle uncommitted entry stayed 10 s with a 50 ms grace period")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if ents, _ := os.ReadDir(m.store.TmpDir()); len(ents) != 0 {
		t.Errorf("DATA/tmp holds %d files after an expired import", len(ents))
	}
}

// TestImportStates: the entry moves only along the transitions of its
// state machine; gone is final, committed too but for the revival of a
// replacing entry (writing again).
func TestImportStates(t *testing.T) {
	t.Parallel()
	m := testMount(t, time.Hour)
	all := []importState{importWriting, importCommitting, importFailed, importCommitted, importGone}
	legal := map[[2]importState]bool{
		{importWriting, importCommitting}: true, {importWriting, importFailed}: true, {importWriting, importGone}: true,
		{importCommitting, importWriting}: true, {importCommitting, importCommitted}: true,
		{importCommitting, importFailed}: true, {importCommitting, importGone}: true,
		{importFailed, importCommitting}: true, {importFailed, importGone}: true,
		{importCommitted, importWriting}: true,
	}
	for _, from := range all {
		for _, to := range all {
			e := &importEntry{t: m.imports, name: "x", state: from}
			err := e.toLocked(to)
			if ok := legal[[2]importState{from, to}]; ok != (err == nil) {
				t.Errorf("%v → %v: %v, want legal %v", from, to, err, ok)
			}
			if err != nil && (!errors.Is(err, errImportTransition) || e.state != from) {
				t.Errorf("%v → %v refused with %v, state %v", from, to, err, e.state)
			}
		}
	}
}

// testArchive returns the archive of a small index made in m's data dir.
func testArchive(t *testing.T, m *mountState) []byte {
	t.Helper()
	ctx := context.Background()
	var last task.Task
	for _, r := range []task.Request{
		{Kind: task.IndexCreation, IndexUID: "src"},
		{Kind: task.DocumentAdditionOrUpdate, IndexUID: "src", Documents: strings.NewReader(`{"id":1}` + "\n" + `{"id":2}` + "\n")},
		{Kind: task.SingleIndexSnapshotCreation, IndexUID: "src"},
	} {
		tk, err := m.engine.Enqueue(ctx, r)
		if err != nil {
			t.Fatal(err)
		}
		if last, err = m.engine.Wait(ctx, tk.UID); err != nil || last.Status != task.Succeeded {
			t.Fatalf("%s: %+v, %v", r.Kind, last, err)
		}
	}
	var d task.SnapshotCreationDetails
	if err := last.DecodeDetails(&d); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(d.Path)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// TestImportRewritten: a writer that rewrites bytes the streaming import
// already read gets its import from the complete file, by one task: no
// halfImported writes the first half of an archive to import/name of a
// new mount and waits until its import has read from it.
func halfImported(t *testing.T, name string) (*mountState, []byte, *importHandle) {
	t.Helper()
	m := testMount(t, time.Hour)
	m.engine.Start()
	raw := testArchive(t, m)
	e, h, errno := m.imports.create(name, 0o644)
	if errno != 0 {
		t.Fatal(errno)
	}
	if _, errno := h.Write(context.Background(), raw[:len(raw)/2], 0); errno != 0 {
		t.Fatal(errno)
	}
	awaitConsumed(t, e)
	return m, raw, h
}

// awaitConsumed waits until the import of e has read from its stream.
func awaitConsumed(t *testing.T, e *importEntry) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(time.Millisecond) {
		e.stage.mu.Lock()
		consumed := e.stage.consumed
		e.stage.mu.Unlock()
		if consumed > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the streaming import read nothing in a minute")
		}
	}
}

// TestImportRewritten: a write over bytes the import already read fails
// with ESPIPE (import/ keeps no copy of them), the close fails with it too,
// the import's task fails saying why, and nothing is left: no index, no
// file in DATA/tmp, the name free (DESIGN-NOTES "Import through the mount:
// a stream, not a staging file").
func TestImportRewritten(t *testing.T) {
	t.Parallel()
	m, raw, h := halfImported(t, "re.tar.gz")
	ctx := context.Background()
	half := int64(len(raw) / 2)
	if _, errno := h.Write(ctx, raw[:10], 0); errno != syscall.ESPIPE {
		t.Fatalf("rewrite of read bytes: %v, want ESPIPE", errno)
	}
	if _, errno := h.Write(ctx, raw[half:], half); errno != syscall.ESPIPE {
		t.Fatalf("write after the rewrite: %v, want ESPIPE", errno)
	}
	if errno := h.Flush(ctx); errno != syscall.ESPIPE {
		t.Fatalf("flush: %v, want ESPIPE", errno)
	}
	h.Release(ctx)
	if m.store.Exists("re") {
		t.Error("index re exists after a failed import")
	}
	imports := m.engine.List(task.Filter{Types: []task.Kind{task.SingleIndexSnapshotImport}})
	if len(imports) != 1 {
		t.Fatalf("%d import tasks, want 1", len(imports))
	}
	tk, err := m.engine.Wait(ctx, imports[0].UID)
	if err != nil {
		t.Fatal(err)
	}
	if tk.Status != task.Failed || tk.Error == nil || tk.Error.Code != task.CodeInvalidTaskRequest || !strings.Contains(tk.Error.Message, "keeps no copy") {
		t.Errorf("import task: %s %+v, want failed with %s saying import/ keeps no copy", tk.Status, tk.Error, task.CodeInvalidTaskRequest)
	}
	if ents, _ := os.ReadDir(m.store.TmpDir()); len(ents) != 0 {
		t.Errorf("DATA/tmp holds %d files after a failed import", len(ents))
	}
	_, h, errno := m.imports.create("re.tar.gz", 0o644)
	if errno != 0 {
		t.Fatalf("create again after the failure: %v", errno)
	}
	h.Release(ctx)
}

// TestImportTruncatedRestarts: truncating the file to nothing after the
// import read from it (cp over an entry left by an interrupted copy) starts
// the import over, in the same task, from the new bytes.
func TestImportTruncatedRestarts(t *testing.T) {
	t.Parallel()
	m, raw, h := halfImported(t, "again.tar.gz")
	ctx := context.Background()
	if errno := h.e.truncate(h, 0); errno != 0 {
		t.Fatalf("truncate to nothing: %v", errno)
	}
	if _, errno := h.Write(ctx, raw, 0); errno != 0 {
		t.Fatalf("write after the truncation: %v", errno)
	}
	if errno := h.Flush(ctx); errno != 0 {
		t.Fatalf("flush: %v", errno)
	}
	h.Release(ctx)
	if !m.store.Exists("again") {
		t.Error("no index again after the flush returned 0")
	}
	imports := m.engine.List(task.Filter{Types: []task.Kind{task.SingleIndexSnapshotImport}})
	if len(imports) != 1 || imports[0].Status != task.Succeeded {
		t.Errorf("import tasks: %+v, want one that succeeded", imports)
	}
}

// TestImportCloseWaits: the table's close stops the expiry timers and
// returns only after one that is running has ended; no timer is armed
// after it.
func TestImportCloseWaits(t *testing.T) {
	t.Parallel()
	m := testMount(t, time.Millisecond)
	ctx := context.Background()
	fired, unblock := make(chan struct{}), make(chan struct{})
	m.imports.onTimer = func(*importEntry) {
		close(fired)
		<-unblock
	}
	e, h, errno := m.imports.create(".left.XyZ", 0o644)
	if errno != 0 {
		t.Fatal(errno)
	}
	h.Write(ctx, []byte("bytes"), 0)
	h.Flush(ctx)
	h.Release(ctx) // idle with bytes: expires after the grace period
	<-fired
	closed := make(chan struct{})
	go func() {
		m.imports.close()
		close(closed)
	}()
	select {
	case <-closed:
		t.Fatal("close returned while an expiry timer was running")
	case <-time.After(50 * time.Millisecond):
	}
	close(unblock)
	<-closed
	m.imports.expireLater(e)
	m.imports.mu.Lock()
	n := len(m.imports.timers)
	m.imports.mu.Unlock()
	if n != 0 {
		t.Errorf("%d timers armed after close", n)
	}
}

// TestImportReservation: an entry holds its index name in the engine from
// its create (or its rename to a final name) until it goes: another entry
// or import of that index gets EEXIST, and so does an entry of a name the
// engine reserved for someone else.
func TestImportReservation(t *testing.T) {
	t.Parallel()
	m := testMount(t, time.Hour)
	ctx := context.Background()
	held, err := m.engine.Reserve("held", "a test")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, errno := m.imports.create("held.tar.gz", 0o644); errno != syscall.EEXIST {
		t.Errorf("create of a name reserved in the engine: %v, want EEXIST", errno)
	}
	held.Release()
	if _, _, errno := m.imports.create("held.tar.gz", 0o644); errno != 0 {
		t.Errorf("create once the reservation was released: %v", errno)
	}
	a, _, errno := m.imports.create("a.tar.gz", 0o644)
	if errno != 0 {
		t.Fatal(errno)
	}
	if _, _, errno := m.imports.create("a.tgz", 0o644); errno != syscall.EEXIST {
		t.Errorf("create of another name of an index being imported: %v, want EEXIST", errno)
	}
	if _, err := m.engine.Reserve("a", "a test"); !errors.Is(err, index.ErrExists) || !strings.Contains(err.Error(), "import/a.tar.gz") {
		t.Errorf("the engine's view of a name import/a.tar.gz holds: %v, want ErrExists naming it", err)
	}
	tmp, h, errno := m.imports.create(".a.XyZ", 0o644)
	if errno != 0 {
		t.Fatal(errno)
	}
	h.Write(ctx, []byte("bytes"), 0)
	h.Flush(ctx)
	if errno := m.imports.rename(ctx, tmp, "a"); errno != syscall.EEXIST {
		t.Errorf("rename onto the index of another entry: %v, want EEXIST", errno)
	}
	if m.imports.get(".a.XyZ") != tmp {
		t.Error("a refused rename moved the entry")
	}
	m.imports.abandon(a, "unlinked")
	res, err := m.engine.Reserve("a", "a test")
	if err != nil {
		t.Fatalf("the name of an abandoned entry is not free: %v", err)
	}
	res.Release()
	h.Release(ctx)
}
