package task

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/idxfs/idxfs/index"
)

// testEngine opens a store and an engine in a fresh data dir and closes
// both at the end of the test. Tests set e.hooks before calling Start.
func testEngine(t testing.TB, opts Options) (*Engine, *index.Store) {
	t.Helper()
	dir := t.TempDir()
	st, err := index.Open(dir, index.Options{})
	if err != nil {
		t.Fatal(err)
	}
	opts.Store = st
	e, err := Open(opts)
	if err != nil {
		st.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		e.Close(ctx)
		st.Close()
	})
	return e, st
}

// do enqueues r and waits for the task to end.
func do(t testing.TB, e *Engine, r Request) Task {
	t.Helper()
	tk, err := e.Enqueue(context.Background(), r)
	if err != nil {
		t.Fatalf("enqueue %s %q: %v", r.Kind, r.IndexUID, err)
	}
	return wait(t, e, tk.UID)
}

func wait(t testing.TB, e *Engine, uid uint64) Task {
	t.Helper()
	// A watchdog, not a performance bound: the 100 MB round trip under
	// -race on a loaded 2-core machine took over a minute.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	tk, err := e.Wait(ctx, uid)
	if err != nil {
		t.Fatalf("wait for task %d: %v", uid, err)
	}
	return tk
}

func mustSucceed(t testing.TB, tk Task) Task {
	t.Helper()
	if tk.Status != Succeeded {
		t.Fatalf("task %d (%s %q) %s: %+v", tk.UID, tk.Type, tk.IndexUID, tk.Status, tk.Error)
	}
	return tk
}

// docs returns n NDJSON documents with ids from first on.
func docs(first, n int) string {
	var b strings.Builder
	for i := first; i < first+n; i++ {
		fmt.Fprintf(&b, `{"id":%d,"title":"movie %d","year":%d}`+"\n", i, i, 1950+i%70)
	}
	return b.String()
}

func createIndex(t testing.TB, e *Engine, uid string) {
	t.Helper()
	mustSucceed(t, do(t, e, Request{Kind: IndexCreation, IndexUID: uid, PrimaryKey: "id"}))
}

func addDocs(t testing.TB, e *Engine, uid, payload string) Task {
	t.Helper()
	return do(t, e, Request{Kind: DocumentAdditionOrUpdate, IndexUID: uid, Documents: strings.NewReader(payload)})
}

func export(t testing.TB, st *index.Store, uid string) string {
	t.Helper()
	var b bytes.Buffer
	if _, err := st.Export(context.Background(), uid, &b); err != nil {
		t.Fatalf("export %q: %v", uid, err)
	}
	return b.String()
}

func TestLifecycle(t *testing.T) {
	t.Parallel()
	e, st := testEngine(t, Options{})
	e.Start()

	create := mustSucceed(t, do(t, e, Request{Kind: IndexCreation, IndexUID: "movies"}))
	if create.StartedAt == nil || create.FinishedAt == nil || create.Duration == nil || create.Error != nil {
		t.Errorf("finished task lacks times or has an error: %+v", create)
	}

	add := mustSucceed(t, addDocs(t, e, "movies", docs(1, 500)))
	var ad DocumentAdditionDetails
	if err := add.DecodeDetails(&ad); err != nil {
		t.Fatal(err)
	}
	if deref(ad.ReceivedDocuments) != 500 || deref(ad.IndexedDocuments) != 500 || ad.PrimaryKey != "id" || ad.PayloadSize != int64(len(docs(1, 500))) {
		t.Errorf("addition details = %s", add.Details)
	}
	if add.Progress == nil || add.Progress.Percentage != 100 {
		t.Errorf("succeeded task progress = %+v, want 100%%", add.Progress)
	}
	if got := strings.Count(export(t, st, "movies"), "\n"); got != 500 {
		t.Errorf("export has %d documents, want 500", got)
	}

	replace := mustSucceed(t, do(t, e, Request{Kind: DocumentAdditionOrUpdate, IndexUID: "movies", ReplaceAll: true, Documents: strings.NewReader(docs(1000, 3))}))
	if got := export(t, st, "movies"); got != docs(1000, 3) {
		t.Errorf("after replace, export = %q, want %q", got, docs(1000, 3))
	}
	_ = replace

	del := mustSucceed(t, do(t, e, Request{Kind: DocumentDeletion, IndexUID: "movies", IDs: []string{"1000", "5"}}))
	var dd DocumentDeletionDetails
	if err := del.DecodeDetails(&dd); err != nil {
		t.Fatal(err)
	}
	if dd.ProvidedIDs != 2 || deref(dd.DeletedDocuments) != 1 {
		t.Errorf("deletion details = %s, want 2 provided, 1 deleted", del.Details)
	}

	mustSucceed(t, do(t, e, Request{Kind: IndexDeletion, IndexUID: "movies"}))
	if st.Exists("movies") {
		t.Error("index still exists after its deletion task succeeded")
	}
	if _, err := os.Stat(filepath.Join(st.Dir(), "payloads", fmt.Sprintf("%d.payload", add.UID))); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("payload of a finished task still on disk: %v", err)
	}
}

