package index

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// readDocs reads every document of payload with the reader and
// parseDocument alone.
func readDocs(payload string, maxDoc int) (docs, positions []string, err error) {
	p, err := newPayloadReader(strings.NewReader(payload), maxDoc)
	if err != nil {
		return nil, nil, err
	}
	for {
		d, err := p.next()
		if err == io.EOF {
			return docs, positions, nil
		}
		if err != nil {
			return docs, positions, err
		}
		if _, err := parseDocument(d.data, d.position); err != nil {
			return docs, positions, err
		}
		docs = append(docs, string(d.data))
		positions = append(positions, d.position)
	}
}

func TestPayloadReader(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, payload string
		docs          []string
		positions     []string
		err           error // nil: accepted
	}{
		{"empty", "", nil, nil, nil},
		{"blank", " \n\n\t\n", nil, nil, nil},
		{"ndjson", "{\"a\":1}\n{\"a\":2}\n", []string{`{"a":1}`, `{"a":2}`}, []string{"line 1", "line 2"}, nil},
		{"ndjson no final newline", "{\"a\":1}\n{\"a\":2}", []string{`{"a":1}`, `{"a":2}`}, []string{"line 1", "line 2"}, nil},
		{"ndjson blank lines and crlf", "\n\r\n{\"a\":1}\r\n\n  {\"a\":2}  \n", []string{`{"a":1}`, `{"a":2}`}, []string{"line 3", "line 5"}, nil},
		{"array", " [ {\"a\":1} ,\n{\"a\":2}]\n", []string{`{"a":1}`, `{"a":2}`}, []string{"document 1 at byte 3", "document 2 at byte 13"}, nil},
		{"empty array", "[ ]", nil, nil, nil},
		{"array trailing data", `[{"a":1}] x`, []string{`{"a":1}`}, nil, ErrMalformedPayload},
		{"array trailing array", `[{"a":1}][]`, []string{`{"a":1}`}, nil, ErrMalformedPayload},
		{"array unclosed", `[{"a":1}`, []string{`{"a":1}`}, nil, ErrMalformedPayload},
		{"array broken element", `[{"a":1},{"a":]`, []string{`{"a":1}`}, nil, ErrMalformedPayload},
		{"array missing comma", `[{"a":1} {"a":2}]`, []string{`{"a":1}`}, nil, ErrMalformedPayload},
	} {
		t.Run(tc.name, func(t *testing.T) {
			docs, positions, err := readDocs(tc.payload, 1<<20)
			if tc.err == nil && err != nil || tc.err != nil && !errors.Is(err, tc.err) {
				t.Fatalf("err = %v, want %v", err, tc.err)
			}
			for i := range docs {
				docs[i] = compact(t, docs[i])
			}
			if !slices.Equal(docs, tc.docs) {
				t.Errorf("docs = %q, want %q", docs, tc.docs)
			}
			if tc.positions != nil && !slices.Equal(positions, tc.positions) {
				t.Errorf("positions = %q, want %q", positions, tc.positions)
			}
		})
	}
}

func compact(t testing.TB, s string) string {
	var b bytes.Buffer
	if err := json.Compact(&b, []byte(s)); err != nil {
		t.Fatalf("compact %q: %v", s, err)
	}
	return b.String()
}

func TestPayloadDocumentTooLarge(t *testing.T) {
	t.Parallel()
	big := `{"id":2,"x":"` + strings.Repeat("y", 5000) + `"}`
	for _, tc := range []struct{ name, payload, position string }{
		{"ndjson", "{\"id\":1}\n" + big + "\n{\"id\":3}\n", "line 2"},
		{"array", "[{\"id\":1}," + big + ",{\"id\":3}]", "document 2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := readDocs(tc.payload, 1000)
			var de *DocumentError
			if !errors.As(err, &de) || !errors.Is(err, ErrInvalidDocument) || de.Position != tc.position {
				t.Fatalf("err = %#v", err)
			}
			// Within the limit it passes.
			if _, _, err := readDocs(tc.payload, 6000); err != nil {
				t.Fatal(err)
			}
		})
	}
	// The array limit holds however the decoder buffers: a huge element is
	// refused before it is read whole.
	huge := "[" + `{"id":1,"x":"` + strings.Repeat("y", 4<<20) + `"}]`
	if _, _, err := readDocs(huge, 1000); !errors.Is(err, ErrInvalidDocument) {
		t.Fatalf("huge element: %v", err)
	}
}

func TestParseDocument(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		doc string
		err error
	}{
		{`{"id":1}`, nil},
		{`{}`, nil},
		{`[1]`, ErrInvalidDocument},
		{`"s"`, ErrInvalidDocument},
		{`null`, ErrInvalidDocument},
		{`12`, ErrInvalidDocument},
		{`{"id":1`, ErrMalformedPayload},
		{`{"id":1}}`, ErrMalformedPayload},
		{`{"id":1} {"id":2}`, ErrMalformedPayload},
		{`{id:1}`, ErrMalformedPayload},
		{`nope`, ErrMalformedPayload},
	} {
		_, err := parseDocument([]byte(tc.doc), "line 1")
		if tc.err == nil && err != nil || tc.err != nil && !errors.Is(err, tc.err) {
			t.Errorf("parseDocument(%s) = %v, want %v", tc.doc, err, tc.err)
		}
	}
}

