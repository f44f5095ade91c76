package snapshot

// Real pebble databases for tests and benchmarks: the archive's content is
// pebble's files, whose sstables are already snappy-compressed, so that is
// what compression must be measured on.

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2"
)

// quietLogger keeps pebble's logs out of test output.
type quietLogger struct{}

func (quietLogger) Infof(string, ...any)         {}
func (quietLogger) Errorf(string, ...any)        {}
func (quietLogger) Fatalf(f string, args ...any) { panic(fmt.Sprintf(f, args...)) }

// docGen generates deterministic JSON documents of about 1 KiB that look
// like a movie catalogue: words drawn from a Zipf-distributed vocabulary,
// ids, dates and scores.
type docGen struct {
	r     *rand.Rand
	zipf  *rand.Zipf
	vocab []string
}

func newDocGen(seed uint64) *docGen {
	r := rand.New(rand.NewPCG(seed, 42))
	syl := []string{"ka", "lo", "mi", "ne", "ra", "to", "shi", "an", "el", "or", "un", "ber", "gal", "vin", "dor", "sa", "te", "qui", "zu", "pha", "the", "in", "of", "and", "man", "star", "war", "love", "night", "day"}
	vocab := make([]string, 20000)
	for i := range vocab {
		var b strings.Builder
		for range 1 + r.IntN(3) {
			b.WriteString(syl[r.IntN(len(syl))])
		}
		vocab[i] = b.String()
	}
	return &docGen{r: r, zipf: rand.NewZipf(r, 1.1, 2, uint64(len(vocab)-1)), vocab: vocab}
}

func (g *docGen) words(n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(g.vocab[g.zipf.Uint64()])
	}
	return b.String()
}

func (g *docGen) doc(id int) []byte {
	genres := []string{"Action", "Comedy", "Drama", "Horror", "Romance", "Thriller", "Animation", "Documentary", "Fantasy", "Science Fiction"}
	cast := make([]string, 3+g.r.IntN(5))
	for i := range cast {
		cast[i] = strings.ToUpper(g.words(1)[:1]) + g.words(1) + " " + g.words(1)
	}
	d := map[string]any{
		"id":           id,
		"title":        g.words(2 + g.r.IntN(4)),
		"overview":     g.words(60 + g.r.IntN(80)),
		"genres":       []string{genres[g.r.IntN(len(genres))], genres[g.r.IntN(len(genres))]},
		"release_date": 315532800 + g.r.Int64N(1500000000),
		"popularity":   float64(g.r.IntN(100000)) / 100,
		"vote_average": float64(g.r.IntN(100)) / 10,
		"vote_count":   g.r.IntN(30000),
		"cast":         cast,
		"poster":       "https://image.example.org/t/p/w500/" + strconv.FormatUint(g.r.Uint64(), 36) + ".jpg",
	}
	b, err := json.Marshal(d)
	if err != nil {
		panic(err)
	}
	return b
}

// buildPebble writes docs documents into a new pebble database in dir and
// takes a checkpoint of it in ckpt. It returns the bytes of JSON written.
func buildPebble(tb testing.TB, dir, ckpt string, docs int) int64 {
	tb.Helper()
	db, err := pebble.Open(dir, &pebble.Options{Logger: quietLogger{}, FormatMajorVersion: pebble.FormatNewest})
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	g := newDocGen(1)
	var total int64
	b := db.NewBatch()
	for i := range docs {
		d := g.doc(i)
		total += int64(len(d))
		if err := b.Set([]byte(fmt.Sprintf("doc/%012d", i)), d, nil); err != nil {
			tb.Fatal(err)
		}
		if b.Len() > 4<<20 {
			if err := b.Commit(pebble.NoSync); err != nil {
				tb.Fatal(err)
			}
			b = db.NewBatch()
		}
	}
	if err := b.Commit(pebble.Sync); err != nil {
		tb.Fatal(err)
	}
	if err := db.Flush(); err != nil {
		tb.Fatal(err)
	}
	if err := db.Checkpoint(ckpt, pebble.WithFlushedWAL()); err != nil {
		tb.Fatal(err)
	}
	return total
}

// cachedPebble returns the checkpoint of a database of docs documents,
// built once and kept under the temp dir between runs (it takes a while).
func cachedPebble(tb testing.TB, docs int) string {
	tb.Helper()
	base := filepath.Join(os.TempDir(), "idxfs-snapshot-bench", fmt.Sprintf("pebble-%d", docs))
	ckpt := filepath.Join(base, "checkpoint")
	if _, err := os.Stat(filepath.Join(base, "complete")); err == nil {
		return ckpt
	}
	os.RemoveAll(base)
	if err := os.MkdirAll(base, 0o755); err != nil {
		tb.Fatal(err)
	}
	tb.Logf("building a pebble database of %d documents in %s", docs, base)
	buildPebble(tb, filepath.Join(base, "db"), ckpt, docs)
	if err := os.RemoveAll(filepath.Join(base, "db")); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(base, "complete"), nil, 0o644); err != nil {
		tb.Fatal(err)
	}
	return ckpt
}

// dirSize is the total size of the files in dir.
func dirSize(tb testing.TB, dir string) int64 {
	ents, err := os.ReadDir(dir)
	if err != nil {
		tb.Fatal(err)
	}
	var n int64
	for _, e := range ents {
		fi, err := e.Info()
		if err != nil {
			tb.Fatal(err)
		}
		n += fi.Size()
	}
	return n
}
