package snapshot_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
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

func TestSmoke(t *testing.T) {
	dir := makeSource(t, map[string][]byte{"a": []byte("hello"), "b": bytes.Repeat([]byte("x"), 3<<20)})
	b := writeArchive(t, dir, testMetadata(), snapshot.WriteOptions{MemberSize: 1 << 20})
	m, err := snapshot.Verify(context.Background(), bytes.NewReader(b), snapshot.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d bytes, %+v", len(b), m)
	os.WriteFile("/tmp/smoke.tar.gz", b, 0o644)
}
