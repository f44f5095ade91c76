package index

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// openStore opens a store in dir (a fresh temp dir if "") and closes it at
// the end of the test.
func openStore(t testing.TB, dir string) *Store {
	t.Helper()
	if dir == "" {
		dir = filepath.Join(t.TempDir(), "data")
	}
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func mustCreate(t testing.TB, s *Store, uid, pk string) Info {
	t.Helper()
	info, err := s.Create(context.Background(), uid, pk)
	if err != nil {
		t.Fatalf("Create %q: %v", uid, err)
	}
	return info
}

func mustGet(t testing.TB, s *Store, uid string) Info {
	t.Helper()
	info, err := s.Get(context.Background(), uid)
	if err != nil {
		t.Fatalf("Get %q: %v", uid, err)
	}
	return info
}

// add adds an NDJSON or array payload and fails the test on error.
func add(t testing.TB, s *Store, uid, payload string) WriteResult {
	t.Helper()
	res, err := s.AddDocuments(context.Background(), uid, strings.NewReader(payload), WriteOptions{})
	if err != nil {
		t.Fatalf("AddDocuments: %v", err)
	}
	return res
}

func export(t testing.TB, s *Store, uid string) string {
	t.Helper()
	var b bytes.Buffer
	n, err := s.Export(context.Background(), uid, &b)
	if err != nil {
		t.Fatalf("Export: %v", err)
	}
	if got := int64(strings.Count(b.String(), "\n")); got != n {
		t.Fatalf("Export returned %d, wrote %d lines", n, got)
	}
	return b.String()
}

// genNDJSON returns n documents {"id":i,...} for i in [from, from+n), one
// per line, each about size bytes.
func genNDJSON(from, n, size int) string {
	var b strings.Builder
	for i := from; i < from+n; i++ {
		b.WriteString(genDoc(i, size))
		b.WriteByte('\n')
	}
	return b.String()
}

func genDoc(i, size int) string {
	s := fmt.Sprintf(`{"id":%d,"title":"Document %d","body":"`, i, i)
	pad := size - len(s) - 2
	if pad < 0 {
		pad = 0
	}
	return s + strings.Repeat(string(rune('a'+i%26)), pad) + `"}`
}

func dirNames(t testing.TB, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}
