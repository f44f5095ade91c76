package snapshot

import (
	"archive/tar"
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestValidFileName(t *testing.T) {
	t.Parallel()
	for _, ok := range []string{"000005.sst", "MANIFEST-000001", "marker.format-version.000001.024", strings.Repeat("a", maxFileNameLen)} {
		if err := validFileName(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", ".", "..", "a/b", "/a", `a\b`, "a b", "a\x00", "é", strings.Repeat("a", maxFileNameLen+1)} {
		if err := validFileName(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestTarHeaderDeterministic(t *testing.T) {
	t.Parallel()
	mtime := time.Date(2026, 1, 2, 3, 4, 5, 999, time.FixedZone("x", 3600))
	a, err := tarHeader("index/000005.sst", tar.TypeReg, 1234, mtime)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := tarHeader("index/000005.sst", tar.TypeReg, 1234, mtime.UTC().Truncate(time.Second))
	if !bytes.Equal(a, b) {
		t.Fatal("the header depends on the time zone or sub-second part of mtime")
	}
	h, err := tar.NewReader(bytes.NewReader(append(a, make([]byte, 2048)...))).Next()
	if err != nil {
		t.Fatal(err)
	}
	if h.Uid != 0 || h.Gid != 0 || h.Uname != "" || h.Gname != "" || h.Mode != 0o644 || h.Format != tar.FormatUSTAR || !h.ModTime.Equal(mtime.Truncate(time.Second)) {
		t.Fatalf("header %+v", h)
	}
	// Times USTAR cannot hold are clamped rather than failing the write.
	for _, tm := range []time.Time{{}, time.Unix(-5, 0), time.Unix(1<<40, 0)} {
		if _, err := tarHeader("index/a", tar.TypeReg, 1, tm); err != nil {
			t.Errorf("mtime %v: %v", tm, err)
		}
	}
	if _, err := tarHeader("index/a", tar.TypeReg, 8<<30, mtime); err == nil {
		t.Error("a file of 8 GiB fits a USTAR header?")
	}
}

func TestSums(t *testing.T) {
	t.Parallel()
	files := []FileInfo{{Name: "a"}, {Name: "b"}}
	sums := [][32]byte{{1}, {2}}
	got, err := decodeSums(encodeSums(files, sums))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got["a"] != sums[0] || got["b"] != sums[1] {
		t.Fatalf("decoded %v", got)
	}
	line := "ab00000000000000000000000000000000000000000000000000000000000000  index/a\n"
	for _, bad := range []string{
		strings.TrimSuffix(line, "\n"),                    // no final newline
		strings.ToUpper(line[:64]) + line[64:],            // upper-case hex
		strings.Replace(line, "  ", " *", 1),              // binary-mode marker
		strings.Replace(line, "index/a", "a", 1),          // not under index/
		strings.Replace(line, "index/a", "index/../a", 1), // not a plain name
		line + line, // twice
		"\n",        // empty line
		strings.Repeat("0", 2000) + "  index/a\n", // overlong line
	} {
		if _, err := decodeSums([]byte(bad)); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

func TestDecodeMetadata(t *testing.T) {
	t.Parallel()
	good := Metadata{Format: FormatName, FormatVersion: 1, PebbleFormatVersion: 13, Files: []FileInfo{{Name: "a", Size: 1}}}
	b, err := encodeMetadata(good)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := decodeMetadata(b, 13); err != nil {
		t.Fatal(err)
	}
	if _, err := decodeMetadata(b, 12); !errors.Is(err, ErrIncompatible) {
		t.Fatalf("pebble 13 with max 12: %v", err)
	}
	if _, err := decodeMetadata(append(b, "{}"...), 0); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("two objects: %v", err)
	}
	if _, err := decodeMetadata([]byte(`{"format":"idxfs-index-snapshot","formatVersion":1,"files":[],"future":true}`), 0); err != nil {
		t.Fatalf("unknown fields must be ignored: %v", err)
	}
	if _, err := decodeMetadata([]byte(`{"format":"idxfs-index-snapshot","formatVersion":0,"files":[]}`), 0); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("version 0: %v", err)
	}
	huge := `{"format":"idxfs-index-snapshot","formatVersion":1,"files":[{"name":"a","size":9223372036854775807},{"name":"b","size":1}]}`
	if _, err := decodeMetadata([]byte(huge), 0); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("overflowing sizes: %v", err)
	}
}