func deref(p *uint64) uint64 {
	if p == nil {
		return 0
	}
	return *p
}

// TestTaskJSON checks the wire form of a task against DESIGN §6.
func TestTaskJSON(t *testing.T) {
	t.Parallel()
	e, _ := testEngine(t, Options{})
	e.Start()
	tk := do(t, e, Request{Kind: IndexDeletion, IndexUID: "nope"})
	b, err := json.Marshal(tk)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"uid", "indexUid", "type", "status", "details", "error", "progress", "enqueuedAt", "startedAt", "finishedAt", "duration"} {
		if _, ok := m[k]; !ok {
			t.Errorf("task JSON lacks %q: %s", k, b)
		}
	}
	if m["type"] != "indexDeletion" || m["status"] != "failed" {
		t.Errorf("type/status = %v/%v", m["type"], m["status"])
	}
	errObj, _ := m["error"].(map[string]any)
	if errObj["code"] != CodeIndexNotFound || errObj["type"] != TypeInvalidRequest || errObj["message"] == "" {
		t.Errorf("error = %v", errObj)
	}
	prog, _ := m["progress"].(map[string]any)
	for _, k := range []string{"steps", "percentage", "bytesDone", "bytesTotal"} {
		if _, ok := prog[k]; !ok {
			t.Errorf("progress lacks %q: %v", k, prog)
		}
	}
	var back Task
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatalf("task JSON does not read back: %v", err)
	}
	if back.UID != tk.UID || back.Type != tk.Type || back.Error.Code != tk.Error.Code || *back.Duration != *tk.Duration {
		t.Errorf("round trip: %+v != %+v", back, tk)
	}
}

// TestFailureCodes: each way a task can fail gets its stable code.
func TestFailureCodes(t *testing.T) {
	t.Parallel()
	e, st := testEngine(t, Options{})
	e.Start()
	createIndex(t, e, "movies")
	addDocs(t, e, "movies", docs(1, 10))
	before := export(t, st, "movies")

	bad := docs(100, 50) + "{\"id\": 7, oops\n" + docs(200, 50)
	tests := []struct {
		name string
		req  Request
		code string
	}{
		{"missing index", Request{Kind: IndexDeletion, IndexUID: "nope"}, CodeIndexNotFound},
		{"existing index", Request{Kind: IndexCreation, IndexUID: "movies"}, CodeIndexAlreadyExists},
		{"documents into a missing index", Request{Kind: DocumentAdditionOrUpdate, IndexUID: "nope", Documents: strings.NewReader(docs(1, 1))}, CodeIndexNotFound},
		{"broken JSON", Request{Kind: DocumentAdditionOrUpdate, IndexUID: "movies", Documents: strings.NewReader(bad)}, CodeMalformedPayload},
		{"not an object", Request{Kind: DocumentAdditionOrUpdate, IndexUID: "movies", Documents: strings.NewReader(docs(1, 3) + "[1,2]\n")}, CodeInvalidDocument},
		{"no primary key", Request{Kind: DocumentAdditionOrUpdate, IndexUID: "movies", Documents: strings.NewReader(docs(1, 3) + `{"title":"x"}` + "\n")}, CodeMissingPrimaryKey},
		{"bad id", Request{Kind: DocumentAdditionOrUpdate, IndexUID: "movies", Documents: strings.NewReader(`{"id":"a b"}` + "\n")}, CodeInvalidDocumentID},
		{"other primary key", Request{Kind: DocumentAdditionOrUpdate, IndexUID: "movies", PrimaryKey: "title", Documents: strings.NewReader(docs(1, 1))}, CodePrimaryKey},
		{"missing archive", Request{Kind: SingleIndexSnapshotImport, NewIndexUID: "x", Stream: strings.NewReader("")}, CodeInvalidSnapshot},
	}
	for _, tt := range tests {
		tk := do(t, e, tt.req)
		if tk.Status != Failed || tk.Error == nil || tk.Error.Code != tt.code {
			t.Errorf("%s: task %s with error %+v, want failed with code %s", tt.name, tk.Status, tk.Error, tt.code)
		}
	}
	if got := export(t, st, "movies"); got != before {
		t.Error("a failed task changed the index")
	}
	// The bad line is named.
	tk := do(t, e, Request{Kind: DocumentAdditionOrUpdate, IndexUID: "movies", Documents: strings.NewReader(bad)})
	if !strings.Contains(tk.Error.Message, "line 51") {
		t.Errorf("error %q does not name line 51", tk.Error.Message)
	}
}

