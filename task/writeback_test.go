package task

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestWriteback: the background writeback leaves the file's bytes as
// written and stops when told, also with nothing written.
func TestWriteback(t *testing.T) {
	t.Parallel()
	f, err := os.Create(filepath.Join(t.TempDir(), "a"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	stop := startWriteback(f)
	want := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	for range 3 {
		if _, err := f.Write(want); err != nil {
			t.Fatal(err)
		}
		time.Sleep(writebackEvery) // let it run between writes; the content is what is checked
	}
	stop()
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, bytes.Repeat(want, 3)) {
		t.Fatalf("file has %d bytes, not the 3 MiB written", len(got))
	}
	startWriteback(f)() // nothing new: stops at once
}

// BenchmarkSyncAfterWriteback measures the fsync that ends a 256 MiB file
// written at about 250 MB/s (a snapshot's pace), with and without the
// background writeback: the time a reader of the new archive waits for
// the store.
func BenchmarkSyncAfterWriteback(b *testing.B) {
	chunk := bytes.Repeat([]byte{1, 2, 3, 4, 5, 6, 7, 8}, 1<<17) // 1 MiB
	for _, wb := range []bool{false, true} {
		name := "plain"
		if wb {
			name = "writeback"
		}
		b.Run(name, func(b *testing.B) {
			var sync time.Duration
			for b.Loop() {
				b.StopTimer()
				f, err := os.Create(filepath.Join(b.TempDir(), "a"))
				if err != nil {
					b.Fatal(err)
				}
				stop := func() {}
				if wb {
					stop = startWriteback(f)
				}
				for range 256 {
					f.Write(chunk)
					time.Sleep(4 * time.Millisecond)
				}
				stop()
				t0 := time.Now()
				b.StartTimer()
				if err := f.Sync(); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				sync += time.Since(t0)
				f.Close()
				b.StartTimer()
			}
			b.ReportMetric(sync.Seconds()*1000/float64(b.N), "fsync-ms/op")
		})
	}
}
