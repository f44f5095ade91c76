package task

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/idxfs/idxfs/index"
	"github.com/idxfs/idxfs/index/indextest"
	"github.com/idxfs/idxfs/snapshot"
)

func snapshotOf(t testing.TB, e *Engine, uid string) SnapshotCreationDetails {
	t.Helper()
	tk := mustSucceed(t, do(t, e, Request{Kind: SingleIndexSnapshotCreation, IndexUID: uid}))
	var d SnapshotCreationDetails
	if err := tk.DecodeDetails(&d); err != nil {
		t.Fatal(err)
	}
	return d
}

// storedSrc returns a started engine with an index "src" of 10 documents
// and its one stored snapshot.
func storedSrc(t testing.TB) (*Engine, *index.Store, SnapshotCreationDetails) {
	t.Helper()
	e, st := testEngine(t, Options{})
	e.Start()
	createIndex(t, e, "src")
	mustSucceed(t, addDocs(t, e, "src", docs(1, 10)))
	return e, st, snapshotOf(t, e, "src")
}

func importAs(t testing.TB, e *Engine, path, as string) Task {
	t.Helper()
	return do(t, e, Request{Kind: SingleIndexSnapshotImport, SnapshotPath: path, NewIndexUID: as})
}

func tmpEmpty(t testing.TB, st *index.Store) {
	t.Helper()
	ents, err := os.ReadDir(st.TmpDir())
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 0 {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf("DATA/tmp holds %v", names)
	}
}

// TestSnapshotRoundTrip: snapshot, import under a new name while the
// original exists, and compare.
func TestSnapshotRoundTrip(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		docs int
	}{
		{"empty", 0},
		{"one", 1},
		{"ten-thousand", 10_000},
		{"hundred-MB", 140_000}, // about 100 MB on disk, in several files
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if tt.docs > 100_000 && testing.Short() {
				t.Skip("a 100 MB index: skipped with -short")
			}
			e, st := testEngine(t, Options{})
			e.Start()
			createIndex(t, e, "src")
			if tt.docs > 0 {
				var b bytes.Buffer
				if err := indextest.WriteNDJSON(&b, 1, tt.docs); err != nil {
					t.Fatal(err)
				}
				mustSucceed(t, addDocs(t, e, "src", b.String()))
			}
			d := snapshotOf(t, e, "src")
			fi, err := os.Stat(d.Path)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != StoredMode || fi.Size() != d.Size {
				t.Errorf("stored snapshot mode %v size %d, want %04o and %d", fi.Mode().Perm(), fi.Size(), StoredMode, d.Size)
			}
			if want := filepath.Join(st.SnapshotsDir(), "src"); filepath.Dir(d.Path) != want ||
				!strings.HasPrefix(filepath.Base(d.Path), "src_") || !strings.HasSuffix(d.Path, ".idx.snapshot") {
				t.Errorf("snapshot path %s, want %s/src_<timestamp>.idx.snapshot", d.Path, want)
			}
			src, _ := st.Get(context.Background(), "src")
			if tt.docs > 100_000 {
				t.Logf("index: %d MB on disk; archive: %d MB", src.SizeOnDisk>>20, d.Size>>20)
				if src.SizeOnDisk < 80<<20 {
					t.Errorf("the large index is only %d MB on disk", src.SizeOnDisk>>20)
				}
			}
			if d.NumberOfDocuments != uint64(tt.docs) || d.IndexVersion != src.Version {
				t.Errorf("details %+v, want %d documents at version %d", d, tt.docs, src.Version)
			}

			imp := mustSucceed(t, importAs(t, e, d.Path, "copy"))
			var id SnapshotImportDetails
			_ = imp.DecodeDetails(&id)
			if id.IndexUID != "src" || id.NewIndexUID != "copy" || id.NumberOfDocuments != uint64(tt.docs) {
				t.Errorf("import details %+v", id)
			}
			if a, b := export(t, st, "src"), export(t, st, "copy"); a != b {
				t.Errorf("export of the imported index differs from the source (%d vs %d bytes)", len(b), len(a))
			}
			cp, _ := st.Get(context.Background(), "copy")
			if cp.Documents != src.Documents || cp.PrimaryKey != src.PrimaryKey || cp.Version != src.Version {
				t.Errorf("imported index %+v, source %+v", cp, src)
			}
			tmpEmpty(t, st)
		})
	}
}

