package index

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestPrimaryKey(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, tc := range []struct {
		name      string
		createPK  string // at Create
		writePK   string // WriteOptions.PrimaryKey
		payload   string
		want      string // the resulting primary key; "" when the write fails
		err       error
		errPrefix string // expected DocumentError.Position
	}{
		{"given at creation", "sku", "", `{"sku":"a1","id":5}`, "sku", nil, ""},
		{"given at write", "", "sku", `{"sku":"a1","id":5}`, "sku", nil, ""},
		{"same at both", "sku", "sku", `{"sku":"a1"}`, "sku", nil, ""},
		{"inferred id", "", "", `{"title":"x","id":5,"userId":3}`, "id", nil, ""},
		{"inferred xxxId", "", "", `{"title":"x","movieId":5}`, "movieId", nil, ""},
		{"inferred from the first document only", "", "", "{\"movieId\":5}\n{\"movieId\":6,\"userId\":1}", "movieId", nil, ""},
		{"ambiguous", "", "", `{"movieId":5,"userId":3}`, "", ErrMissingPrimaryKey, "line 1"},
		{"none", "", "", `{"title":"x"}`, "", ErrMissingPrimaryKey, "line 1"},
		{"mismatch", "sku", "id", `{"sku":"a1","id":5}`, "", ErrPrimaryKey, ""},
		{"missing in a later document", "", "", "{\"id\":1}\n{\"id\":2}\n{\"ID\":3}", "", ErrMissingPrimaryKey, "line 3"},
		{"missing with given key", "sku", "", `{"id":1}`, "", ErrMissingPrimaryKey, "line 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := openStore(t, "")
			if info := mustCreate(t, s, "i", tc.createPK); info.PrimaryKey != tc.createPK || info.Version != 1 {
				t.Fatalf("Create: %+v", info)
			}
			res, err := s.AddDocuments(ctx, "i", strings.NewReader(tc.payload), WriteOptions{PrimaryKey: tc.writePK})
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("err = %v, want %v", err, tc.err)
				}
				var de *DocumentError
				if tc.errPrefix != "" && (!errors.As(err, &de) || de.Position != tc.errPrefix) {
					t.Fatalf("err = %v, want at %s", err, tc.errPrefix)
				}
				if info := mustGet(t, s, "i"); info.PrimaryKey != tc.createPK || info.Version != 1 || info.Documents != 0 {
					t.Fatalf("failed write changed the index: %+v", info)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if res.PrimaryKey != tc.want || mustGet(t, s, "i").PrimaryKey != tc.want {
				t.Fatalf("primary key %q (result %+v), want %q", mustGet(t, s, "i").PrimaryKey, res, tc.want)
			}
			// Once set it stays.
			if _, err := s.AddDocuments(ctx, "i", strings.NewReader(`{"other":1}`), WriteOptions{PrimaryKey: "other"}); !errors.Is(err, ErrPrimaryKey) {
				t.Errorf("changing the primary key: %v", err)
			}
		})
	}
}

func TestAddNDJSONAndArraySame(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	docs := []string{
		`{"id":3,"t":"three"}`,
		`{"id":"b","t":"bee","nested":{"x":[1, 2.5, null, true]}}`,
		`{ "id" : 1 , "t" : "one" }`,
		`{"id":"3","t":"three again"}`, // same document as 3
		`{"id":"a","t":"a\u00e9\n"}`,
	}
	ndjson := strings.Join(docs, "\n") + "\n"
	array := "[\n" + strings.Join(docs, ",\n") + "\n]"
	want := `{"id":1,"t":"one"}` + "\n" + `{"id":"3","t":"three again"}` + "\n" +
		`{"id":"a","t":"a\u00e9\n"}` + "\n" + `{"id":"b","t":"bee","nested":{"x":[1,2.5,null,true]}}` + "\n"
	s := openStore(t, "")
	for _, tc := range []struct{ name, payload string }{{"ndjson", ndjson}, {"array", array}} {
		for _, replace := range []bool{false, true} {
			uid := fmt.Sprintf("%s-%v", tc.name, replace)
			mustCreate(t, s, uid, "")
			write := s.AddDocuments
			if replace {
				write = s.ReplaceDocuments
			}
			res, err := write(ctx, uid, strings.NewReader(tc.payload), WriteOptions{})
			if err != nil {
				t.Fatalf("%s: %v", uid, err)
			}
			if res != (WriteResult{Received: 5, Indexed: 4, PrimaryKey: "id", Version: 2}) {
				t.Errorf("%s: result %+v", uid, res)
			}
			if got := export(t, s, uid); got != want {
				t.Errorf("%s: export\n%s\nwant\n%s", uid, got, want)
			}
			if info := mustGet(t, s, uid); info.Documents != 4 || info.Version != 2 {
				t.Errorf("%s: info %+v", uid, info)
			}
		}
	}
}

