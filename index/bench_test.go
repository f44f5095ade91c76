package index_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"testing"

	"github.com/idxfs/idxfs/index"
	"github.com/idxfs/idxfs/index/indextest"
)

const benchDocs = 20000

// BenchmarkAddDocuments adds 20,000 documents of about 1 KiB (NDJSON) to a
// new index per op: both passes, synced batches.
func BenchmarkAddDocuments(b *testing.B) {
	ctx := context.Background()
	s := indextest.Open(b, "")
	payload := indextest.NDJSON(1, benchDocs)
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		uid := fmt.Sprintf("bench%d", i)
		if _, err := s.Create(ctx, uid, ""); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if _, err := s.AddDocuments(ctx, uid, bytes.NewReader(payload), index.WriteOptions{}); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if err := s.Delete(ctx, uid); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(benchDocs)*float64(b.N)/b.Elapsed().Seconds(), "docs/s")
}

// BenchmarkExport exports an index of 20,000 documents of about 1 KiB.
func BenchmarkExport(b *testing.B) {
	ctx := context.Background()
	s := indextest.Open(b, "")
	indextest.AddIndex(b, s, "movies", benchDocs)
	n, err := s.Export(ctx, "movies", io.Discard)
	if err != nil || n != benchDocs {
		b.Fatal(n, err)
	}
	b.SetBytes(int64(len(indextest.NDJSON(1, benchDocs))))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Export(ctx, "movies", io.Discard); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(benchDocs)*float64(b.N)/b.Elapsed().Seconds(), "docs/s")
}