// TestSnapshotFreshnessAndRetention: an unchanged index gets its stored
// snapshot back without new work; a changed one a new snapshot; only the
// newest SnapshotKeep stay.
func TestSnapshotFreshnessAndRetention(t *testing.T) {
	t.Parallel()
	e, st := testEngine(t, Options{SnapshotKeep: 2})
	e.Start()
	createIndex(t, e, "m")
	addDocs(t, e, "m", docs(1, 100))
	first := snapshotOf(t, e, "m")
	again := snapshotOf(t, e, "m")
	if !again.Reused || again.Path != first.Path || first.Reused {
		t.Errorf("second snapshot of an unchanged index: %+v (first %+v)", again, first)
	}
	var paths []string
	for i := range 3 {
		addDocs(t, e, "m", docs(1000+i, 1))
		d := snapshotOf(t, e, "m")
		if d.Reused {
			t.Fatalf("snapshot after a change was reused")
		}
		paths = append(paths, d.Path)
	}
	ss, err := e.Snapshots("m")
	if err != nil {
		t.Fatal(err)
	}
	if len(ss) != 2 || ss[0].Path != paths[1] || ss[1].Path != paths[2] {
		t.Errorf("stored after retention: %v, want the newest two of %v", ss, paths)
	}
	if _, err := os.Stat(first.Path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("oldest snapshot still there: %v", err)
	}
	// A fresh snapshot survives a restart of the engine.
	e.Close(context.Background())
	e2, err := Open(Options{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	defer e2.Close(context.Background())
	s, ok, err := e2.FreshSnapshot(context.Background(), "m")
	if err != nil || !ok || s.Path != paths[2] {
		t.Errorf("FreshSnapshot after reopen = %v, %v, %v; want %s", s, ok, err, paths[2])
	}
	// A new index under the same name is not served the old one's snapshot.
	e2.Start()
	mustSucceed(t, do(t, e2, Request{Kind: IndexDeletion, IndexUID: "m"}))
	createIndex(t, e2, "m")
	for range 4 { // reach the same version number
		addDocs(t, e2, "m", docs(5000, 1))
	}
	if s, ok, _ := e2.FreshSnapshot(context.Background(), "m"); ok {
		t.Errorf("a re-created index is served the old index's snapshot %s", s.Path)
	}
}

// TestSnapshotSharedByConcurrentCallers: concurrent callers of Snapshot
// share one task.
func TestSnapshotSharedByConcurrentCallers(t *testing.T) {
	t.Parallel()
	e, _ := testEngine(t, Options{})
	e.Start()
	createIndex(t, e, "m")
	addDocs(t, e, "m", docs(1, 2000))
	var wg sync.WaitGroup
	paths := make([]string, 8)
	errs := make([]error, 8)
	for i := range paths {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := e.Snapshot(context.Background(), "m")
			paths[i], errs[i] = s.Path, err
		}()
	}
	wg.Wait()
	for i := range paths {
		if errs[i] != nil || paths[i] != paths[0] {
			t.Errorf("caller %d: %s, %v; caller 0: %s", i, paths[i], errs[i], paths[0])
		}
	}
	if n := len(e.List(Filter{Types: []Kind{SingleIndexSnapshotCreation}})); n != 1 {
		t.Errorf("%d snapshot creation tasks for 8 concurrent callers, want 1", n)
	}
}

// TestWriteDuringSnapshot: a write to the index does not wait for the
// archive, and the archive holds exactly the checkpointed version.
func TestWriteDuringSnapshot(t *testing.T) {
	t.Parallel()
	e, st := testEngine(t, Options{})
	checkpointed := make(chan struct{})
	release := make(chan struct{})
	e.hooks.afterCheckpoint = func(ctx context.Context, tk Task) error {
		close(checkpointed)
		select {
		case <-release:
		case <-ctx.Done():
		}
		return nil
	}
	e.Start()
	createIndex(t, e, "m")
	addDocs(t, e, "m", docs(1, 300))
	before, _ := st.Get(context.Background(), "m")
	wantExport := export(t, st, "m")

	snap := enqueue(t, e, Request{Kind: SingleIndexSnapshotCreation, IndexUID: "m"})
	<-checkpointed
	// The snapshot task is still writing its archive; this write must not
	// wait for it.
	mustSucceed(t, addDocs(t, e, "m", docs(10_000, 50)))
	if tk, _ := e.Get(snap); tk.Status != Processing {
		t.Fatalf("snapshot task %s before its archive was released", tk.Status)
	}
	close(release)
	tk := mustSucceed(t, wait(t, e, snap))
	var d SnapshotCreationDetails
	_ = tk.DecodeDetails(&d)
	if d.IndexVersion != before.Version || d.NumberOfDocuments != 300 {
		t.Errorf("archive holds version %d with %d documents, want the checkpointed %d with 300", d.IndexVersion, d.NumberOfDocuments, before.Version)
	}
	mustSucceed(t, importAs(t, e, d.Path, "copy"))
	if got := export(t, st, "copy"); got != wantExport {
		t.Error("the archive does not hold the checkpointed documents")
	}
	// The index changed since: the stored snapshot is not fresh.
	if _, ok, _ := e.FreshSnapshot(context.Background(), "m"); ok {
		t.Error("a snapshot older than the index is called fresh")
	}
}

// TestSnapshotWaitInterrupted: a caller that gives up waiting gets its
// context's error; the task completes all the same.
func TestSnapshotWaitInterrupted(t *testing.T) {
	t.Parallel()
	e, _ := testEngine(t, Options{})
	release := make(chan struct{})
	started := make(chan uint64, 1)
	e.hooks.afterCheckpoint = func(ctx context.Context, tk Task) error {
		started <- tk.UID
		<-release
		return nil
	}
	e.Start()
	createIndex(t, e, "m")
	addDocs(t, e, "m", docs(1, 10))
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := e.Snapshot(ctx, "m")
		errc <- err
	}()
	uid := <-started
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Errorf("interrupted Snapshot returned %v, want context.Canceled", err)
	}
	close(release)
	mustSucceed(t, wait(t, e, uid))
	if _, ok, _ := e.FreshSnapshot(context.Background(), "m"); !ok {
		t.Error("the snapshot did not land in the store")
	}
}

