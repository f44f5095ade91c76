package task

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/idxfs/idxfs/snapshot"
)

// reuseDocs is enough documents for the index to have sstables beside its
// memtable: the files a snapshot can reuse.
const reuseDocs = 120_000

// keepCheckpoints makes e copy (hard-link) the checkpoint of every snapshot
// creation into dir/UID, for a cold write of the same checkpoint.
func keepCheckpoints(t *testing.T, e *Engine) string {
	dir := t.TempDir()
	e.hooks.afterCheckpoint = func(ctx context.Context, tk Task) error {
		src := filepath.Join(e.store.TmpDir(), "checkpoint-"+itoa(tk.UID))
		dst := filepath.Join(dir, itoa(tk.UID))
		if err := os.Mkdir(dst, 0o755); err != nil {
			return err
		}
		ents, err := os.ReadDir(src)
		if err != nil {
			return err
		}
		for _, en := range ents {
			if err := os.Link(filepath.Join(src, en.Name()), filepath.Join(dst, en.Name())); err != nil {
				return err
			}
		}
		return nil
	}
	return dir
}

func itoa(n uint64) string { b, _ := json.Marshal(n); return string(b) }

// snapshotTask runs a snapshot creation of uid and returns the task with
// its details.
func snapshotTask(t *testing.T, e *Engine, uid string) (Task, SnapshotCreationDetails) {
	t.Helper()
	tk := mustSucceed(t, do(t, e, Request{Kind: SingleIndexSnapshotCreation, IndexUID: uid}))
	var d SnapshotCreationDetails
	if err := tk.DecodeDetails(&d); err != nil {
		t.Fatal(err)
	}
	return tk, d
}

// coldEqual checks that the archive at path is byte for byte what a cold
// Write of the checkpoint in ckpt makes, and that it verifies.
func coldEqual(t *testing.T, e *Engine, path, ckpt string) {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	md, err := snapshot.Verify(context.Background(), bytes.NewReader(got), snapshot.ReadOptions{})
	if err != nil {
		t.Fatalf("Verify %s: %v", path, err)
	}
	var cold bytes.Buffer
	if _, err := snapshot.Write(context.Background(), &cold, ckpt, md, e.opts.Archive); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, cold.Bytes()) {
		t.Fatalf("%s (%d bytes) differs from a cold write of its checkpoint (%d bytes)", path, len(got), cold.Len())
	}
}

// TestSnapshotReusesMembers: after a small change, the next snapshot copies
// the unchanged files' members from the previous one, says so in its
// details and the store's record, and is the archive a cold write makes.
func TestSnapshotReusesMembers(t *testing.T) {
	t.Parallel()
	// With a rate limit, members are copied through the limiter (no
	// copy_file_range); the archive is the same.
	for _, limit := range []int64{0, 1 << 30} {
		t.Run(map[bool]string{true: "no rate limit", false: "rate limit"}[limit == 0], func(t *testing.T) {
			t.Parallel()
			testSnapshotReusesMembers(t, limit)
		})
	}
}

func testSnapshotReusesMembers(t *testing.T, limit int64) {
	e, _ := testEngine(t, Options{SnapshotRateLimit: limit})
	ckpts := keepCheckpoints(t, e)
	e.Start()
	createIndex(t, e, "m")
	mustSucceed(t, addDocs(t, e, "m", docs(1, reuseDocs)))
	_, first := snapshotTask(t, e, "m")
	if first.ReusedFiles != 0 || first.ReusedBytes != 0 {
		t.Fatalf("first snapshot reused %d files", first.ReusedFiles)
	}
	if _, err := os.Stat(memberIndexPath(first.Path)); err != nil {
		t.Fatalf("no member index next to the stored snapshot: %v", err)
	}
	// Pebble compacts in the background, so a round may find every file
	// rewritten; of four rounds of +1 % documents, some reuse (a flush adds
	// an sstable and leaves the others as they are).
	var second SnapshotCreationDetails
	for round := 1; round <= 4; round++ {
		mustSucceed(t, addDocs(t, e, "m", docs(reuseDocs*round+1, reuseDocs/100)))
		tk, d := snapshotTask(t, e, "m")
		t.Logf("round %d: reused %d files, %d bytes", round, d.ReusedFiles, d.ReusedBytes)
		// The details' JSON names, which scripts read.
		if !strings.Contains(string(tk.Details), `"reusedFiles":`) || !strings.Contains(string(tk.Details), `"reusedBytes":`) {
			t.Errorf("details %s", tk.Details)
		}
		coldEqual(t, e, d.Path, filepath.Join(ckpts, itoa(tk.UID)))
		if (d.ReusedFiles == 0) != (d.ReusedBytes == 0) {
			t.Fatalf("details: %+v", d)
		}
		if d.ReusedFiles > 0 {
			second = d
		}
	}
	if second.ReusedFiles == 0 {
		t.Fatal("four snapshots after small changes reused nothing")
	}
	ss, err := e.Snapshots("m")
	if err != nil || len(ss) == 0 || ss[len(ss)-1].ReusedFiles != second.ReusedFiles || ss[len(ss)-1].ReusedBytes != second.ReusedBytes {
		t.Fatalf("stored record %+v, %v", ss, err)
	}

	// Retention and deletion take the member index along.
	files, err := e.SnapshotFiles("m")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if err := e.DeleteSnapshot(f); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(memberIndexPath(f.Path)); !os.IsNotExist(err) {
			t.Fatalf("member index of a deleted snapshot: %v", err)
		}
	}
	// No previous archive: every file is compressed.
	mustSucceed(t, addDocs(t, e, "m", docs(2*reuseDocs, 10)))
	tk, third := snapshotTask(t, e, "m")
	if third.ReusedFiles != 0 {
		t.Fatalf("reused %d files with no previous snapshot", third.ReusedFiles)
	}
	coldEqual(t, e, third.Path, filepath.Join(ckpts, itoa(tk.UID)))
}