// TestEnqueueRejects: requests that are bad on their face fail at Enqueue
// and leave no task.
func TestEnqueueRejects(t *testing.T) {
	t.Parallel()
	e, _ := testEngine(t, Options{})
	tests := []struct {
		name string
		req  Request
		want error
	}{
		{"bad name", Request{Kind: IndexCreation, IndexUID: "a/b"}, index.ErrInvalidUID},
		{"empty name", Request{Kind: IndexCreation, IndexUID: ""}, index.ErrInvalidUID},
		{"name too long", Request{Kind: IndexCreation, IndexUID: strings.Repeat("a", 401)}, index.ErrInvalidUID},
		{"no documents", Request{Kind: DocumentAdditionOrUpdate, IndexUID: "a"}, ErrInvalid},
		{"no ids", Request{Kind: DocumentDeletion, IndexUID: "a"}, ErrInvalid},
		{"bad id", Request{Kind: DocumentDeletion, IndexUID: "a", IDs: []string{"ok", "not ok"}}, index.ErrInvalidDocumentID},
		{"unknown kind", Request{Kind: "indexCompaction", IndexUID: "a"}, ErrInvalid},
		{"rename without a new name", Request{Kind: IndexRename, IndexUID: "a"}, index.ErrInvalidUID},
		{"swap with itself", Request{Kind: IndexSwap, IndexUID: "a", NewIndexUID: "a"}, ErrInvalid},
		{"import of nothing", Request{Kind: SingleIndexSnapshotImport, NewIndexUID: "a"}, ErrInvalid},
		{"import of a missing file", Request{Kind: SingleIndexSnapshotImport, NewIndexUID: "a", SnapshotPath: "/nonexistent.tar.gz"}, ErrSnapshotFileNotFound},
	}
	for _, tt := range tests {
		if _, err := e.Enqueue(context.Background(), tt.req); !errors.Is(err, tt.want) {
			t.Errorf("%s: err = %v, want %v", tt.name, err, tt.want)
		}
	}
	if n := len(e.List(Filter{})); n != 0 {
		t.Errorf("%d tasks exist after rejected requests", n)
	}
	if _, err := e.Enqueue(context.Background(), Request{Kind: IndexCreation, IndexUID: strings.Repeat("a", 400)}); err != nil {
		t.Errorf("a 400-byte name is valid: %v", err)
	}
}

// gate blocks tasks in the process hook until released.
type gate struct {
	mu      sync.Mutex
	started map[uint64]chan struct{}
	release map[uint64]chan struct{}
	order   []uint64
}

func newGate() *gate {
	return &gate{started: map[uint64]chan struct{}{}, release: map[uint64]chan struct{}{}}
}

func (g *gate) chans(uid uint64) (started, release chan struct{}) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.started[uid] == nil {
		g.started[uid] = make(chan struct{})
		g.release[uid] = make(chan struct{})
	}
	return g.started[uid], g.release[uid]
}

func (g *gate) hook(ctx context.Context, t Task) error {
	started, release := g.chans(t.UID)
	g.mu.Lock()
	g.order = append(g.order, t.UID)
	g.mu.Unlock()
	close(started)
	select {
	case <-release:
		return nil
	case <-ctx.Done():
		return nil // the processor sees the cancelled ctx at its safe point
	}
}

func (g *gate) waitStarted(t testing.TB, uid uint64) {
	t.Helper()
	started, _ := g.chans(uid)
	select {
	case <-started:
	case <-time.After(time.Minute):
		t.Fatalf("task %d did not start", uid)
	}
}

func (g *gate) open(uid uint64) {
	_, release := g.chans(uid)
	close(release)
}

func (g *gate) isStarted(uid uint64) bool {
	started, _ := g.chans(uid)
	select {
	case <-started:
		return true
	default:
		return false
	}
}

