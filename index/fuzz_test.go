package index

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// Fuzz limits: inputs past fuzzMaxInput are skipped, and the fuzzed store
// refuses documents past fuzzMaxDoc, so that the limit, and reading long
// documents again (past fuzzMaxDoc/4), are reached often.
const (
	fuzzMaxInput = 64 << 10
	fuzzMaxDoc   = 2048
)

// payloadSeeds returns the payloads of testdata/payload/.
func payloadSeeds(f *testing.F) map[string][]byte {
	paths, _ := filepath.Glob("testdata/payload/*")
	if len(paths) < 5 {
		f.Fatalf("testdata/payload holds %d payloads", len(paths))
	}
	seeds := map[string][]byte{}
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		seeds[filepath.Base(p)] = data
	}
	return seeds
}

// fuzzPayloads fuzzes roundTrip with the payloads payload(input), in a
// store with the fuzz document limit, reusing a few indexes (a replace
// empties them).
func fuzzPayloads(f *testing.F, payload func([]byte) []byte) {
	s := openStore(f, "")
	s.maxDoc = fuzzMaxDoc
	n := 0
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > fuzzMaxInput {
			t.Skip()
		}
		n++
		roundTrip(t, s, "fuzz"+strings.Repeat("x", n%3), payload(data))
	})
}

// FuzzPayload: whatever a payload (NDJSON or an array, told apart by its
// first byte) AddDocuments accepts round-trips; what it refuses, it refuses
// with a *DocumentError and the index unchanged; and it accepts exactly
// what a reference reading accepts.
func FuzzPayload(f *testing.F) {
	for _, data := range payloadSeeds(f) {
		f.Add(data)
	}
	fuzzPayloads(f, func(b []byte) []byte { return b })
}

// FuzzPayloadArray is FuzzPayload for JSON arrays: the input is the
// inside of one ("[" and "]" are added), so that the fuzzer spends its time
// in the array reader.
func FuzzPayloadArray(f *testing.F) {
	for _, data := range payloadSeeds(f) {
		if t := bytes.TrimSpace(data); bytes.HasPrefix(t, []byte("[")) {
			f.Add(bytes.TrimSuffix(t[1:], []byte("]")))
		} else {
			f.Add(bytes.Join(bytes.Split(bytes.TrimSpace(data), []byte("\n")), []byte(",")))
		}
	}
	fuzzPayloads(f, func(b []byte) []byte { return append(append([]byte("["), b...), ']') })
}

// roundTrip replaces the documents of index uid (created if needed) with
// payload and checks the outcome against a model: refused with a
// *DocumentError and the index unchanged, or accepted, when every document
// is one encoding/json reads and the reference rules allow, the export
// holds exactly the last occurrence of every id as its compact JSON, in key
// order, and the export read back as a payload gives the same export.
func roundTrip(t *testing.T, s *Store, uid string, payload []byte) {
	t.Helper()
	ctx := context.Background()
	if !s.Exists(uid) {
		mustCreate(t, s, uid, "")
	}
	before := mustGet(t, s, uid)
	res, err := s.ReplaceDocuments(ctx, uid, bytes.NewReader(payload), WriteOptions{})
	after := mustGet(t, s, uid)
	if why := refRefusal(payload, s.maxDoc, before.PrimaryKey); (err == nil) != (why == "") {
		t.Fatalf("ReplaceDocuments: %v; the reference reading: %q", err, why)
	}
	if err != nil {
		var de *DocumentError
		if !errors.As(err, &de) {
			t.Fatalf("error is not a *DocumentError: %v", err)
		}
		if after.Version != before.Version || after.Documents != before.Documents {
			t.Fatalf("a refused payload changed the index: %+v -> %+v", before, after)
		}
		return
	}
	if after.Version != before.Version+1 {
		t.Fatalf("version %d -> %d", before.Version, after.Version)
	}
	// The model: the last occurrence of every id, each document checked
	// by encoding/json and the reference rules, not by the package.
	pk := after.PrimaryKey
	want := map[string]string{}
	docs, _, err := readDocs(string(payload), s.maxDoc)
	if err != nil {
		t.Fatalf("accepted payload does not parse again: %v", err)
	}
	for _, d := range docs {
		if !json.Valid([]byte(d)) {
			t.Fatalf("accepted a document encoding/json refuses: %q", d)
		}
		if why := refStrictProblem([]byte(d)); why != "" {
			t.Fatalf("accepted a document with a %s: %q", why, d)
		}
		want[refDocumentID(t, d, pk)] = compact(t, d)
	}
	if res.Received != uint64(len(docs)) || res.Indexed != uint64(len(want)) || after.Documents != uint64(len(want)) {
		t.Fatalf("result %+v, info %+v; payload has %d documents, %d ids", res, after, len(docs), len(want))
	}
	out := export(t, s, uid)
	var prev []byte
	seen := 0
	for line := range strings.Lines(out) {
		line = strings.TrimSuffix(line, "\n")
		id := refDocumentID(t, line, pk)
		if want[id] != line {
			t.Fatalf("exported %q for id %q, want %q", line, id, want[id])
		}
		var a, b any
		if json.Unmarshal([]byte(line), &a) != nil || json.Unmarshal([]byte(want[id]), &b) != nil || !reflect.DeepEqual(a, b) {
			t.Fatalf("exported %q for id %q: not the document given", line, id)
		}
		key := documentKey(id)
		if prev != nil && bytes.Compare(prev, key) >= 0 {
			t.Fatalf("export out of order at %q", id)
		}
		prev = key
		seen++
	}
	if seen != len(want) {
		t.Fatalf("export holds %d documents, want %d", seen, len(want))
	}
	// The export is a payload too, and reading it back changes nothing.
	if _, err := s.ReplaceDocuments(ctx, uid, strings.NewReader(out), WriteOptions{}); err != nil {
		t.Fatalf("the export, read back: %v", err)
	}
	if again := export(t, s, uid); again != out {
		t.Fatalf("the export read back exports differently:\n%q\n%q", out, again)
	}
}