// TestSnapshotReuseRefused: a previous archive that is corrupt, truncated,
// or of another database under the same name is not copied from; the
// snapshot is compressed as usual and is still the cold archive.
func TestSnapshotReuseRefused(t *testing.T) {
	t.Parallel()
	e, _ := testEngine(t, Options{SnapshotKeep: 10})
	ckpts := keepCheckpoints(t, e)
	e.Start()
	createIndex(t, e, "m")
	mustSucceed(t, addDocs(t, e, "m", docs(1, reuseDocs)))
	_, s1 := snapshotTask(t, e, "m")

	// Corrupt: a byte flipped in the middle of the first file's members.
	ix, err := readMemberIndex(s1.Path, s1.Size)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(s1.Path)
	if err != nil {
		t.Fatal(err)
	}
	f0 := ix.Files[0]
	b[f0.Offset+f0.Length/2] ^= 1
	writeStored(t, s1.Path, b)
	mustSucceed(t, addDocs(t, e, "m", docs(reuseDocs+1, 10)))
	tk, s2 := snapshotTask(t, e, "m")
	coldEqual(t, e, s2.Path, filepath.Join(ckpts, itoa(tk.UID)))
	if s2.ReusedFiles >= len(ix.Files) {
		t.Fatalf("reused %d of %d files from a corrupt archive", s2.ReusedFiles, len(ix.Files))
	}

	// Truncated.
	b, err = os.ReadFile(s2.Path)
	if err != nil {
		t.Fatal(err)
	}
	writeStored(t, s2.Path, b[:len(b)-1000])
	mustSucceed(t, addDocs(t, e, "m", docs(reuseDocs+20, 10)))
	tk, s3 := snapshotTask(t, e, "m")
	if s3.ReusedFiles != 0 {
		t.Fatalf("reused %d files from a truncated archive", s3.ReusedFiles)
	}
	coldEqual(t, e, s3.Path, filepath.Join(ckpts, itoa(tk.UID)))

	// Another database under the same name: m replaced by an import.
	// (Its files have other mtimes than the stored snapshot's sources —
	// whole seconds, from the tar headers — so the rule is also checked
	// directly below.)
	mustSucceed(t, do(t, e, Request{Kind: SingleIndexSnapshotImport, SnapshotPath: s3.Path, NewIndexUID: "m", Replace: true}))
	mustSucceed(t, addDocs(t, e, "m", docs(reuseDocs+40, 1)))
	tk, s4 := snapshotTask(t, e, "m")
	if s4.ReusedFiles != 0 {
		t.Fatalf("the snapshot of an imported index reused %d files of the old one's", s4.ReusedFiles)
	}
	coldEqual(t, e, s4.Path, filepath.Join(ckpts, itoa(tk.UID)))
	info, err := e.store.Get(context.Background(), "m")
	if err != nil {
		t.Fatal(err)
	}
	if r, why := e.snaps.reusable("m", info.ID); r == nil {
		t.Fatalf("the newest snapshot of m's database is not reusable: %v", why)
	} else {
		r.File.Close()
	}
	if r, why := e.snaps.reusable("m", info.ID+"x"); r != nil || !strings.Contains(why.Error(), "another database") {
		t.Fatalf("a snapshot of another database is reusable (%v)", why)
	}
	// While the same database's next snapshots do reuse (see
	// TestSnapshotReusesMembers for why several).
	reused := 0
	for round := range 4 {
		mustSucceed(t, addDocs(t, e, "m", docs(reuseDocs+50+round, 1)))
		_, d := snapshotTask(t, e, "m")
		reused += d.ReusedFiles
	}
	if reused == 0 {
		t.Fatalf("the imported index's later snapshots reused nothing")
	}
}