func enqueue(t testing.TB, e *Engine, r Request) uint64 {
	t.Helper()
	tk, err := e.Enqueue(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	return tk.UID
}

// TestScheduling: tasks of one index run one at a time in enqueue order;
// tasks of other indexes run beside them, up to the worker limit.
func TestScheduling(t *testing.T) {
	t.Parallel()
	e, _ := testEngine(t, Options{Workers: 2})
	g := newGate()
	e.hooks.process = g.hook

	a1 := enqueue(t, e, Request{Kind: IndexCreation, IndexUID: "a"})
	a2 := enqueue(t, e, Request{Kind: DocumentAdditionOrUpdate, IndexUID: "a", Documents: strings.NewReader(docs(1, 5))})
	b1 := enqueue(t, e, Request{Kind: IndexCreation, IndexUID: "b"})
	c1 := enqueue(t, e, Request{Kind: IndexCreation, IndexUID: "c"})
	e.Start()

	g.waitStarted(t, a1)
	g.waitStarted(t, b1)
	if g.isStarted(a2) {
		t.Fatal("a's second task started while its first was processing")
	}
	if g.isStarted(c1) {
		t.Fatal("a third task started with Workers=2")
	}
	if tk, _ := e.Get(a2); tk.Status != Enqueued {
		t.Fatalf("a2 is %s, want enqueued", tk.Status)
	}
	g.open(b1)
	g.waitStarted(t, c1) // b's slot went to c, not to a2
	if g.isStarted(a2) {
		t.Fatal("a2 started before a1 ended")
	}
	g.open(a1)
	g.waitStarted(t, a2)
	g.open(a2)
	g.open(c1)
	for _, u := range []uint64{a1, a2, b1, c1} {
		mustSucceed(t, wait(t, e, u))
	}
	if got := e.List(Filter{IndexUID: "a"}); len(got) != 2 || got[0].UID != a2 || got[1].UID != a1 {
		t.Errorf("List(index a) = %v, want [a2 a1] newest first", got)
	}
}

func TestCancel(t *testing.T) {
	t.Parallel()
	e, st := testEngine(t, Options{Workers: 1})
	g := newGate()
	e.hooks.process = g.hook
	create := enqueue(t, e, Request{Kind: IndexCreation, IndexUID: "a", PrimaryKey: "id"})
	e.Start()
	g.open(create)
	mustSucceed(t, wait(t, e, create))

	processing := enqueue(t, e, Request{Kind: DocumentAdditionOrUpdate, IndexUID: "a", Documents: strings.NewReader(docs(1, 100))})
	queued := enqueue(t, e, Request{Kind: DocumentAdditionOrUpdate, IndexUID: "a", Documents: strings.NewReader(docs(1, 100))})
	g.waitStarted(t, processing)

	tk, err := e.Cancel(queued)
	if err != nil || tk.Status != Canceled {
		t.Fatalf("cancel enqueued: %v, status %s", err, tk.Status)
	}
	var qd struct{ Payload string }
	_ = qd
	if _, err := os.Stat(filepath.Join(st.Dir(), "payloads", fmt.Sprintf("%d.payload", queued))); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a canceled task's payload is still there: %v", err)
	}
	if _, err := e.Cancel(processing); err != nil {
		t.Fatal(err)
	}
	tk = wait(t, e, processing)
	if tk.Status != Canceled {
		t.Fatalf("canceled processing task ended %s (%+v)", tk.Status, tk.Error)
	}
	if got := export(t, st, "a"); got != "" {
		t.Errorf("a canceled addition left documents: %q", got[:min(len(got), 80)])
	}
	if _, err := e.Cancel(processing); !errors.Is(err, ErrFinished) {
		t.Errorf("cancel of a finished task: %v, want ErrFinished", err)
	}
	if _, err := e.Cancel(9999); !errors.Is(err, ErrTaskNotFound) {
		t.Errorf("cancel of an unknown task: %v, want ErrTaskNotFound", err)
	}
}