func TestWritesAdvanceVersionAndCount(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openStore(t, "")
	created := mustCreate(t, s, "i", "")
	if created.Version != 1 || !created.CreatedAt.Equal(created.UpdatedAt) || created.Documents != 0 {
		t.Fatalf("new index: %+v", created)
	}
	prev := created
	step := func(name string, f func() error, docs uint64) {
		t.Helper()
		if err := f(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		info := mustGet(t, s, "i")
		if info.Version != prev.Version+1 || !info.UpdatedAt.After(prev.UpdatedAt) || info.Documents != docs || !info.CreatedAt.Equal(created.CreatedAt) {
			t.Fatalf("%s: %+v after %+v, want %d documents", name, info, prev, docs)
		}
		prev = info
	}
	addf := func(p string) func() error {
		return func() error { _, err := s.AddDocuments(ctx, "i", strings.NewReader(p), WriteOptions{}); return err }
	}
	replacef := func(p string) func() error {
		return func() error { _, err := s.ReplaceDocuments(ctx, "i", strings.NewReader(p), WriteOptions{}); return err }
	}
	delf := func(ids ...string) func() error {
		return func() error { _, err := s.DeleteDocuments(ctx, "i", ids); return err }
	}
	step("add 1-10", addf(genNDJSON(1, 10, 50)), 10)
	step("add 5-14", addf(genNDJSON(5, 10, 50)), 14)
	step("add empty", addf(""), 14)
	step("add empty array", addf("[]"), 14)
	step("delete", delf("1", "2", "2", "999", "x"), 12)
	step("delete none", delf(), 12)
	step("replace 100-102", replacef(genNDJSON(100, 3, 50)), 3)
	step("replace with duplicates", replacef("{\"id\":1}\n{\"id\":1,\"v\":2}\n{\"id\":\"1\",\"v\":3}"), 1)
	if d, err := s.Document(ctx, "i", "1"); err != nil || string(d) != `{"id":"1","v":3}` {
		t.Errorf("last occurrence lost: %s %v", d, err)
	}
	step("replace empty", replacef(""), 0)
	if got := export(t, s, "i"); got != "" {
		t.Errorf("export after replace with nothing: %q", got)
	}
}

func TestDocumentsGetAndDelete(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openStore(t, "")
	mustCreate(t, s, "i", "")
	add(t, s, "i", "{\"id\":7,\"v\":1}\n{\"id\":\"007\",\"v\":2}\n{\"id\":\"x-y_Z\",\"v\":3}\n")
	for _, tc := range []struct {
		id, want string
		err      error
	}{
		{"7", `{"id":7,"v":1}`, nil},
		{"007", `{"id":"007","v":2}`, nil},
		{"x-y_Z", `{"id":"x-y_Z","v":3}`, nil},
		{"8", "", ErrDocumentNotFound},
		{"a b", "", ErrInvalidDocumentID},
		{"", "", ErrInvalidDocumentID},
	} {
		got, err := s.Document(ctx, "i", tc.id)
		if string(got) != tc.want || (tc.err != nil) != (err != nil) || (tc.err != nil && !errors.Is(err, tc.err)) {
			t.Errorf("Document(%q) = %s, %v; want %s, %v", tc.id, got, err, tc.want, tc.err)
		}
	}
	if _, err := s.Document(ctx, "nope", "7"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Document of a missing index: %v", err)
	}
	// A string "7" updates the document with integer id 7.
	add(t, s, "i", `{"id":"7","v":4}`)
	if got, _ := s.Document(ctx, "i", "7"); string(got) != `{"id":"7","v":4}` || mustGet(t, s, "i").Documents != 3 {
		t.Errorf(`after adding "7": %s, %+v`, got, mustGet(t, s, "i"))
	}

	v := mustGet(t, s, "i").Version
	if _, err := s.DeleteDocuments(ctx, "i", []string{"7", "bad id"}); !errors.Is(err, ErrInvalidDocumentID) {
		t.Fatalf("DeleteDocuments with a bad id: %v", err)
	}
	if info := mustGet(t, s, "i"); info.Version != v || info.Documents != 3 {
		t.Fatalf("a refused delete changed the index: %+v", info)
	}
	n, err := s.DeleteDocuments(ctx, "i", []string{"7", "7", "8", "007"})
	if err != nil || n != 2 {
		t.Fatalf("DeleteDocuments = %d, %v", n, err)
	}
	if got := export(t, s, "i"); got != `{"id":"x-y_Z","v":3}`+"\n" {
		t.Errorf("after delete: %q", got)
	}
	if _, err := s.DeleteDocuments(ctx, "nope", nil); !errors.Is(err, ErrNotFound) {
		t.Errorf("DeleteDocuments of a missing index: %v", err)
	}
}

func TestExportOrder(t *testing.T) {
	t.Parallel()
	s := openStore(t, "")
	mustCreate(t, s, "i", "")
	ids := []string{`"b"`, `10`, `"A"`, `2`, `"10a"`, `"_"`, `1`, `"0"`, `"01"`, `123456789012345678901`, `100`, `"-3"`}
	var payload strings.Builder
	for _, id := range ids {
		fmt.Fprintf(&payload, "{\"id\":%s}\n", id)
	}
	add(t, s, "i", payload.String())
	want := []string{`"0"`, `1`, `2`, `10`, `100`, `"-3"`, `"01"`, `"10a"`, `123456789012345678901`, `"A"`, `"_"`, `"b"`}
	var got []string
	for _, line := range strings.Split(strings.TrimSpace(export(t, s, "i")), "\n") {
		got = append(got, strings.TrimSuffix(strings.TrimPrefix(line, `{"id":`), "}"))
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("export order\n got %v\nwant %v", got, want)
	}
}

// TestBadDocumentInLargePayload puts one bad document at line (or position)
// 12,345 of 20,000 and checks that the index is unchanged and the error
// names the place and the reason.
func TestBadDocumentInLargePayload(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const total, bad = 20000, 12345
	s := openStore(t, "")
	mustCreate(t, s, "i", "")
	add(t, s, "i", genNDJSON(1, 100, 100))
	before := export(t, s, "i")
	infoBefore := mustGet(t, s, "i")
	for _, tc := range []struct {
		name, doc string
		err       error
	}{
		{"not an object", `[{"id":1}]`, ErrInvalidDocument},
		{"string", `"id"`, ErrInvalidDocument},
		{"broken JSON", `{"id":12345,"title":"x"`, ErrMalformedPayload},
		{"missing primary key", `{"ID":12345}`, ErrMissingPrimaryKey},
		{"bad id", `{"id":"12 345"}`, ErrInvalidDocumentID},
		{"float id", `{"id":12345.5}`, ErrInvalidDocumentID},
		{"negative id", `{"id":-12345}`, ErrInvalidDocumentID},
		{"id too long", `{"id":"` + strings.Repeat("x", 512) + `"}`, ErrInvalidDocumentID},
	} {
		docs := strings.Split(strings.TrimSuffix(genNDJSON(1, total, 100), "\n"), "\n")
		docs[bad-1] = tc.doc
		for _, format := range []string{"ndjson", "array"} {
			var payload, position string
			if format == "ndjson" {
				payload = strings.Join(docs, "\n") + "\n"
				position = fmt.Sprintf("line %d", bad)
			} else {
				payload = "[" + strings.Join(docs, ",\n") + "]"
				position = fmt.Sprintf("document %d at byte ", bad)
			}
			for _, replace := range []bool{false, true} {
				write := s.AddDocuments
				if replace {
					write = s.ReplaceDocuments
				}
				_, err := write(ctx, "i", strings.NewReader(payload), WriteOptions{})
				var de *DocumentError
				if !errors.Is(err, tc.err) || !errors.As(err, &de) || !strings.HasPrefix(de.Position, position) {
					t.Errorf("%s %s replace=%v: err = %v, want %v at %q", tc.name, format, replace, err, tc.err, position)
					continue
				}
				if got := export(t, s, "i"); got != before {
					t.Errorf("%s %s: index changed", tc.name, format)
				}
				if info := mustGet(t, s, "i"); info.Version != infoBefore.Version || !info.UpdatedAt.Equal(infoBefore.UpdatedAt) || info.Documents != infoBefore.Documents {
					t.Errorf("%s %s: info changed: %+v", tc.name, format, info)
				}
			}
		}
	}
}

func TestCancelDuringValidation(t *testing.T) {
	t.Parallel()
	s := openStore(t, "")
	mustCreate(t, s, "i", "")
	add(t, s, "i", genNDJSON(1, 10, 100))
	before, infoBefore := export(t, s, "i"), mustGet(t, s, "i")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var passes []int
	opts := WriteOptions{Progress: func(pass int, done, total int64) {
		passes = append(passes, pass)
		if pass == 1 && done >= 1<<20 {
			cancel()
		}
	}}
	_, err := s.ReplaceDocuments(ctx, "i", strings.NewReader(genNDJSON(100, 5000, 1000)), opts)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	for _, p := range passes {
		if p != 1 {
			t.Fatalf("pass 2 ran: %v", passes)
		}
	}
	if got := export(t, s, "i"); got != before || mustGet(t, s, "i").Version != infoBefore.Version {
		t.Error("a cancelled write changed the index")
	}
}

func TestProgress(t *testing.T) {
	t.Parallel()
	s := openStore(t, "")
	mustCreate(t, s, "i", "")
	payload := genNDJSON(1, 3000, 1000)
	type call struct {
		pass        int
		done, total int64
	}
	var calls []call
	_, err := s.AddDocuments(context.Background(), "i", strings.NewReader(payload), WriteOptions{Progress: func(pass int, done, total int64) {
		calls = append(calls, call{pass, done, total})
	}})
	if err != nil {
		t.Fatal(err)
	}
	size := int64(len(payload))
	var last [3]int64
	var ends [3]int
	for _, c := range calls {
		if c.total != size || c.done < last[c.pass] || c.done > size {
			t.Fatalf("bad call %+v after %v (size %d)", c, last, size)
		}
		last[c.pass] = c.done
		if c.done == size {
			ends[c.pass]++
		}
	}
	if ends[1] != 1 || ends[2] != 1 || len(calls) < 4 || calls[len(calls)-1] != (call{2, size, size}) {
		t.Errorf("calls: %v", calls)
	}
}

// TestCrashDuringApply stops pass 2 after its first committed batch (as a
// crash would), checks that the index is consistent, then re-runs the write
// and compares with a clean run.
func TestCrashDuringApply(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	initial := genNDJSON(1, 300, 500)
	payload := genNDJSON(200, 400, 600) + genNDJSON(250, 10, 700) // overlaps and duplicates
	for _, replace := range []bool{false, true} {
		t.Run(fmt.Sprintf("replace=%v", replace), func(t *testing.T) {
			t.Parallel()
			s := openStore(t, "")
			s.batchSize = 32 << 10
			write := s.AddDocuments
			if replace {
				write = s.ReplaceDocuments
			}
			for _, uid := range []string{"clean", "crashed"} {
				mustCreate(t, s, uid, "")
				add(t, s, uid, initial)
			}
			if _, err := write(ctx, "clean", strings.NewReader(payload), WriteOptions{}); err != nil {
				t.Fatal(err)
			}
			crash := errors.New("crash")
			s.hooks.afterBatch = func(n int) error { return crash }
			before := mustGet(t, s, "crashed")
			if _, err := write(ctx, "crashed", strings.NewReader(payload), WriteOptions{}); !errors.Is(err, crash) {
				t.Fatalf("err = %v", err)
			}
			s.hooks.afterBatch = nil
			mid := mustGet(t, s, "crashed")
			if mid.Version != before.Version {
				t.Errorf("version advanced by a half-applied write: %d -> %d", before.Version, mid.Version)
			}
			if got := uint64(strings.Count(export(t, s, "crashed"), "\n")); got != mid.Documents {
				t.Errorf("after the crash the counter says %d, export has %d", mid.Documents, got)
			}
			if export(t, s, "crashed") == export(t, s, "clean") {
				t.Fatal("the crash hook did not stop the write half way")
			}
			// Re-run: same final state as the clean run.
			if _, err := write(ctx, "crashed", strings.NewReader(payload), WriteOptions{}); err != nil {
				t.Fatal(err)
			}
			a, b := mustGet(t, s, "clean"), mustGet(t, s, "crashed")
			if export(t, s, "crashed") != export(t, s, "clean") || a.Documents != b.Documents || a.Version != b.Version || a.PrimaryKey != b.PrimaryKey {
				t.Errorf("re-run differs: clean %+v, crashed %+v", a, b)
			}
		})
	}
}

// TestConcurrentReadersAndWriters runs exports, gets and checkpoints while
// documents are written; run with -race.
func TestConcurrentReadersAndWriters(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openStore(t, "")
	mustCreate(t, s, "i", "")
	add(t, s, "i", genNDJSON(1, 100, 200))
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := s.AddDocuments(ctx, "i", strings.NewReader(genNDJSON(w*1000+i%50, 20, 200)), WriteOptions{}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	deadline := time.Now().Add(500 * time.Millisecond)
	for time.Now().Before(deadline) {
		out := export(t, s, "i")
		if n := strings.Count(out, "\n"); n < 100 {
			t.Fatalf("export saw %d documents", n)
		}
		if _, err := s.Document(ctx, "i", "1"); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
}