// writeStored overwrites a stored (read-only) file with b, in place.
func writeStored(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, StoredMode); err != nil {
		t.Fatal(err)
	}
}

// TestOrphanMemberIndexRemoved: a member index whose archive is gone (a
// crash between their links) is removed when the store opens.
func TestOrphanMemberIndexRemoved(t *testing.T) {
	t.Parallel()
	e, st := testEngine(t, Options{})
	e.Start()
	createIndex(t, e, "m")
	mustSucceed(t, addDocs(t, e, "m", docs(1, 10)))
	d := snapshotOf(t, e, "m")
	e.Close(context.Background())
	if err := os.Remove(d.Path); err != nil {
		t.Fatal(err)
	}
	e2, err := Open(Options{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	defer e2.Close(context.Background())
	if _, err := os.Stat(memberIndexPath(d.Path)); !os.IsNotExist(err) {
		t.Fatalf("orphan member index still there: %v", err)
	}
}

// TestSnapshotEarly: a reader that needs only the bytes gets the archive
// once it is complete, while the store has yet to store it; a failure of
// the store after that fails the task, saying so, and the reader's archive
// is whole all the same.
func TestSnapshotEarly(t *testing.T) {
	t.Parallel()
	for _, fail := range []bool{false, true} {
		t.Run(map[bool]string{false: "stored", true: "store fails"}[fail], func(t *testing.T) {
			t.Parallel()
			e, _ := testEngine(t, Options{})
			release := make(chan struct{})
			e.hooks.beforeStore = func(ctx context.Context, tk Task) error {
				select {
				case <-release:
				case <-ctx.Done():
					return ctx.Err()
				}
				if fail {
					return errors.New("store failed (test)")
				}
				return nil
			}
			e.Start()
			createIndex(t, e, "m")
			mustSucceed(t, addDocs(t, e, "m", docs(1, 1000)))
			st, f, err := e.SnapshotEarly(context.Background(), "m")
			if err != nil {
				t.Fatal(err)
			}
			if f == nil {
				t.Fatal("SnapshotEarly waited for the store (no early file)")
			}
			defer f.Close()
			// The store has not stored it: the hook holds the task.
			if _, err := os.Stat(st.Path); !os.IsNotExist(err) {
				t.Fatalf("stored file %s exists before the store step: %v", st.Path, err)
			}
			b, err := io.ReadAll(io.NewSectionReader(f, 0, 1<<40))
			if err != nil {
				t.Fatal(err)
			}
			if int64(len(b)) != st.Size {
				t.Fatalf("early file: %d bytes, record says %d", len(b), st.Size)
			}
			if _, err := snapshot.Verify(context.Background(), bytes.NewReader(b), snapshot.ReadOptions{}); err != nil {
				t.Fatalf("early archive does not verify: %v", err)
			}
			// A listing of the store meanwhile waits for the store step,
			// so that it shows what a reader of the archive expects.
			type listed struct {
				files []StoredFile
				err   error
			}
			lc := make(chan listed, 1)
			go func() {
				fs, err := e.SnapshotFiles("m")
				lc <- listed{fs, err}
			}()
			close(release)
			if l := <-lc; fail && !errors.Is(l.err, os.ErrNotExist) || !fail && (l.err != nil || len(l.files) != 1) {
				t.Fatalf("store listing after the store step: %v, %v", l.files, l.err)
			}
			tks := e.List(Filter{IndexUID: "m", Types: []Kind{SingleIndexSnapshotCreation}})
			if len(tks) != 1 {
				t.Fatalf("%d snapshot tasks", len(tks))
			}
			tk := wait(t, e, tks[0].UID)
			if !fail {
				mustSucceed(t, tk)
				stored, err := os.ReadFile(st.Path)
				if err != nil || !bytes.Equal(stored, b) {
					t.Fatalf("stored file %s (%v) is not the early archive", st.Path, err)
				}
				return
			}
			var d SnapshotCreationDetails
			if err := tk.DecodeDetails(&d); err != nil {
				t.Fatal(err)
			}
			if tk.Status != Failed || tk.Error == nil || !strings.Contains(tk.Error.Message, "served to readers") || !strings.Contains(d.StoreError, "store failed") {
				t.Fatalf("task after a failed store: %s, %+v, details %s", tk.Status, tk.Error, tk.Details)
			}
			if _, err := os.Stat(st.Path); !os.IsNotExist(err) {
				t.Fatalf("stored file after a failed store: %v", err)
			}
		})
	}
}
