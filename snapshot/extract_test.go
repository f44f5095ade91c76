package snapshot_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"testing"

	"github.com/idxfs/idxfs/snapshot"
	st "github.com/idxfs/idxfs/snapshot/snapshottest"
)

// readDir returns the files of dir.
func readDir(t testing.TB, dir string) map[string][]byte {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	files := make(map[string][]byte)
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		files[e.Name()] = b
	}
	return files
}

func sameFiles(t testing.TB, got, want map[string][]byte) {
	t.Helper()
	if g, w := slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(want)); !slices.Equal(g, w) {
		t.Fatalf("files %q, want %q", g, w)
	}
	for name, w := range want {
		if !bytes.Equal(got[name], w) {
			t.Fatalf("file %q differs (%d bytes, want %d)", name, len(got[name]), len(w))
		}
	}
}

func sameMetadata(t testing.TB, got, want snapshot.Metadata) {
	t.Helper()
	g, _ := json.Marshal(got)
	w, _ := json.Marshal(want)
	if !bytes.Equal(g, w) {
		t.Fatalf("metadata\n%s\nwant\n%s", g, w)
	}
}

// roundTrip writes files, then reads the archive back every way: Extract
// (member-parallel and single-member), Verify, Inspect.
func roundTrip(t *testing.T, files map[string][]byte, wopts snapshot.WriteOptions) {
	t.Helper()
	src := makeSource(t, files)
	var buf bytes.Buffer
	res, err := snapshot.Write(context.Background(), &buf, src, testMetadata(), wopts)
	if err != nil {
		t.Fatal(err)
	}
	want := st.Metadata(testMetadata(), files)
	sameMetadata(t, res.Metadata, want)
	a := buf.Bytes()

	inflated, err := st.Gunzip(a)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []struct {
		name    string
		archive []byte
		conc    int
	}{
		{"members", a, 0},
		{"members, one worker", a, 1},
		{"members, five workers", a, 5},
		{"single member", st.Gzip(inflated), 0},
	} {
		dst := filepath.Join(t.TempDir(), "dst")
		m, err := snapshot.Extract(context.Background(), bytes.NewReader(v.archive), dst, snapshot.ReadOptions{Concurrency: v.conc})
		if err != nil {
			t.Fatalf("%s: Extract: %v", v.name, err)
		}
		sameMetadata(t, m, want)
		sameFiles(t, readDir(t, dst), files)
		for name := range files {
			fi, err := os.Stat(filepath.Join(dst, name))
			if err != nil {
				t.Fatal(err)
			}
			if !fi.ModTime().Equal(testTime) {
				t.Errorf("%s: %s: mtime %v, want %v", v.name, name, fi.ModTime(), testTime)
			}
		}
		m, err = snapshot.Verify(context.Background(), bytes.NewReader(v.archive), snapshot.ReadOptions{Concurrency: v.conc})
		if err != nil {
			t.Fatalf("%s: Verify: %v", v.name, err)
		}
		sameMetadata(t, m, want)
		m, err = snapshot.Inspect(bytes.NewReader(v.archive))
		if err != nil {
			t.Fatalf("%s: Inspect: %v", v.name, err)
		}
		sameMetadata(t, m, want)
	}
}

func TestRoundTrip(t *testing.T) {
	many := make(map[string][]byte)
	for i := range 300 {
		n := int(randBytes(uint64(i), 2)[0]) * 97
		many[fmt.Sprintf("%06d.sst", i)] = randBytes(uint64(1000+i), n)
	}
	for _, tc := range []struct {
		name  string
		files map[string][]byte
		opts  snapshot.WriteOptions
	}{
		{"no files", map[string][]byte{}, snapshot.WriteOptions{}},
		{"empty files", map[string][]byte{"MANIFEST-000001": nil, "marker.format-version.000001.024": nil, "OPTIONS-000003": []byte("[Version]\n")}, snapshot.WriteOptions{}},
		{"one small file", map[string][]byte{"000001.sst": []byte("hello")}, snapshot.WriteOptions{}},
		{"file of exactly one member", map[string][]byte{"a": randBytes(1, 64<<10-512)}, snapshot.WriteOptions{MemberSize: 64 << 10}},
		{"many files", many, snapshot.WriteOptions{MemberSize: 64 << 10}},
		{"huffman only", many, snapshot.WriteOptions{Level: -2}},
		{"level 9", map[string][]byte{"a": bytes.Repeat([]byte("abc"), 100000)}, snapshot.WriteOptions{Level: 9}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			roundTrip(t, tc.files, tc.opts)
		})
	}
}

// TestRoundTripLarge round-trips ~100 MB in several files, half random,
// half compressible.
func TestRoundTripLarge(t *testing.T) {
	if testing.Short() {
		t.Skip("100 MB round trip skipped in -short mode")
	}
	t.Parallel()
	files := make(map[string][]byte)
	for i := range 6 {
		n := 16<<20 + i*1000
		if i%2 == 0 {
			files[fmt.Sprintf("%06d.sst", i)] = randBytes(uint64(i), n)
		} else {
			files[fmt.Sprintf("%06d.sst", i)] = bytes.Repeat([]byte(fmt.Sprintf("document %d, ", i)), n/13)
		}
	}
	roundTrip(t, files, snapshot.WriteOptions{})
}

