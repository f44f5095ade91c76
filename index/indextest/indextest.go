// Package indextest helps tests of other packages that need a data dir
// with indexes in it: deterministic documents, and a data dir built from
// them.
//
// It is for tests only; it calls t.Fatal on any error.
package indextest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"github.com/idxfs/idxfs/index"
)

var (
	words = strings.Fields(`the a of and to in is it that was for on are as with his they at be this from have or
		one had by word but not what all were we when your can said there use an each which she do how their if
		will up other about out many then them these so some her would make like him into time has look two more
		write go see number no way could people my than first water been call who oil its now find long down day
		did get come made may part ship space station river mountain night city star house garden letter king`)
	genres = []string{"action", "comedy", "drama", "horror", "romance", "sci-fi", "thriller", "documentary", "animation", "western"}
)

// Document returns document i (i ≥ 1) of the deterministic data set: a
// movie-like JSON object of about 1 KiB with the integer primary key "id".
// The same i always gives the same bytes.
func Document(i int) []byte {
	r := rand.New(rand.NewPCG(uint64(i), 0x1dbf5))
	sentence := func(n int) string {
		w := make([]string, n)
		for j := range w {
			w[j] = words[r.IntN(len(words))]
		}
		return strings.Join(w, " ")
	}
	g := []string{genres[r.IntN(len(genres))], genres[r.IntN(len(genres))]}
	overview := sentence(150)
	for len(overview) < 920 {
		overview += " " + sentence(5)
	}
	return fmt.Appendf(nil, `{"id":%d,"title":%q,"overview":%q,"genres":["%s","%s"],"year":%d,"rating":%.1f}`,
		i, sentence(3), overview[:920], g[0], g[1], 1920+r.IntN(105), float64(r.IntN(100))/10)
}

// NDJSON returns documents from..from+n-1 as NDJSON.
func NDJSON(from, n int) []byte {
	var b bytes.Buffer
	WriteNDJSON(&b, from, n)
	return b.Bytes()
}

// WriteNDJSON writes documents from..from+n-1 to w as NDJSON.
func WriteNDJSON(w io.Writer, from, n int) error {
	for i := from; i < from+n; i++ {
		d := append(Document(i), '\n')
		if _, err := w.Write(d); err != nil {
			return err
		}
	}
	return nil
}

// Open opens a store on dir (a new temporary dir if "") and closes it when
// the test ends.
func Open(t testing.TB, dir string) *index.Store {
	t.Helper()
	if dir == "" {
		dir = filepath.Join(t.TempDir(), "data")
	}
	s, err := index.Open(dir, index.Options{})
	if err != nil {
		t.Fatalf("indextest: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// NewDataDir creates a data dir under t.TempDir() holding index uid with
// documents 1..n, closes it and returns its path.
func NewDataDir(t testing.TB, uid string, n int) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "data")
	s, err := index.Open(dir, index.Options{})
	if err != nil {
		t.Fatalf("indextest: %v", err)
	}
	defer s.Close()
	AddIndex(t, s, uid, n)
	if err := s.Close(); err != nil {
		t.Fatalf("indextest: %v", err)
	}
	return dir
}

// AddIndex creates index uid in s with documents 1..n.
func AddIndex(t testing.TB, s *index.Store, uid string, n int) index.Info {
	t.Helper()
	ctx := context.Background()
	if _, err := s.Create(ctx, uid, "id"); err != nil {
		t.Fatalf("indextest: %v", err)
	}
	if n > 0 {
		if _, err := s.AddDocuments(ctx, uid, bytes.NewReader(NDJSON(1, n)), index.WriteOptions{}); err != nil {
			t.Fatalf("indextest: %v", err)
		}
	}
	info, err := s.Get(ctx, uid)
	if err != nil {
		t.Fatalf("indextest: %v", err)
	}
	return info
}
