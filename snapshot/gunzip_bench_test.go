package snapshot

// BenchmarkGunzipSingleMember compares, on a single-member archive (what GNU
// tar, gzip and pigz make, and what the reader inflates sequentially), the
// reader's own sequential path — one goroutine inflating 1 MiB chunks ahead
// of the consumer with klauspost/compress/gzip (gunzipStream.sequential) —
// with pgzip.Reader, which also inflates ahead on a goroutine and computes
// the CRC-32 on another. Both are read through Read with a buffer of the
// walker's copy size. pgzip.Reader was not faster (more CPU for the same
// wall time), so the reader keeps its own goroutine; the figures are in
// docs/BENCHMARKS.md and docs/FORMAT.md §7:
//
//	go test -run '^$' -bench GunzipSingleMember -count 5 ./snapshot/

import (
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"

	"github.com/klauspost/pgzip"
	"golang.org/x/sync/errgroup"
)

// singleMemberArchive returns the benchmark input re-packed by GNU tar
// (`tar czf`: one gzip member at gzip's default level 6), cached beside the
// pebble database.
func singleMemberArchive(b *testing.B) string {
	src := cachedPebble(b, benchDocs())
	p := filepath.Join(filepath.Dir(src), "gnutar.tar.gz")
	if _, err := os.Stat(p); err == nil {
		return p
	}
	if _, err := exec.LookPath("tar"); err != nil {
		b.Skip("tar not installed")
	}
	tmp := p + ".tmp"
	if msg, err := exec.Command("tar", "czf", tmp, "-C", src, ".").CombinedOutput(); err != nil {
		b.Fatalf("tar czf: %v: %s", err, msg)
	}
	if err := os.Rename(tmp, p); err != nil {
		b.Fatal(err)
	}
	return p
}

// drain reads r to its end through a copyBufferSize buffer and returns the
// number of bytes.
func drain(b *testing.B, r io.Reader) int64 {
	buf := make([]byte, copyBufferSize)
	var n int64
	for {
		m, err := r.Read(buf)
		n += int64(m)
		if err == io.EOF {
			return n
		}
		if err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkGunzipSingleMember(b *testing.B) {
	arch := singleMemberArchive(b)
	fi, err := os.Stat(arch)
	if err != nil {
		b.Fatal(err)
	}
	// open opens the archive; run reads it once untimed, to page-cache it.
	open := func(b *testing.B) *os.File {
		f, err := os.Open(arch)
		if err != nil {
			b.Fatal(err)
		}
		return f
	}
	var inflated int64
	run := func(b *testing.B, read func(*testing.B, *os.File) int64) {
		f := open(b)
		inflated = read(b, f) // warms the page cache; sets the size
		f.Close()
		b.SetBytes(inflated)
		b.ReportAllocs()
		cpu := startCPU(syscall.RUSAGE_SELF)
		for b.Loop() {
			f := open(b)
			if n := read(b, f); n != inflated {
				b.Fatalf("inflated %d bytes, want %d", n, inflated)
			}
			f.Close()
		}
		cpu.report(b, inflated)
		b.ReportMetric(float64(fi.Size()), "archive-bytes")
	}
	b.Run("engine=goroutine", func(b *testing.B) {
		run(b, func(b *testing.B, f *os.File) int64 {
			g, ctx := errgroup.WithContext(context.Background())
			s := startGunzip(ctx, g, f, runtime.GOMAXPROCS(0))
			n := drain(b, s)
			if err := g.Wait(); err != nil {
				b.Fatal(err)
			}
			return n
		})
	})
	for _, c := range []struct {
		name          string
		block, blocks int
	}{{"pgzip", 0, 0}, {"pgzip-1MiBx8", 1 << 20, 8}} {
		b.Run("engine="+c.name, func(b *testing.B) {
			run(b, func(b *testing.B, f *os.File) int64 {
				var zr *pgzip.Reader
				var err error
				if c.block == 0 {
					zr, err = pgzip.NewReader(f)
				} else {
					zr, err = pgzip.NewReaderN(f, c.block, c.blocks)
				}
				if err != nil {
					b.Fatal(err)
				}
				n := drain(b, zr)
				if err := zr.Close(); err != nil {
					b.Fatal(err)
				}
				return n
			})
		})
	}
}
