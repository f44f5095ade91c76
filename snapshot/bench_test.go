package snapshot

// Benchmarks over a real pebble database of ~1 KiB JSON documents (built
// once, cached under $TMPDIR/idxfs-snapshot-bench). Compare runs with
// benchstat. The pigz and tar benchmarks time the reference pipelines of the
// product target (issue 3) on the same input:
//
//	go test -run '^$' -bench 'Write/|Pigz' -count 5 ./snapshot/
//	go test -run '^$' -bench 'Extract|TarXzf' -count 5 ./snapshot/
//
// IDXFS_BENCH_DOCS sets the number of documents (default 360000: about
// 200 MB of sstables and WAL). IDXFS_BENCH_SRC=DIR benchmarks DIR instead (a
// flat directory of files, e.g. the index/ of an extracted idxfs snapshot of
// an index filled by `scripts/gendocs -kind text`).

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/klauspost/compress/flate"
)

func benchDocs() int {
	if s := os.Getenv("IDXFS_BENCH_DOCS"); s != "" {
		n, err := strconv.Atoi(s)
		if err == nil {
			return n
		}
	}
	return 360000
}

// benchSource is the benchmarks' input: IDXFS_BENCH_SRC if set, else the
// cached pebble checkpoint of benchDocs() documents.
func benchSource(tb testing.TB) string {
	if dir := os.Getenv("IDXFS_BENCH_SRC"); dir != "" {
		return dir
	}
	return cachedPebble(tb, benchDocs())
}

type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

// cpuClock measures the CPU time of this process (RUSAGE_SELF) or of its
// waited-for children (RUSAGE_CHILDREN): unlike wall time, it does not
// depend much on what else runs on the machine.
type cpuClock struct {
	who   int
	start time.Duration
}

func startCPU(who int) cpuClock { return cpuClock{who, cpuTime(who)} }

func cpuTime(who int) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(who, &ru); err != nil {
		panic(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// report adds the metrics cpu-s/op and MB/cpu-s, and for this process
// peak-RSS-MiB, the high-water mark of its resident set (over the whole
// process: run one benchmark per process to read it).
func (c cpuClock) report(b *testing.B, bytes int64) {
	per := (cpuTime(c.who) - c.start).Seconds() / float64(b.N)
	b.ReportMetric(per, "cpu-s/op")
	b.ReportMetric(float64(bytes)/1e6/per, "MB/cpu-s")
	if c.who == syscall.RUSAGE_SELF {
		var ru syscall.Rusage
		syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
		b.ReportMetric(float64(ru.Maxrss)/1024, "peak-RSS-MiB")
	}
}

func benchMeta() Metadata {
	return Metadata{IndexUID: "bench", IdxfsVersion: "bench"}
}

// BenchmarkWrite measures Write to a byte counter. Sub-benchmarks vary the
// engine, level and member size; "default" is WriteOptions{}.
func BenchmarkWrite(b *testing.B) {
	src := benchSource(b)
	total := dirSize(b, src)
	run := func(b *testing.B, eng engine, opts WriteOptions) {
		b.SetBytes(total)
		b.ReportAllocs()
		var cw countWriter
		cpu := startCPU(syscall.RUSAGE_SELF)
		for b.Loop() {
			cw.n = 0
			if _, err := write(context.Background(), &cw, src, benchMeta(), opts, eng); err != nil {
				b.Fatal(err)
			}
		}
		cpu.report(b, total)
		b.ReportMetric(float64(cw.n), "archive-bytes")
		b.ReportMetric(float64(cw.n)/float64(total), "ratio")
	}
	b.Run("default", func(b *testing.B) { run(b, enginePool, WriteOptions{}) })
	for _, eng := range []struct {
		name string
		e    engine
	}{{"pool", enginePool}, {"pgzip", enginePgzip}} {
		for _, level := range []int{flate.HuffmanOnly, 1, 2, 3, 5} {
			for _, ms := range []int{256 << 10, 1 << 20, 4 << 20} {
				name := fmt.Sprintf("engine=%s/level=%d/member=%dKiB", eng.name, level, ms>>10)
				b.Run(name, func(b *testing.B) { run(b, eng.e, WriteOptions{Level: level, MemberSize: ms}) })
			}
		}
	}
}

// BenchmarkPigz measures `tar cf - -C DIR . | pigz -p 2 -1` on the same
// input, the reference of the creation target.
func BenchmarkPigz(b *testing.B) {
	if _, err := exec.LookPath("pigz"); err != nil {
		b.Skip("pigz not installed")
	}
	src := benchSource(b)
	b.SetBytes(dirSize(b, src))
	out := filepath.Join(b.TempDir(), "a.tar.gz")
	cpu := startCPU(syscall.RUSAGE_CHILDREN)
	for b.Loop() {
		cmd := exec.Command("bash", "-c", `set -o pipefail; tar cf - -C "$1" . | pigz -p 2 -1 > "$2"`, "-", src, out)
		if msg, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("%v: %s", err, msg)
		}
	}
	cpu.report(b, dirSize(b, src))
	fi, err := os.Stat(out)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(fi.Size()), "archive-bytes")
	b.ReportMetric(float64(fi.Size())/float64(dirSize(b, src)), "ratio")
}