func TestRetention(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	open := func() (*Engine, *index.Store) {
		st, err := index.Open(dir, index.Options{})
		if err != nil {
			t.Fatal(err)
		}
		e, err := Open(Options{Store: st, Retention: 3})
		if err != nil {
			t.Fatal(err)
		}
		return e, st
	}
	e, st := open()
	e.Start()
	var last uint64
	for i := range 6 {
		last = do(t, e, Request{Kind: IndexCreation, IndexUID: fmt.Sprintf("i%d", i)}).UID
	}
	check := func(when string) {
		ts := e.List(Filter{})
		if len(ts) != 3 || ts[0].UID != last || ts[2].UID != last-2 {
			var uids []uint64
			for _, t := range ts {
				uids = append(uids, t.UID)
			}
			t.Errorf("%s: tasks kept = %v, want the newest 3 up to %d", when, uids, last)
		}
	}
	check("running")
	e.Close(context.Background())
	st.Close()
	e, st = open()
	defer st.Close()
	defer e.Close(context.Background())
	check("after reopen")
	e.Start()
	if tk := do(t, e, Request{Kind: IndexCreation, IndexUID: "next"}); tk.UID != last+1 {
		t.Errorf("uid after pruning and reopen = %d, want %d", tk.UID, last+1)
	}
}

// TestCloseInterrupts: a shutdown stops processing tasks at their safe
// point; a document task is run again at the next start, others fail as
// interrupted; enqueued tasks stay enqueued.
func TestCloseInterrupts(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	st, err := index.Open(dir, index.Options{})
	if err != nil {
		t.Fatal(err)
	}
	e, err := Open(Options{Store: st, Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	g := newGate()
	e.hooks.process = g.hook
	e.Start()
	for _, u := range []string{"a", "b"} {
		uid := enqueue(t, e, Request{Kind: IndexCreation, IndexUID: u, PrimaryKey: "id"})
		g.open(uid)
		mustSucceed(t, wait(t, e, uid))
	}
	add := enqueue(t, e, Request{Kind: DocumentAdditionOrUpdate, IndexUID: "a", Documents: strings.NewReader(docs(1, 10))})
	del := enqueue(t, e, Request{Kind: IndexDeletion, IndexUID: "b"})
	later := enqueue(t, e, Request{Kind: IndexDeletion, IndexUID: "a"})
	g.waitStarted(t, add)
	g.waitStarted(t, del)

	ctx, cancel := context.WithCancel(context.Background())
	cancel() // no grace: stop at once
	if err := e.Close(ctx); err != nil {
		t.Fatal(err)
	}
	got := map[uint64]Status{}
	for _, tk := range e.List(Filter{}) {
		got[tk.UID] = tk.Status
	}
	if got[add] != Enqueued || got[del] != Failed || got[later] != Enqueued {
		t.Fatalf("after Close: add %s, delete %s, later %s; want enqueued, failed, enqueued", got[add], got[del], got[later])
	}
	if tk, _ := e.Get(del); tk.Error == nil || tk.Error.Code != CodeInterrupted {
		t.Errorf("interrupted task error = %+v", tk.Error)
	}
	if !st.Exists("b") {
		t.Error("an interrupted deletion deleted the index")
	}
	st.Close()

	st, err = index.Open(dir, index.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	e, err = Open(Options{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close(context.Background())
	e.Start()
	mustSucceed(t, wait(t, e, add))
	mustSucceed(t, wait(t, e, later))
}

func TestProgressView(t *testing.T) {
	t.Parallel()
	p := newLiveProgress(SingleIndexSnapshotCreation)
	var last float64
	for i, st := range Steps(SingleIndexSnapshotCreation) {
		for _, done := range []int64{0, 50, 100} {
			p.at(i, done, 100)
			v := p.view()
			if v.Steps[0].CurrentStep != st.Name || v.Steps[0].Finished != i || v.Steps[0].Total != 4 {
				t.Errorf("step %d: %+v", i, v.Steps)
			}
			if v.Percentage < last {
				t.Errorf("percentage fell from %v to %v at step %q, %d%%", last, v.Percentage, st.Name, done)
			}
			last = v.Percentage
		}
	}
	if last != 100 {
		t.Errorf("last step complete = %v%%, want 100", last)
	}
}

// TestDurationRoundTrip: a duration written to a task's JSON reads back as
// the same number of nanoseconds (truncating the float lost one).
func TestDurationRoundTrip(t *testing.T) {
	for _, d := range []time.Duration{0, 1, 498158, 123456789, 3*time.Hour + 7} {
		b, err := Duration(d).MarshalText()
		if err != nil {
			t.Fatal(err)
		}
		var back Duration
		if err := back.UnmarshalText(b); err != nil {
			t.Fatal(err)
		}
		if time.Duration(back) != d {
			t.Errorf("%d ns wrote %s and read back %d ns", d, b, time.Duration(back))
		}
	}
}
