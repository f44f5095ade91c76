package task

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/idxfs/idxfs/index"
)

func TestKindWireNames(t *testing.T) {
	t.Parallel()
	want := []string{"indexCreation", "indexDeletion", "documentAdditionOrUpdate", "documentDeletion",
		"singleIndexSnapshotCreation", "singleIndexSnapshotImport", "indexRename", "indexSwap", "indexUpdate"}
	if len(Kinds) != len(want) {
		t.Fatalf("%d kinds, want %d", len(Kinds), len(want))
	}
	for i, w := range want {
		k, err := ParseKind(w)
		if err != nil || k != Kinds[i] {
			t.Errorf("ParseKind(%q) = %q, %v", w, k, err)
		}
		b, err := json.Marshal(k)
		if err != nil || string(b) != `"`+w+`"` {
			t.Errorf("marshal %q = %s, %v", w, b, err)
		}
		var back Kind
		if err := json.Unmarshal(b, &back); err != nil || back != k {
			t.Errorf("unmarshal %s = %q, %v", b, back, err)
		}
		if len(Steps(k)) == 0 {
			t.Errorf("kind %s has no steps", k)
		}
		for _, s := range Steps(k) {
			if s.Name == "" || s.Weight <= 0 {
				t.Errorf("kind %s: bad step %+v", k, s)
			}
		}
	}
	for _, bad := range []string{"", "IndexCreation", "snapshotCreation"} {
		if _, err := ParseKind(bad); err == nil {
			t.Errorf("ParseKind(%q) accepted", bad)
		}
		var k Kind
		if err := json.Unmarshal([]byte(`"`+bad+`"`), &k); err == nil {
			t.Errorf("unmarshal %q accepted", bad)
		}
	}
	if _, err := json.Marshal(Kind("nope")); err == nil {
		t.Error("marshal of an unknown kind succeeded")
	}
}

func TestSnapshotSteps(t *testing.T) {
	t.Parallel()
	for k, want := range map[Kind][]string{
		SingleIndexSnapshotCreation: {"starting", "checkpointing", "writing archive", "finalizing"},
		SingleIndexSnapshotImport:   {"reading", "extracting", "verifying", "registering"},
	} {
		got := Steps(k)
		if len(got) != len(want) {
			t.Fatalf("%s steps = %v", k, got)
		}
		for i := range want {
			if got[i].Name != want[i] {
				t.Errorf("%s step %d = %q, want %q", k, i, got[i].Name, want[i])
			}
		}
	}
}

func TestStatus(t *testing.T) {
	t.Parallel()
	for _, s := range Statuses {
		if p, err := ParseStatus(string(s)); err != nil || p != s {
			t.Errorf("ParseStatus(%q) = %q, %v", s, p, err)
		}
	}
	if _, err := ParseStatus("done"); err == nil {
		t.Error("ParseStatus accepted done")
	}
	for s, fin := range map[Status]bool{Enqueued: false, Processing: false, Succeeded: true, Failed: true, Canceled: true} {
		if s.Finished() != fin {
			t.Errorf("%s.Finished() = %v", s, !fin)
		}
	}
}

func TestDuration(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		d    time.Duration
		wire string
	}{
		{1250 * time.Millisecond, `"PT1.25S"`},
		{0, `"PT0S"`},
		{90 * time.Minute, `"PT5400S"`},
	} {
		b, err := json.Marshal(Duration(tt.d))
		if err != nil || string(b) != tt.wire {
			t.Errorf("marshal %v = %s, %v; want %s", tt.d, b, err, tt.wire)
		}
		var back Duration
		if err := json.Unmarshal(b, &back); err != nil || time.Duration(back) != tt.d {
			t.Errorf("unmarshal %s = %v, %v", b, time.Duration(back), err)
		}
	}
	var d Duration
	if err := json.Unmarshal([]byte(`"1.5s"`), &d); err == nil {
		t.Error("unmarshal of a Go duration string accepted")
	}
}

// TestKindTable: every kind has one entry in the kind table, in the order
// of Kinds, with steps, a validation, the indexes it holds, a processor and
// a declared crash policy.
func TestKindTable(t *testing.T) {
	t.Parallel()
	if len(kindTable) != len(Kinds) {
		t.Fatalf("%d table entries for %d kinds", len(kindTable), len(Kinds))
	}
	for i, k := range Kinds {
		spec := kindOf(k)
		if spec != &kindTable[i] {
			t.Errorf("kind %s: entry %p, want the table's entry %d", k, spec, i)
			continue
		}
		if len(spec.steps) == 0 {
			t.Errorf("kind %s has no steps", k)
		}
		if spec.prepare == nil {
			t.Errorf("kind %s has no validation (prepare)", k)
		}
		if spec.holds == nil {
			t.Errorf("kind %s does not say which indexes it holds", k)
		}
		if spec.process == nil {
			t.Errorf("kind %s has no processor", k)
		}
		if spec.crash != crashFails && spec.crash != crashReruns {
			t.Errorf("kind %s declares no crash policy (%d)", k, spec.crash)
		}
	}
}