// benchArchive writes the benchmark input with default options to a file.
func benchArchive(b *testing.B) string {
	src := benchSource(b)
	p := filepath.Join(b.TempDir(), "a.tar.gz")
	f, err := os.Create(p)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := Write(context.Background(), f, src, benchMeta(), WriteOptions{}); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	return p
}

// BenchmarkExtract measures Extract from a file (page-cached) to a new
// directory, fsyncs included.
func BenchmarkExtract(b *testing.B) {
	arch := benchArchive(b)
	b.SetBytes(dirSize(b, benchSource(b)))
	b.ReportAllocs()
	tmp := b.TempDir()
	i := 0
	cpu := startCPU(syscall.RUSAGE_SELF)
	for b.Loop() {
		f, err := os.Open(arch)
		if err != nil {
			b.Fatal(err)
		}
		dst := filepath.Join(tmp, strconv.Itoa(i))
		i++
		if _, err := Extract(context.Background(), f, dst, ReadOptions{}); err != nil {
			b.Fatal(err)
		}
		f.Close()
		b.StopTimer()
		os.RemoveAll(dst)
		b.StartTimer()
	}
	cpu.report(b, dirSize(b, benchSource(b)))
}

// BenchmarkVerify measures Verify from a file (page-cached).
func BenchmarkVerify(b *testing.B) {
	arch := benchArchive(b)
	b.SetBytes(dirSize(b, benchSource(b)))
	b.ReportAllocs()
	cpu := startCPU(syscall.RUSAGE_SELF)
	for b.Loop() {
		f, err := os.Open(arch)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := Verify(context.Background(), f, ReadOptions{}); err != nil {
			b.Fatal(err)
		}
		f.Close()
	}
	cpu.report(b, dirSize(b, benchSource(b)))
}

// BenchmarkTarXzf measures `tar xzf ARCHIVE -C DIR && sync` on the archive
// Write makes, the reference of the import target.
func BenchmarkTarXzf(b *testing.B) {
	arch := benchArchive(b)
	b.SetBytes(dirSize(b, benchSource(b)))
	tmp := b.TempDir()
	i := 0
	cpu := startCPU(syscall.RUSAGE_CHILDREN)
	for b.Loop() {
		dst := filepath.Join(tmp, strconv.Itoa(i))
		i++
		cmd := exec.Command("bash", "-c", `mkdir "$2" && tar xzf "$1" -C "$2" && sync`, "-", arch, dst)
		if msg, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("%v: %s", err, msg)
		}
		b.StopTimer()
		os.RemoveAll(dst)
		b.StartTimer()
	}
	cpu.report(b, dirSize(b, benchSource(b)))
}
