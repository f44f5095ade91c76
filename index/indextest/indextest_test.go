package indextest

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"
)

func TestDocumentIsDeterministic(t *testing.T) {
	for _, i := range []int{1, 2, 1000} {
		a, b := Document(i), Document(i)
		if !bytes.Equal(a, b) {
			t.Fatalf("document %d differs between calls", i)
		}
		if len(a) < 900 || len(a) > 1100 || !json.Valid(a) {
			t.Fatalf("document %d: %d bytes, valid %v", i, len(a), json.Valid(a))
		}
	}
}

func TestNewDataDir(t *testing.T) {
	dir := NewDataDir(t, "movies", 300)
	s := Open(t, dir)
	info, err := s.Get(context.Background(), "movies")
	if err != nil || info.Documents != 300 || info.PrimaryKey != "id" {
		t.Fatalf("%+v %v", info, err)
	}
	var b bytes.Buffer
	if _, err := s.Export(context.Background(), "movies", &b); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b.Bytes(), NDJSON(1, 300)) {
		t.Error("export differs from the generated documents")
	}
}