// TestImportRejects: bad archives and taken names leave no index and no
// staging files.
func TestImportRejects(t *testing.T) {
	t.Parallel()
	e, st := testEngine(t, Options{})
	e.Start()
	createIndex(t, e, "m")
	addDocs(t, e, "m", docs(1, 500))
	good := snapshotOf(t, e, "m").Path
	raw, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	flipped := bytes.Clone(raw)
	flipped[len(flipped)*2/3] ^= 0x55
	for _, tt := range []struct {
		name, path, code string
	}{
		{"garbage", write("garbage", []byte("this is not an archive")), CodeInvalidSnapshot},
		{"truncated", write("truncated", raw[:len(raw)/2]), CodeInvalidSnapshot},
		{"flipped byte", write("flipped", flipped), CodeInvalidSnapshot},
	} {
		// NewIndexUID is given: the archive's uid cannot be read from all of them.
		tk := importAs(t, e, tt.path, "new")
		if tk.Status != Failed || tk.Error == nil || tk.Error.Code != tt.code {
			t.Errorf("%s: %s %+v, want failed with %s", tt.name, tk.Status, tk.Error, tt.code)
		}
		if st.Exists("new") {
			t.Errorf("%s: index created", tt.name)
		}
		tmpEmpty(t, st)
	}
	if _, err := e.Enqueue(context.Background(), Request{Kind: SingleIndexSnapshotImport, SnapshotPath: good}); !errors.Is(err, index.ErrExists) {
		t.Errorf("import onto the existing index m: %v, want ErrExists", err)
	}
	// A name being imported is taken too.
	pr, pw := io.Pipe()
	defer pw.Close()
	first, err := e.Enqueue(context.Background(), Request{Kind: SingleIndexSnapshotImport, NewIndexUID: "busy", Stream: pr})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Enqueue(context.Background(), Request{Kind: SingleIndexSnapshotImport, NewIndexUID: "busy", SnapshotPath: good}); !errors.Is(err, index.ErrExists) {
		t.Errorf("second import of busy: %v, want ErrExists", err)
	}
	pw.CloseWithError(io.ErrUnexpectedEOF)
	if tk := wait(t, e, first.UID); tk.Status != Failed {
		t.Errorf("import of a broken stream: %s", tk.Status)
	}
	if st.Exists("busy") {
		t.Error("a failed stream import created its index")
	}
	tmpEmpty(t, st)
}

