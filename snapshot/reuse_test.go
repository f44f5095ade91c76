package snapshot_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/idxfs/idxfs/snapshot"
)

// reuseOpts are small members, so that files take several.
var reuseOpts = snapshot.WriteOptions{MemberSize: 64 << 10, Concurrency: 2}

// writeFile writes dir as an archive into a file, returning it (open) and
// the result.
func writeFile(t *testing.T, dir string, opts snapshot.WriteOptions) (*os.File, snapshot.WriteResult) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "a.tar.gz")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	res, err := snapshot.Write(context.Background(), f, dir, testMetadata(), opts)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	r, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r, res
}

// reuseSource is a source with files of one, several and no members.
func reuseSource(t *testing.T) string {
	return makeSource(t, map[string][]byte{
		"000004.sst":   randBytes(1, 300<<10),
		"000005.sst":   bytes.Repeat([]byte("compressible "), 30000),
		"000006.sst":   randBytes(3, 10<<10),
		"000007.sst":   {},
		"MANIFEST-001": randBytes(2, 100),
	})
}

// checkSame compares a reused archive with a cold one of the same source.
func checkSame(t *testing.T, got []byte, dir string, opts snapshot.WriteOptions) {
	t.Helper()
	opts.Reuse = nil
	cold := writeArchive(t, dir, testMetadata(), opts)
	if !bytes.Equal(got, cold) {
		t.Fatalf("the archive written with reuse (%d bytes) differs from a cold one (%d bytes)", len(got), len(cold))
	}
	if _, err := snapshot.Verify(context.Background(), bytes.NewReader(got), snapshot.ReadOptions{}); err != nil {
		t.Fatalf("Verify: %v", err)
	}
}

// writeReusing writes dir reusing prev, returning the archive's bytes.
func writeReusing(t *testing.T, dir string, prev *os.File, ix snapshot.MemberIndex, opts snapshot.WriteOptions) ([]byte, snapshot.WriteResult) {
	t.Helper()
	opts.Reuse = &snapshot.Reusable{File: prev, Index: ix}
	// Into a file, so that the members are copied by copy_file_range.
	f, res := writeFile(t, dir, opts)
	b, err := os.ReadFile(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	return b, res
}

func TestReuseByteIdentical(t *testing.T) {
	t.Parallel()
	dir := reuseSource(t)
	prev, res := writeFile(t, dir, reuseOpts)
	if res.ReusedFiles != 0 || len(res.Index.Files) != 5 || res.Index.ArchiveSize != res.CompressedSize {
		t.Fatalf("cold write: reused %d, index %+v", res.ReusedFiles, res.Index)
	}

	// The index changes: a new file, one rewritten with another size, one
	// with the same size but another mtime, one removed.
	if err := os.WriteFile(filepath.Join(dir, "000008.sst"), randBytes(8, 200<<10), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "MANIFEST-001"), randBytes(2, 150), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(filepath.Join(dir, "000006.sst"), testTime, testTime.Add(time.Nanosecond)); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, "000007.sst")); err != nil {
		t.Fatal(err)
	}
	got, res2 := writeReusing(t, dir, prev, res.Index, reuseOpts)
	// 000004 and 000005 are reused; 000006 (mtime), 000008 (new) and the
	// MANIFEST (size) are not.
	if res2.ReusedFiles != 2 || res2.ReusedBytes != 300<<10+13*30000 {
		t.Fatalf("reused %d files, %d bytes (note %q); want 2, %d", res2.ReusedFiles, res2.ReusedBytes, res2.ReuseNote, 300<<10+13*30000)
	}
	checkSame(t, got, dir, reuseOpts)
	if res2.Index.ReusedFiles != 2 || len(res2.Index.Files) != 5 {
		t.Fatalf("index %+v", res2.Index)
	}

	// A third write reuses from the second, which had reused members.
	second := openCopy(t, got)
	third, res3 := writeReusing(t, dir, second, res2.Index, reuseOpts)
	if res3.ReusedFiles != 5 {
		t.Fatalf("third write reused %d files, want 5 (note %q)", res3.ReusedFiles, res3.ReuseNote)
	}
	checkSame(t, third, dir, reuseOpts)

	// Through a writer that is no file (a rate limiter): a plain copy.
	opts := reuseOpts
	opts.Reuse = &snapshot.Reusable{File: second, Index: res2.Index}
	var buf bytes.Buffer
	res4, err := snapshot.Write(context.Background(), &buf, dir, testMetadata(), opts)
	if err != nil || res4.ReusedFiles != 5 {
		t.Fatalf("write to a buffer: %v, reused %d", err, res4.ReusedFiles)
	}
	checkSame(t, buf.Bytes(), dir, reuseOpts)
}

