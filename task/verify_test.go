package task

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/idxfs/idxfs/index"
	"github.com/idxfs/idxfs/snapshot"
	sst "github.com/idxfs/idxfs/snapshot/snapshottest"
)

// repack returns archive with its entries changed by f, in the snapshot
// format's member layout.
func repack(t testing.TB, archive []byte, f func(es []sst.Entry) []sst.Entry) []byte {
	t.Helper()
	es, err := sst.Unarchive(archive)
	if err != nil {
		t.Fatal(err)
	}
	return sst.Archive(f(es))
}

// withMetadata returns archive with metadata.json's fields changed by f,
// every checksum still right: the archive is sound, its metadata lies.
func withMetadata(t testing.TB, archive []byte, f func(m map[string]any)) []byte {
	return repack(t, archive, func(es []sst.Entry) []sst.Entry {
		var m map[string]any
		if err := json.Unmarshal(es[0].Data, &m); err != nil {
			t.Fatal(err)
		}
		f(m)
		b, err := json.MarshalIndent(m, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		es[0] = sst.File("metadata.json", b)
		return es
	})
}

// withFile returns archive with the database file name (under index/)
// replaced by data, its size in the metadata and its SHA-256 sum made to
// match: only opening the database can tell.
func withFile(t testing.TB, archive []byte, name string, data []byte) []byte {
	return repack(t, archive, func(es []sst.Entry) []sst.Entry {
		var m snapshot.Metadata
		if err := json.Unmarshal(es[0].Data, &m); err != nil {
			t.Fatal(err)
		}
		files := map[string][]byte{}
		for _, e := range es {
			if n, ok := strings.CutPrefix(e.Header.Name, "index/"); ok && n != "" {
				files[n] = e.Data
			}
		}
		if _, ok := files[name]; !ok {
			t.Fatalf("the archive has no index/%s", name)
		}
		files[name] = data
		return sst.Entries(m, files)
	})
}

// fileNamed returns the name of the archive's first database file whose
// name begins with prefix and ends with suffix.
func fileNamed(t testing.TB, archive []byte, prefix, suffix string) string {
	md, err := snapshot.Inspect(bytes.NewReader(archive))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range md.Files {
		if strings.HasPrefix(f.Name, prefix) && strings.HasSuffix(f.Name, suffix) {
			return f.Name
		}
	}
	t.Fatalf("no file %s*%s in %v", prefix, suffix, md.Files)
	return ""
}

// archiveOf3000 starts an engine with index "m" of 3000 documents and
// returns it with the index's archive.
func archiveOf3000(t testing.TB, opts Options) (*Engine, *index.Store, []byte) {
	t.Helper()
	e, st := testEngine(t, opts)
	e.Start()
	createIndex(t, e, "m")
	addDocs(t, e, "m", docs(1, 3000))
	good, err := os.ReadFile(snapshotOf(t, e, "m").Path)
	if err != nil {
		t.Fatal(err)
	}
	return e, st, good
}

// TestVerifyRejectsWhatImportRejects: for every archive an import rejects,
// VerifyArchive fails with the same error (same code, same message), and it
// leaves nothing in its temporary directory; what an import accepts, it
// accepts. The archives: those of snapshot/testdata (malformed ones, and
// well-formed ones whose files are no pebble database), and a real index's
// archive made bad in ways only the database can show, the metadata lying
// about it among them (issue 7, item 14).
func TestVerifyRejectsWhatImportRejects(t *testing.T) {
	t.Parallel()
	const limit = 64 << 20
	e, st, good := archiveOf3000(t, Options{MaxImportSize: limit})

	type archiveCase struct {
		name string
		data []byte
		ok   bool // an import accepts it
	}
	cases := []archiveCase{{name: "real archive", data: good, ok: true}}
	paths, err := filepath.Glob("../snapshot/testdata/*.tar.gz")
	if err != nil || len(paths) < 8 {
		t.Fatalf("snapshot/testdata: %d archives (%v)", len(paths), err)
	}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		cases = append(cases, archiveCase{name: "testdata/" + filepath.Base(p), data: b})
	}
	flipped := bytes.Clone(good)
	flipped[len(flipped)*2/3] ^= 0x55
	cases = append(cases,
		archiveCase{name: "metadata says 5000 documents", data: withMetadata(t, good, func(m map[string]any) { m["numberOfDocuments"] = 5000 })},
		archiveCase{name: "metadata says another version", data: withMetadata(t, good, func(m map[string]any) { m["indexVersion"] = 99 })},
		archiveCase{name: "metadata says another primary key", data: withMetadata(t, good, func(m map[string]any) { m["primaryKey"] = "sku" })},
		archiveCase{name: "metadata says a newer pebble format", data: withMetadata(t, good, func(m map[string]any) { m["pebbleFormatVersion"] = 999 })},
		archiveCase{name: "manifest replaced, sums recomputed", data: withFile(t, good, fileNamed(t, good, "MANIFEST-", ""), []byte("not a manifest"))},
		archiveCase{name: "table replaced, sums recomputed", data: withFile(t, good, fileNamed(t, good, "", ".sst"), bytes.Repeat([]byte("x"), 4096))},
		archiveCase{name: "truncated", data: good[:len(good)/2]},
		archiveCase{name: "flipped byte", data: flipped},
		archiveCase{name: "garbage", data: []byte("this is not an archive")},
		archiveCase{name: "empty", data: nil},
		archiveCase{name: "over the size limit", data: withFile(t, good, fileNamed(t, good, "", ".sst"), bytes.Repeat([]byte("x"), limit+1))},
	)

	dir := t.TempDir()
	for i, tc := range cases {
		path := filepath.Join(dir, "archive-"+strconv.Itoa(i))
		if err := os.WriteFile(path, tc.data, 0o644); err != nil {
			t.Fatal(err)
		}
		imp := importAs(t, e, path, "new")
		tmp := t.TempDir()
		md, verr := VerifyArchive(context.Background(), bytes.NewReader(tc.data), VerifyOptions{TmpDir: tmp, MaxImportSize: limit})
		if left, _ := os.ReadDir(tmp); len(left) != 0 {
			t.Errorf("%s: VerifyArchive left %v in its temporary directory", tc.name, left)
		}
		if tc.ok {
			mustSucceed(t, imp)
			if verr != nil {
				t.Errorf("%s: imported, but VerifyArchive: %v", tc.name, verr)
			} else if md.Documents != 3000 || md.IndexUID != "m" {
				t.Errorf("%s: VerifyArchive metadata %+v", tc.name, md)
			}
			mustSucceed(t, do(t, e, Request{Kind: IndexDeletion, IndexUID: "new"}))
			continue
		}
		if imp.Status != Failed || imp.Error == nil {
			t.Errorf("%s: import %s, want failed (the case is not a rejection)", tc.name, imp.Status)
			continue
		}
		if st.Exists("new") {
			t.Fatalf("%s: a failed import created its index", tc.name)
		}
		if verr == nil {
			t.Errorf("%s: import failed (%s: %s) but VerifyArchive accepted it", tc.name, imp.Error.Code, imp.Error.Message)
			continue
		}
		v := toError(verr)
		if v.Code != imp.Error.Code || `import "new": `+v.Message != imp.Error.Message {
			t.Errorf("%s: VerifyArchive says\n\t%s: %s\nthe import says\n\t%s: %s", tc.name, v.Code, v.Message, imp.Error.Code, imp.Error.Message)
		}
		t.Logf("%s: %s: %s", tc.name, v.Code, v.Message)
	}
	tmpEmpty(t, st)
}