func TestInferPrimaryKey(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		doc, want string // want "" means ErrMissingPrimaryKey
	}{
		{`{"id":1,"userId":2}`, "id"},
		{`{"movieId":1,"title":"x"}`, "movieId"},
		{`{"SKU_ID":1}`, "SKU_ID"},
		{`{"uuid":"a"}`, "uuid"},
		{`{"movieId":1,"userId":2}`, ""},
		{`{"title":"x"}`, ""},
		{`{"ID":1,"Id":2}`, ""}, // "id" is exact; two others end in id
	} {
		fields, err := parseDocument([]byte(tc.doc), "line 1")
		if err != nil {
			t.Fatal(err)
		}
		got, err := inferPrimaryKey(fields, "line 1")
		if got != tc.want || (tc.want == "") != errors.Is(err, ErrMissingPrimaryKey) {
			t.Errorf("inferPrimaryKey(%s) = %q, %v; want %q", tc.doc, got, err, tc.want)
		}
	}
}

// refDocumentID finds a document's id with encoding/json alone: the oracle
// for the package's own scanning.
func refDocumentID(t *testing.T, doc, pk string) string {
	t.Helper()
	var fields map[string]json.RawMessage
	if err := json.Unmarshal([]byte(doc), &fields); err != nil {
		t.Fatalf("%q is not a JSON object: %v", doc, err)
	}
	raw, ok := fields[pk]
	if !ok {
		t.Fatalf("%q has no field %q", doc, pk)
	}
	id, reason := documentIDFromJSON(raw)
	if reason != "" {
		t.Fatalf("%q: %s", doc, reason)
	}
	return id
}

// genPayload is a payload of size bytes made up as it is read, never held
// in memory: head, then fill up to size-len(tail), then tail. It counts the
// bytes read from it.
type genPayload struct {
	head, tail string
	fill       byte
	size, off  int64
	read       int64
}

func (g *genPayload) Read(b []byte) (int, error) {
	if g.off >= g.size {
		return 0, io.EOF
	}
	n := int(min(int64(len(b)), g.size-g.off))
	for i := range n {
		switch at := g.off + int64(i); {
		case at < int64(len(g.head)):
			b[i] = g.head[at]
		case at >= g.size-int64(len(g.tail)):
			b[i] = g.tail[at-(g.size-int64(len(g.tail)))]
		default:
			b[i] = g.fill
		}
	}
	g.off += int64(n)
	g.read += int64(n)
	return n, nil
}

func (g *genPayload) Seek(off int64, whence int) (int64, error) {
	switch whence {
	case io.SeekCurrent:
		off += g.off
	case io.SeekEnd:
		off += g.size
	}
	g.off = off
	return off, nil
}

// TestHugeDocumentRefusedUnbuffered: a 100 MB document (one NDJSON line, or
// one array element) is refused with the 64 MiB limit before it is
// buffered: the store reads at most the limit and a read buffer of it, and
// allocates a small fraction of it (issue 7: the daemon's RSS reached 612 MB).
func TestHugeDocumentRefusedUnbuffered(t *testing.T) {
	s := openStore(t, "")
	mustCreate(t, s, "m", "id")
	const size = 100 << 20
	for _, tc := range []struct{ name, head, tail, position string }{
		{"ndjson", `{"id":1,"x":"`, "\"}\n", "line 1"},
		{"array", `[{"id":1,"x":"`, `"}]`, "document 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := &genPayload{head: tc.head, tail: tc.tail, fill: 'a', size: size}
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			_, err := s.AddDocuments(context.Background(), "m", g, WriteOptions{})
			runtime.ReadMemStats(&after)
			var de *DocumentError
			if !errors.As(err, &de) || !errors.Is(err, ErrInvalidDocument) || de.Position != tc.position {
				t.Fatalf("AddDocuments of a 100 MB document: %v; want ErrInvalidDocument at %s", err, tc.position)
			}
			if max := int64(MaxDocumentSize + 2<<20); g.read > max {
				t.Errorf("read %d MB of the payload to refuse it, want at most %d MB", g.read>>20, max>>20)
			}
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 8<<20 {
				t.Errorf("allocated %d MB to refuse a 100 MB document, want less than 8 MB", alloc>>20)
			}
			if got := mustGet(t, s, "m"); got.Documents != 0 || got.Version != 1 {
				t.Errorf("the index changed: %+v", got)
			}
		})
	}
}

// TestLongDocumentsReadAgain: documents longer than copyLimit but within
// the limit are read again from the payload, whole and in place, also
// several in a row and mixed with short ones.
func TestLongDocumentsReadAgain(t *testing.T) {
	t.Parallel()
	s := openStore(t, "")
	s.maxDoc = 4 * copyLimit
	mustCreate(t, s, "m", "id")
	long := func(i int, n int) string {
		return `{"id":` + strconv.Itoa(i) + `,"x":"` + strings.Repeat("y", n) + `"}`
	}
	docs := []string{long(1, 10), long(2, 3*copyLimit), long(3, 2*copyLimit), long(4, 5), long(5, copyLimit-20), long(6, s.maxDoc-20)}
	var want strings.Builder
	for _, d := range docs {
		want.WriteString(d + "\n")
	}
	slices.Sort(docs) // ids 1-6: the export order too
	for name, payload := range map[string]string{
		"ndjson": strings.Join(docs, "\n") + "\n",
		"array":  "[" + strings.Join(docs, ",") + "]",
	} {
		if _, err := s.ReplaceDocuments(context.Background(), "m", strings.NewReader(payload), WriteOptions{}); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got := export(t, s, "m"); got != want.String() {
			t.Errorf("%s: the export differs from the documents (%d bytes, want %d)", name, len(got), want.Len())
		}
	}
}