func TestExtractRefusesExistingDir(t *testing.T) {
	t.Parallel()
	dst := t.TempDir()
	keep := filepath.Join(dst, "keep")
	if err := os.WriteFile(keep, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := snapshot.Extract(context.Background(), bytes.NewReader(validArchive(t)), dst, snapshot.ReadOptions{})
	if !errors.Is(err, os.ErrExist) {
		t.Fatalf("Extract: %v, want os.ErrExist", err)
	}
	if _, err := os.Stat(keep); err != nil {
		t.Fatalf("Extract touched the existing dir: %v", err)
	}
}

func TestExtractProgress(t *testing.T) {
	t.Parallel()
	dir := makeSource(t, map[string][]byte{"a": randBytes(1, 9<<20), "b": randBytes(2, 3<<20), "c": nil})
	a := writeArchive(t, dir, testMetadata(), snapshot.WriteOptions{})
	var calls []snapshot.Progress
	_, err := snapshot.Extract(context.Background(), bytes.NewReader(a), filepath.Join(t.TempDir(), "d"), snapshot.ReadOptions{
		Progress: func(p snapshot.Progress) { calls = append(calls, p) },
	})
	if err != nil {
		t.Fatal(err)
	}
	checkProgress(t, calls, 12<<20)
}

func TestExtractOnMetadata(t *testing.T) {
	t.Parallel()
	stop := errors.New("name taken")
	parent := t.TempDir()
	dst := filepath.Join(parent, "d")
	var got snapshot.Metadata
	_, err := snapshot.Extract(context.Background(), bytes.NewReader(validArchive(t)), dst, snapshot.ReadOptions{
		OnMetadata: func(m snapshot.Metadata) error { got = m; return stop },
	})
	if err != stop {
		t.Fatalf("Extract: %v, want the hook's error as is", err)
	}
	if got.IndexUID != "movies" {
		t.Fatalf("hook got %+v", got)
	}
	if ents, _ := os.ReadDir(parent); len(ents) != 0 {
		t.Fatal("Extract left files behind")
	}
}

// cancelReader cancels its context once n bytes have been read.
type cancelReader struct {
	r      io.Reader
	n      int
	cancel context.CancelFunc
}

func (r *cancelReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	r.n -= n
	if r.n <= 0 {
		r.cancel()
	}
	return n, err
}

func TestReadCancel(t *testing.T) {
	dir := makeSource(t, map[string][]byte{"a": randBytes(1, 20<<20), "b": randBytes(2, 1<<20)})
	a := writeArchive(t, dir, testMetadata(), snapshot.WriteOptions{})
	for _, op := range []string{"Extract", "Verify"} {
		t.Run(op, func(t *testing.T) {
			before := runtime.NumGoroutine()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			r := &cancelReader{r: bytes.NewReader(a), n: 5 << 20, cancel: cancel}
			parent := t.TempDir()
			var err error
			if op == "Extract" {
				_, err = snapshot.Extract(ctx, r, filepath.Join(parent, "d"), snapshot.ReadOptions{})
			} else {
				_, err = snapshot.Verify(ctx, r, snapshot.ReadOptions{})
			}
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("%s: %v, want context.Canceled", op, err)
			}
			checkGoroutines(t, before)
			if ents, _ := os.ReadDir(parent); len(ents) != 0 {
				t.Fatal("Extract left files behind")
			}
		})
	}
}

// failingReader fails with err once n bytes have been read.
type failingReader struct {
	r   io.Reader
	n   int
	err error
}

func (r *failingReader) Read(p []byte) (int, error) {
	if r.n <= 0 {
		return 0, r.err
	}
	n, err := r.r.Read(p[:min(len(p), r.n)])
	r.n -= n
	return n, err
}

// TestReadError checks that a failing reader is reported as such, not as a
// corrupt archive.
func TestReadError(t *testing.T) {
	t.Parallel()
	a := validArchive(t)
	inflated, err := st.Gunzip(a)
	if err != nil {
		t.Fatal(err)
	}
	single := st.Gzip(inflated)
	ioErr := errors.New("disk on fire")
	for name, archive := range map[string][]byte{"members": a, "single member": single} {
		for _, at := range []int{0, 5, 30, len(archive) / 2, len(archive) - 1} {
			parent := t.TempDir()
			_, err := snapshot.Extract(context.Background(), &failingReader{bytes.NewReader(archive), at, ioErr}, filepath.Join(parent, "d"), snapshot.ReadOptions{})
			if !errors.Is(err, ioErr) || errors.Is(err, snapshot.ErrCorrupt) {
				t.Errorf("%s, failing after %d bytes: %v, want the read error", name, at, err)
			}
			if ents, _ := os.ReadDir(parent); len(ents) != 0 {
				t.Errorf("%s: Extract left files behind", name)
			}
		}
	}
}