// TestImportStream imports from a stream that arrives in pieces, under the
// archive's own name by default when read from a file.
func TestImportStream(t *testing.T) {
	t.Parallel()
	e, st := testEngine(t, Options{})
	e.Start()
	createIndex(t, e, "m")
	addDocs(t, e, "m", docs(1, 3000))
	want := export(t, st, "m")
	path := snapshotOf(t, e, "m").Path
	raw, _ := os.ReadFile(path)

	pr, pw := io.Pipe()
	tk, err := e.Enqueue(context.Background(), Request{Kind: SingleIndexSnapshotImport, NewIndexUID: "streamed", SnapshotPath: "pipe", Stream: pr})
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for i := 0; i < len(raw); i += 1000 {
			if _, err := pw.Write(raw[i:min(i+1000, len(raw))]); err != nil {
				return
			}
		}
		pw.Close()
	}()
	mustSucceed(t, wait(t, e, tk.UID))
	if got := export(t, st, "streamed"); got != want {
		t.Error("streamed import differs")
	}

	mustSucceed(t, do(t, e, Request{Kind: IndexDeletion, IndexUID: "m"}))
	byName := mustSucceed(t, do(t, e, Request{Kind: SingleIndexSnapshotImport, SnapshotPath: path}))
	if byName.IndexUID != "m" {
		t.Errorf("import without a name went to %q, want the archive's m", byName.IndexUID)
	}
	if got := export(t, st, "m"); got != want {
		t.Error("re-imported index differs")
	}
}

// TestSnapshotArchiveIsValid: the stored file passes snapshot.Verify and
// records the index.
func TestSnapshotArchiveIsValid(t *testing.T) {
	t.Parallel()
	e, _ := testEngine(t, Options{Version: "v9.9.9-test"})
	e.Start()
	createIndex(t, e, "m")
	addDocs(t, e, "m", docs(1, 100))
	d := snapshotOf(t, e, "m")
	f, err := os.Open(d.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	md, err := snapshot.Verify(context.Background(), f, snapshot.ReadOptions{MaxPebbleFormat: index.MaxPebbleFormat()})
	if err != nil {
		t.Fatal(err)
	}
	if md.IndexUID != "m" || md.PrimaryKey != "id" || md.Documents != 100 || md.IdxfsVersion != "v9.9.9-test" ||
		md.IndexVersion != d.IndexVersion || md.Format != snapshot.FormatName || len(md.Files) == 0 {
		t.Errorf("metadata %+v", md)
	}
	if time.Since(md.CreatedAt) > time.Hour {
		t.Errorf("createdAt %v", md.CreatedAt)
	}
}

// TestSnapshotStoreNeverFollowsLinks: a symbolic link, a FIFO or a writable
// file placed in the snapshot store by hand is neither listed, nor opened,
// nor the fresh snapshot of an index, and a symlinked index directory of the
// store is not followed (issue 7: a link in the store served a 0600 file).
func TestSnapshotStoreNeverFollowsLinks(t *testing.T) {
	t.Parallel()
	e, st, d := storedSrc(t)
	if _, err := OpenStored(d.Path); err != nil {
		t.Fatalf("OpenStored of a stored snapshot: %v", err)
	}

	secret := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secret, []byte("private"), 0o600); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Dir(d.Path)
	link := filepath.Join(dir, "src_20990101T000000.000000Z"+SnapshotSuffix)
	if err := os.Symlink(d.Path, link); err != nil { // a newer-looking link to a valid archive
		t.Fatal(err)
	}
	toSecret := filepath.Join(dir, "src_20990102T000000.000000Z"+SnapshotSuffix)
	if err := os.Symlink(secret, toSecret); err != nil {
		t.Fatal(err)
	}
	writable := filepath.Join(dir, "src_20990103T000000.000000Z"+SnapshotSuffix)
	if err := os.WriteFile(writable, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "src_20990104T000000.000000Z"+SnapshotSuffix)
	if err := syscall.Mkfifo(fifo, 0o400); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{link, toSecret, writable, fifo} {
		if f, err := OpenStored(p); !errors.Is(err, ErrNotStored) {
			if f != nil {
				f.Close()
			}
			t.Errorf("OpenStored(%s): %v, want ErrNotStored", filepath.Base(p), err)
		}
	}
	// A symlinked index directory in the store.
	other := filepath.Join(st.SnapshotsDir(), "other")
	if err := os.Symlink(dir, other); err != nil {
		t.Fatal(err)
	}
	list, err := e.Snapshots("")
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].Path != d.Path {
		t.Errorf("Snapshots lists %+v, want only %s", list, d.Path)
	}
	if l, err := e.Snapshots("other"); err != nil || len(l) != 0 {
		t.Errorf("Snapshots(other) through a symlinked directory: %+v, %v", l, err)
	}
	// Reopened, the store still picks the real snapshot as the newest.
	if err := e.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	e2, err := Open(Options{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e2.Close(context.Background()) })
	if fresh, ok, err := e2.FreshSnapshot(context.Background(), "src"); err != nil || !ok || fresh.Path != d.Path {
		t.Errorf("FreshSnapshot after reopen: %+v, %v, %v; want %s", fresh, ok, err, d.Path)
	}
}
