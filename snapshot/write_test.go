package snapshot_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/idxfs/idxfs/snapshot"
)

// testTime is the mtime of the files of test sources.
var testTime = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)

// makeSource writes files into a new directory with a fixed mtime.
func makeSource(t testing.TB, files map[string][]byte) string {
	t.Helper()
	dir := t.TempDir()
	for name, data := range files {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, testTime, testTime); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func testMetadata() snapshot.Metadata {
	return snapshot.Metadata{
		IdxfsVersion:        "test",
		IndexUID:            "movies",
		PrimaryKey:          "id",
		Documents:           3,
		IndexVersion:        7,
		IndexUpdatedAt:      time.Date(2026, 11, 2, 3, 4, 5, 0, time.UTC),
		CreatedAt:           time.Date(2026, 11, 3, 4, 5, 6, 0, time.UTC),
		PebbleFormatVersion: 13,
	}
}

// writeArchive writes dir as an archive and returns its bytes.
func writeArchive(t testing.TB, dir string, meta snapshot.Metadata, opts snapshot.WriteOptions) []byte {
	t.Helper()
	var buf bytes.Buffer
	res, err := snapshot.Write(context.Background(), &buf, dir, meta, opts)
	if err != nil {
		t.Fatal(err)
	}
	if res.CompressedSize != int64(buf.Len()) {
		t.Fatalf("CompressedSize %d, wrote %d", res.CompressedSize, buf.Len())
	}
	return buf.Bytes()
}

func TestWriteDeterministic(t *testing.T) {
	t.Parallel()
	dir := makeSource(t, map[string][]byte{
		"000004.sst": randBytes(1, 300<<10),
		"000005.sst": bytes.Repeat([]byte("compressible "), 30000),
		"MANIFEST-1": randBytes(2, 100),
	})
	a := writeArchive(t, dir, testMetadata(), snapshot.WriteOptions{MemberSize: 64 << 10, Concurrency: 1})
	b := writeArchive(t, dir, testMetadata(), snapshot.WriteOptions{MemberSize: 64 << 10, Concurrency: 4})
	if !bytes.Equal(a, b) {
		t.Fatal("two writes of the same input differ")
	}
}

// TestWriteUnchangedFileSameMembers checks that a file compresses to the
// same members whatever else is in the archive: what lets rsync and member
// reuse skip it.
func TestWriteUnchangedFileSameMembers(t *testing.T) {
	t.Parallel()
	shared := randBytes(1, 200<<10)
	const memberSize = 64 << 10
	d1 := makeSource(t, map[string][]byte{"000001.sst": shared, "000002.sst": randBytes(2, 1000)})
	d2 := makeSource(t, map[string][]byte{"000001.sst": shared, "000003.sst": randBytes(3, 5000), "000004.sst": randBytes(4, 10)})
	m2 := testMetadata()
	m2.IndexVersion, m2.Documents = 8, 99
	a1 := members(t, writeArchive(t, d1, testMetadata(), snapshot.WriteOptions{MemberSize: memberSize}))
	a2 := members(t, writeArchive(t, d2, m2, snapshot.WriteOptions{MemberSize: memberSize}))
	// Member 0 is metadata and index/; 000001.sst comes first, in
	// ceil((512 + size + padding) / memberSize) members.
	n := (512 + len(shared) + memberSize - 1) / memberSize
	for i := 1; i <= n; i++ {
		if !bytes.Equal(a1[i], a2[i]) {
			t.Errorf("member %d of the unchanged file differs", i)
		}
	}
	if bytes.Equal(a1[0], a2[0]) {
		t.Error("metadata members are equal though the metadata differs")
	}
}

func TestWriteRejectsNonFlatSource(t *testing.T) {
	t.Parallel()
	for name, setup := range map[string]func(dir string) error{
		"directory": func(dir string) error { return os.Mkdir(filepath.Join(dir, "sub"), 0o755) },
		"symlink":   func(dir string) error { return os.Symlink("000001.sst", filepath.Join(dir, "sub")) },
		"fifo":      func(dir string) error { return syscall.Mkfifo(filepath.Join(dir, "sub"), 0o644) },
	} {
		t.Run(name, func(t *testing.T) {
			dir := makeSource(t, map[string][]byte{"000001.sst": []byte("x")})
			if err := setup(dir); err != nil {
				t.Fatal(err)
			}
			_, err := snapshot.Write(context.Background(), io.Discard, dir, testMetadata(), snapshot.WriteOptions{})
			if err == nil || !strings.Contains(err.Error(), `"sub" is a`) {
				t.Fatalf("Write: %v, want an error naming %q", err, "sub")
			}
		})
	}
}

func TestWriteRejectsBadOptions(t *testing.T) {
	t.Parallel()
	dir := makeSource(t, map[string][]byte{"a": []byte("x")})
	for _, o := range []snapshot.WriteOptions{{Level: 10}, {Level: -1}, {MemberSize: 1000}, {MemberSize: snapshot.MaxMemberSize + 1}} {
		if _, err := snapshot.Write(context.Background(), io.Discard, dir, testMetadata(), o); err == nil {
			t.Errorf("Write accepted %+v", o)
		}
	}
}

func TestWriteProgress(t *testing.T) {
	t.Parallel()
	dir := makeSource(t, map[string][]byte{"a": randBytes(1, 9<<20), "b": randBytes(2, 3<<20), "c": nil})
	var calls []snapshot.Progress
	res, err := snapshot.Write(context.Background(), io.Discard, dir, testMetadata(), snapshot.WriteOptions{
		Progress: func(p snapshot.Progress) { calls = append(calls, p) },
	})
	if err != nil {
		t.Fatal(err)
	}
	checkProgress(t, calls, res.UncompressedSize)
}

func checkProgress(t *testing.T, calls []snapshot.Progress, total int64) {
	t.Helper()
	if len(calls) < 3 {
		t.Fatalf("%d progress calls, want a few", len(calls))
	}
	var last int64
	for _, p := range calls {
		if p.BytesDone < last || p.BytesTotal != total {
			t.Fatalf("progress %+v after %d (total %d)", p, last, total)
		}
		last = p.BytesDone
	}
	if last != total {
		t.Fatalf("last progress %d, want %d", last, total)
	}
}

// cancelWriter cancels its context after n bytes.
type cancelWriter struct {
	n      int
	cancel context.CancelFunc
}

func (w *cancelWriter) Write(p []byte) (int, error) {
	w.n -= len(p)
	if w.n <= 0 {
		w.cancel()
	}
	return len(p), nil
}

func TestWriteCancel(t *testing.T) {
	dir := makeSource(t, map[string][]byte{"a": randBytes(1, 20<<20)})
	before := runtime.NumGoroutine()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, err := snapshot.Write(ctx, &cancelWriter{n: 2 << 20, cancel: cancel}, dir, testMetadata(), snapshot.WriteOptions{})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Write: %v, want context.Canceled", err)
	}
	checkGoroutines(t, before)
}

// checkGoroutines fails if goroutines started since before are still there.
func checkGoroutines(t *testing.T, before int) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines left behind (%d before):\n%s", runtime.NumGoroutine()-before, before, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}