// refRefusal says why a payload must be refused ("" if it must be
// accepted), read by other means than the package's: encoding/json for the
// array and the documents, a split on "\n" for NDJSON, the reference rules
// (refStrictProblem), the document limit maxDoc, and the primary key rules
// (pk, else inferred from the first document).
func refRefusal(payload []byte, maxDoc int, pk string) string {
	var docs [][]byte
	if t := bytes.TrimLeft(payload, " \t\r\n"); len(t) > 0 && t[0] == '[' {
		elems, err := refArray(payload)
		if err != nil {
			return "not a JSON array: " + err.Error()
		}
		for _, e := range elems {
			if len(e) > maxDoc {
				return "too long"
			}
			docs = append(docs, e)
		}
	} else {
		for line := range bytes.Lines(payload) {
			if len(line) > maxDoc+2 {
				return "too long"
			}
			if line = bytes.TrimSpace(line); len(line) > 0 {
				docs = append(docs, line)
			}
		}
	}
	for i, d := range docs {
		if !json.Valid(d) {
			return "not JSON"
		}
		if why := refStrictProblem(d); why != "" {
			return why
		}
		var fields map[string]json.RawMessage
		if d[0] != '{' || json.Unmarshal(d, &fields) != nil {
			return "not an object"
		}
		if i == 0 && pk == "" {
			pk = refInferPrimaryKey(fields)
			if pk == "" {
				return "no primary key to infer"
			}
		}
		raw, ok := fields[pk]
		if !ok {
			return "no primary key"
		}
		if _, why := documentIDFromJSON(raw); why != "" {
			return why
		}
	}
	return ""
}

// refInferPrimaryKey: id, else the one field whose name ends in id (any
// case), else "".
func refInferPrimaryKey(fields map[string]json.RawMessage) string {
	if _, ok := fields["id"]; ok {
		return "id"
	}
	found := ""
	for name := range fields {
		if strings.HasSuffix(strings.ToLower(name), "id") {
			if found != "" {
				return ""
			}
			found = name
		}
	}
	return found
}

// refArray returns the elements of a JSON array with encoding/json (a
// Decoder, whose depth limit counts from each element, as checkJSON's does).
func refArray(payload []byte) ([]json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(payload))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('[') {
		return nil, fmt.Errorf("no [: %v", err)
	}
	var elems []json.RawMessage
	for dec.More() {
		var e json.RawMessage
		if err := dec.Decode(&e); err != nil {
			return nil, err
		}
		elems = append(elems, e)
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim(']') {
		return nil, fmt.Errorf("no ]: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("data after the array: %v", err)
	}
	return elems, nil
}