// TestVerifyInterrupted: a verify whose ctx ends while it extracts removes
// its temporary directory; one left by a killed process (a pid that no
// longer runs) is removed by the next verify.
func TestVerifyInterrupted(t *testing.T) {
	t.Parallel()
	_, _, good := archiveOf3000(t, Options{})
	tmp := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Ctrl-C half way through the archive.
	src := &cancelAfter{r: bytes.NewReader(good), n: len(good) / 2, cancel: func() {
		if ents, _ := os.ReadDir(tmp); len(ents) != 1 {
			t.Errorf("during the verify, %s holds %d entries, want its directory", tmp, len(ents))
		}
		cancel()
	}}
	if _, err := VerifyArchive(ctx, src, VerifyOptions{TmpDir: tmp}); !errors.Is(err, context.Canceled) {
		t.Fatalf("a verify canceled half way: %v, want context.Canceled", err)
	}
	if src.n > 0 {
		t.Fatal("the verify ended before it read half the archive")
	}
	if ents, _ := os.ReadDir(tmp); len(ents) != 0 {
		t.Errorf("a canceled verify left %d entries in %s", len(ents), tmp)
	}

	// A killed verify's directory: a pid that does not run (above pid_max).
	stale := filepath.Join(tmp, verifyDirPrefix+"99999999-123")
	if err := os.MkdirAll(filepath.Join(stale, "index"), 0o700); err != nil {
		t.Fatal(err)
	}
	// One of a verify still running (this process's parent) stays.
	live := filepath.Join(tmp, verifyDirPrefix+strconv.Itoa(os.Getppid())+"-456")
	if err := os.Mkdir(live, 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := VerifyArchive(context.Background(), bytes.NewReader(good), VerifyOptions{TmpDir: tmp}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("the killed verify's directory is still there (%v)", err)
	}
	if _, err := os.Stat(live); err != nil {
		t.Errorf("a running verify's directory was removed: %v", err)
	}
}

// cancelAfter reads from r and calls cancel once n bytes have been read.
type cancelAfter struct {
	r      io.Reader
	n      int
	cancel func()
}

func (c *cancelAfter) Read(p []byte) (int, error) {
	if c.n > 0 && len(p) > c.n {
		p = p[:c.n]
	}
	n, err := c.r.Read(p)
	if c.n > 0 {
		if c.n -= n; c.n <= 0 {
			c.cancel()
		}
	}
	return n, err
}
