package snapshot_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/idxfs/idxfs/snapshot"
	st "github.com/idxfs/idxfs/snapshot/snapshottest"
)

var update = flag.Bool("update", false, "rewrite the archives of testdata/")

// fuzzMaxInput is the largest fuzz input tried, and fuzzMaxExpanded the
// most file data an input may expand to: they keep every run short.
const (
	fuzzMaxInput    = 1 << 20
	fuzzMaxExpanded = 8 << 20
)

// smallFiles is the content of the testdata archives: small enough for the
// fuzzer to mutate quickly.
func smallFiles() map[string][]byte {
	return map[string][]byte{
		"000004.sst":      randBytes(1, 300),
		"MANIFEST-000001": bytes.Repeat([]byte("manifest "), 20),
		"OPTIONS-000003":  []byte("[Version]\n  pebble_version=0.1\n"),
	}
}

// TestGenerateTestdata rewrites testdata/ with -update: valid archives made
// by Write and by GNU-tar-like re-packing, and malformed ones.
func TestGenerateTestdata(t *testing.T) {
	if !*update {
		t.Skip("run with -update to rewrite testdata/")
	}
	files := smallFiles()
	valid := writeArchive(t, makeSource(t, files), testMetadata(), snapshot.WriteOptions{MemberSize: 64 << 10})
	empty := writeArchive(t, makeSource(t, nil), testMetadata(), snapshot.WriteOptions{})
	es := st.Entries(testMetadata(), files)
	tarball := st.Tar(es, true)
	dup := append(es[:3:3], es[2:]...)
	flip := bytes.Clone(tarball)
	flip[3*512+10] ^= 1 // in the data of the first file
	future := st.Entries(testMetadata(), files)
	m := st.Metadata(testMetadata(), files)
	m.FormatVersion = 2
	future[0] = st.MetadataEntry(m)
	out := map[string][]byte{
		"valid.tar.gz":                valid,
		"valid-empty.tar.gz":          empty,
		"valid-single-member.tar.gz":  st.Gzip(recordPadded(tarball)),
		"bad-truncated.tar.gz":        valid[:len(valid)*2/3],
		"bad-trailing-garbage.tar.gz": append(bytes.Clone(valid), "garbage"...),
		"bad-duplicate-entry.tar.gz":  st.Archive(dup),
		"bad-flipped-data.tar.gz":     st.Gzip(flip),
		"bad-future-version.tar.gz":   st.Archive(future),
		"bad-member-length.tar.gz":    append(st.Member(st.TarSegments(es)[0], 1<<30), valid[100:]...),
		"bad-missing-sums.tar.gz":     st.Archive(es[:len(es)-1]),
		"bad-symlink.tar.gz":          symlinkArchive(es),
	}
	for name, b := range out {
		if err := os.WriteFile(filepath.Join("testdata", name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func symlinkArchive(es []st.Entry) []byte {
	e := st.File("index/link", nil)
	e.Header.Typeflag, e.Header.Linkname = '2', "/etc/passwd"
	return st.Archive(insert(es, 2, e))
}

// TestTestdata checks that testdata/'s archives are what their names say.
func TestTestdata(t *testing.T) {
	paths, err := filepath.Glob("testdata/*.tar.gz")
	if err != nil || len(paths) < 5 {
		t.Fatalf("testdata: %v, %d archives", err, len(paths))
	}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		_, err = snapshot.Verify(context.Background(), bytes.NewReader(b), snapshot.ReadOptions{})
		if valid := strings.HasPrefix(filepath.Base(p), "valid"); valid != (err == nil) {
			t.Errorf("%s: Verify: %v", p, err)
		}
	}
}

func addSeeds(f *testing.F) {
	paths, _ := filepath.Glob("testdata/*.tar.gz")
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

// checkRejection fails unless err is one of the package's sentinels: on a
// bytes.Reader nothing else can go wrong.
func checkRejection(t *testing.T, err error) {
	t.Helper()
	if !errors.Is(err, snapshot.ErrCorrupt) && !errors.Is(err, snapshot.ErrIncompatible) && !errors.Is(err, snapshot.ErrTooLarge) {
		t.Fatalf("error wraps no sentinel: %v", err)
	}
}

// checkAccepted checks what must hold of an accepted archive: a valid
// metadata whose files are exactly what the archive holds, with the
// checksums that SHA256SUMS records (read here independently of the
// package).
func checkAccepted(t *testing.T, data []byte, m snapshot.Metadata, extracted map[string][]byte) {
	t.Helper()
	if m.Format != snapshot.FormatName || m.FormatVersion < 1 || m.FormatVersion > snapshot.FormatVersion {
		t.Fatalf("accepted bad metadata %+v", m)
	}
	tarball, err := st.Gunzip(data)
	if err != nil {
		t.Fatalf("accepted, but gzip says: %v", err)
	}
	es, err := st.Untar(tarball)
	if err != nil {
		t.Fatalf("accepted, but archive/tar says: %v", err)
	}
	if len(es) == 0 || es[0].Header.Name != "metadata.json" || es[len(es)-1].Header.Name != "SHA256SUMS" {
		t.Fatalf("accepted an archive that does not start with metadata.json and end with SHA256SUMS")
	}
	sums := string(es[len(es)-1].Data)
	if n := strings.Count(sums, "\n"); n != len(m.Files) {
		t.Fatalf("SHA256SUMS has %d lines for %d files", n, len(m.Files))
	}
	for _, fi := range m.Files {
		b, ok := extracted[fi.Name]
		if extracted == nil {
			b, ok = entryData(es, "index/"+fi.Name)
		}
		if !ok || int64(len(b)) != fi.Size {
			t.Fatalf("file %q: %d bytes (present: %v), metadata says %d", fi.Name, len(b), ok, fi.Size)
		}
		sum := sha256.Sum256(b)
		if !strings.Contains(sums, hex.EncodeToString(sum[:])+"  index/"+fi.Name+"\n") {
			t.Fatalf("file %q: checksum not in SHA256SUMS", fi.Name)
		}
	}
	if extracted != nil && len(extracted) != len(m.Files) {
		t.Fatalf("extracted %d files, metadata lists %d", len(extracted), len(m.Files))
	}
}

func entryData(es []st.Entry, name string) ([]byte, bool) {
	for _, e := range es {
		if e.Header.Name == name {
			return e.Data, true
		}
	}
	return nil, false
}

func FuzzVerify(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > fuzzMaxInput {
			return
		}
		m, err := snapshot.Verify(context.Background(), bytes.NewReader(data), snapshot.ReadOptions{MaxExpandedSize: fuzzMaxExpanded, Concurrency: 2})
		if err != nil {
			checkRejection(t, err)
			return
		}
		checkAccepted(t, data, m, nil)
	})
}

func FuzzExtract(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > fuzzMaxInput {
			return
		}
		parent := t.TempDir()
		dst := filepath.Join(parent, "d")
		m, err := snapshot.Extract(context.Background(), bytes.NewReader(data), dst, snapshot.ReadOptions{MaxExpandedSize: fuzzMaxExpanded, Concurrency: 2})
		if err != nil {
			checkRejection(t, err)
			if ents, _ := os.ReadDir(parent); len(ents) != 0 {
				t.Fatalf("rejected (%v) but left %d entries behind", err, len(ents))
			}
			return
		}
		checkAccepted(t, data, m, readDir(t, dst))
	})
}