// openCopy writes b to a new file and returns it open for reading.
func openCopy(t *testing.T, b []byte) *os.File {
	t.Helper()
	p := filepath.Join(t.TempDir(), "c.tar.gz")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// corrupted writes a copy of prev with change applied and returns it open.
func corrupted(t *testing.T, prev *os.File, change func([]byte)) *os.File {
	t.Helper()
	b, err := os.ReadFile(prev.Name())
	if err != nil {
		t.Fatal(err)
	}
	change(b)
	return openCopy(t, b)
}

func TestReuseRefused(t *testing.T) {
	t.Parallel()
	dir := reuseSource(t)
	prev, res := writeFile(t, dir, reuseOpts)
	ix := res.Index
	var big snapshot.IndexedFile // 000004.sst: five members
	for _, f := range ix.Files {
		if f.Name == "000004.sst" {
			big = f
		}
	}
	if big.Members < 3 {
		t.Fatalf("000004.sst has %d members", big.Members)
	}
	cases := []struct {
		name      string
		prev      func() *os.File
		ix        func(snapshot.MemberIndex) snapshot.MemberIndex
		opts      snapshot.WriteOptions
		reused    int // files reused of 5
		wholeNote bool
	}{
		{name: "no previous archive", prev: func() *os.File { return nil }, wholeNote: true},
		{name: "byte flipped inside a reused range", reused: 4, prev: func() *os.File {
			return corrupted(t, prev, func(b []byte) { b[big.Offset+big.Length/2] ^= 0x40 })
		}},
		{name: "member length flipped", reused: 4, prev: func() *os.File {
			return corrupted(t, prev, func(b []byte) {
				// The second member's length field: the range no longer adds up.
				first := binary.LittleEndian.Uint64(b[big.Offset+16:])
				b[big.Offset+int64(first)+16] ^= 0x01
			})
		}},
		{name: "member header flipped (mtime)", reused: 4, prev: func() *os.File {
			return corrupted(t, prev, func(b []byte) { b[big.Offset+4] ^= 0x01 })
		}},
		{name: "truncated archive", wholeNote: true, prev: func() *os.File {
			f := corrupted(t, prev, func([]byte) {})
			if err := os.Truncate(f.Name(), res.CompressedSize-100); err != nil {
				t.Fatal(err)
			}
			return f
		}},
		{name: "archive longer than its index", wholeNote: true, prev: func() *os.File {
			b, _ := os.ReadFile(prev.Name())
			return openCopy(t, append(b, 0))
		}},
		{name: "index with the wrong SHA256SUMS offset", wholeNote: true, ix: func(ix snapshot.MemberIndex) snapshot.MemberIndex {
			ix.SumsOffset -= 24
			return ix
		}},
		{name: "index from another encoder", wholeNote: true, ix: func(ix snapshot.MemberIndex) snapshot.MemberIndex {
			ix.Encoder += "x"
			return ix
		}},
		{name: "other level", wholeNote: true, opts: snapshot.WriteOptions{MemberSize: 64 << 10, Level: 1}},
		{name: "other member size", wholeNote: true, opts: snapshot.WriteOptions{MemberSize: 128 << 10}},
		{name: "index entries out of order", wholeNote: true, ix: func(ix snapshot.MemberIndex) snapshot.MemberIndex {
			files := append([]snapshot.IndexedFile(nil), ix.Files...)
			files[0], files[1] = files[1], files[0]
			ix.Files = files
			return ix
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, x, opts := prev, ix, reuseOpts
			if c.prev != nil {
				p = c.prev()
			}
			if c.ix != nil {
				x = c.ix(ix)
			}
			if c.opts.MemberSize != 0 {
				opts = c.opts
			}
			opts.Reuse = &snapshot.Reusable{File: p, Index: x}
			var buf bytes.Buffer
			res, err := snapshot.Write(context.Background(), &buf, dir, testMetadata(), opts)
			if err != nil {
				t.Fatal(err)
			}
			if res.ReusedFiles != c.reused || (res.ReuseNote != "") != c.wholeNote {
				t.Fatalf("reused %d files (note %q), want %d", res.ReusedFiles, res.ReuseNote, c.reused)
			}
			checkSame(t, buf.Bytes(), dir, opts)
		})
	}
}

// TestReuseChecksTarHeader: an index whose entry says the file has the
// source's mtime while the archive's tar header holds another one is not
// believed (the header member must be what a cold write makes).
func TestReuseChecksTarHeader(t *testing.T) {
	t.Parallel()
	dir := reuseSource(t)
	prev, res := writeFile(t, dir, reuseOpts)
	later := testTime.Add(time.Second)
	if err := os.Chtimes(filepath.Join(dir, "000006.sst"), later, later); err != nil {
		t.Fatal(err)
	}
	ix := res.Index
	ix.Files = append([]snapshot.IndexedFile(nil), ix.Files...)
	for i := range ix.Files {
		if ix.Files[i].Name == "000006.sst" {
			ix.Files[i].MTimeNanos = later.UnixNano()
		}
	}
	got, res2 := writeReusing(t, dir, prev, ix, reuseOpts)
	if res2.ReusedFiles != 4 {
		t.Fatalf("reused %d files, want 4 (note %q)", res2.ReusedFiles, res2.ReuseNote)
	}
	checkSame(t, got, dir, reuseOpts)
}