// TestKindHolds: the indexes a task holds while it runs, as Enqueue
// prepares it: its index, or for an import the name it imports to.
func TestKindHolds(t *testing.T) {
	t.Parallel()
	e, _ := testEngine(t, Options{})
	for _, tt := range []struct {
		req  Request
		want []string
	}{
		{Request{Kind: IndexCreation, IndexUID: "a"}, []string{"a"}},
		{Request{Kind: IndexDeletion, IndexUID: "a"}, []string{"a"}},
		{Request{Kind: DocumentAdditionOrUpdate, IndexUID: "a", DocumentsFile: "unread"}, []string{"a"}},
		{Request{Kind: DocumentDeletion, IndexUID: "a", IDs: []string{"1"}}, []string{"a"}},
		{Request{Kind: SingleIndexSnapshotCreation, IndexUID: "a"}, []string{"a"}},
		{Request{Kind: SingleIndexSnapshotImport, IndexUID: "a", NewIndexUID: "b", Stream: strings.NewReader("")}, []string{"b"}},
		{Request{Kind: IndexRename, IndexUID: "b", NewIndexUID: "a"}, []string{"a", "b"}},
		{Request{Kind: IndexSwap, IndexUID: "b", NewIndexUID: "a"}, []string{"a", "b"}},
		{Request{Kind: IndexUpdate, IndexUID: "a", PrimaryKey: "sku"}, []string{"a"}},
	} {
		spec := kindOf(tt.req.Kind)
		tk, req, err := spec.prepare(e, tt.req)
		if err != nil {
			t.Errorf("%s: prepare: %v", tt.req.Kind, err)
			continue
		}
		if got := spec.holds(tk, req); !slices.Equal(got, tt.want) {
			t.Errorf("%s holds %v, want %v", tt.req.Kind, got, tt.want)
		}
	}
}

// TestImportHoldsItsName: a task of the index an import registers waits
// for the import, while a task of the archive's own index runs beside it.
func TestImportHoldsItsName(t *testing.T) {
	t.Parallel()
	e, _ := testEngine(t, Options{Workers: 3}) // a worker for each task
	g := newGate()
	e.hooks.process = g.hook
	pr, pw := io.Pipe()
	defer pw.Close()
	imp := enqueue(t, e, Request{Kind: SingleIndexSnapshotImport, IndexUID: "src", NewIndexUID: "b", Stream: pr})
	create := enqueue(t, e, Request{Kind: IndexCreation, IndexUID: "b"})
	other := enqueue(t, e, Request{Kind: IndexCreation, IndexUID: "src"})
	e.Start()

	g.waitStarted(t, imp)
	g.waitStarted(t, other)
	g.open(other)
	mustSucceed(t, wait(t, e, other))
	if tk, _ := e.Get(create); tk.Status != Enqueued {
		t.Fatalf("creation of b is %s while b is being imported, want enqueued", tk.Status)
	}
	pw.CloseWithError(io.ErrUnexpectedEOF)
	g.open(imp)
	if tk := wait(t, e, imp); tk.Status != Failed {
		t.Fatalf("import of a broken stream: %s", tk.Status)
	}
	g.waitStarted(t, create)
	g.open(create)
	mustSucceed(t, wait(t, e, create))
}

// TestLoadSkipsRecordsOfNoKind: a task record of a kind this build does not
// know, or of none, is not loaded, and the engine runs on.
func TestLoadSkipsRecordsOfNoKind(t *testing.T) {
	t.Parallel()
	st, err := index.Open(t.TempDir(), index.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	err = st.Meta("tasks").Apply(map[string][]byte{
		string(taskKey(1)): []byte(`{"task":{"uid":1,"indexUid":"a","type":"indexCompaction","status":"processing"},"req":{}}`),
		string(taskKey(2)): []byte(`{"task":{"uid":2,"indexUid":"a","status":"processing"},"req":{}}`),
		string(nextKey):    binary.BigEndian.AppendUint64(nil, 3),
	})
	if err != nil {
		t.Fatal(err)
	}
	e, err := Open(Options{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close(context.Background())
	if got := e.List(Filter{}); len(got) != 0 {
		t.Fatalf("loaded %+v", got)
	}
	e.Start()
	if tk := mustSucceed(t, do(t, e, Request{Kind: IndexCreation, IndexUID: "a"})); tk.UID != 3 {
		t.Errorf("new task uid %d, want 3", tk.UID)
	}
}
