package task

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/idxfs/idxfs/index"
)

// truthChildEnv makes the test binary a child that runs one truthCase and
// is killed (SIGKILL, by itself) at the case's point: "CASE|DATA_DIR".
const truthChildEnv = "IDXFS_TASK_TRUTH_CHILD"

// A truthCase is a task killed at one point of its processing. After the
// restart its record must say what happened to the data (DESIGN §6: a task
// record never lies, also after a crash).
type truthCase struct {
	name  string
	req   func(dir string) Request
	point func(h *hooks) *func(context.Context, Task) error // the hook that kills
	// check gets the target task as the restart found it, then (for tasks
	// that run again) as it finished.
	check func(t *testing.T, e *Engine, st *index.Store, at, end Task)
}

func hookProcess(h *hooks) *func(context.Context, Task) error     { return &h.process }
func hookProcessed(h *hooks) *func(context.Context, Task) error   { return &h.processed }
func hookCheckpoint(h *hooks) *func(context.Context, Task) error  { return &h.afterCheckpoint }
func hookBeforeStore(h *hooks) *func(context.Context, Task) error { return &h.beforeStore }

func archivePath(dir string) string { return dir + ".snapshot" }

var truthCases = []truthCase{
	{
		name:  "indexCreation killed as it starts",
		req:   func(string) Request { return Request{Kind: IndexCreation, IndexUID: "x", PrimaryKey: "id"} },
		point: hookProcess,
		check: func(t *testing.T, e *Engine, st *index.Store, at, end Task) {
			wantFailedInterrupted(t, at)
			if st.Exists("x") {
				t.Error("index x exists, its creation task failed")
			}
		},
	},
	{
		name:  "indexCreation killed once the index is created",
		req:   func(string) Request { return Request{Kind: IndexCreation, IndexUID: "x", PrimaryKey: "id"} },
		point: hookProcessed,
		check: func(t *testing.T, e *Engine, st *index.Store, at, end Task) {
			mustSucceed(t, at)
			if !st.Exists("x") {
				t.Error("index x is missing, its creation task succeeded")
			}
		},
	},
	{
		name:  "indexDeletion killed as it starts",
		req:   func(string) Request { return Request{Kind: IndexDeletion, IndexUID: "src"} },
		point: hookProcess,
		check: func(t *testing.T, e *Engine, st *index.Store, at, end Task) {
			wantFailedInterrupted(t, at)
			if !st.Exists("src") {
				t.Error("index src is gone, its deletion task failed")
			}
		},
	},
	{
		name:  "indexDeletion killed once the index is deleted",
		req:   func(string) Request { return Request{Kind: IndexDeletion, IndexUID: "src"} },
		point: hookProcessed,
		check: func(t *testing.T, e *Engine, st *index.Store, at, end Task) {
			mustSucceed(t, at)
			if st.Exists("src") {
				t.Error("index src exists, its deletion task succeeded")
			}
			var d IndexDeletionDetails
			if err := at.DecodeDetails(&d); err != nil || deref(d.DeletedDocuments) != 50 {
				t.Errorf("details %s, want 50 deleted documents", at.Details)
			}
		},
	},
	{
		name: "import killed as it starts",
		req: func(dir string) Request {
			return Request{Kind: SingleIndexSnapshotImport, NewIndexUID: "copy", SnapshotPath: archivePath(dir)}
		},
		point: hookProcess,
		check: func(t *testing.T, e *Engine, st *index.Store, at, end Task) {
			wantFailedInterrupted(t, at)
			if st.Exists("copy") {
				t.Error("index copy exists, its import task failed")
			}
		},
	},
	{
		name: "import killed once the index is registered",
		req: func(dir string) Request {
			return Request{Kind: SingleIndexSnapshotImport, NewIndexUID: "copy", SnapshotPath: archivePath(dir)}
		},
		point: hookProcessed,
		check: func(t *testing.T, e *Engine, st *index.Store, at, end Task) {
			mustSucceed(t, at)
			if got := export(t, st, "copy"); got != export(t, st, "src") {
				t.Errorf("imported index holds %d bytes of documents, want those of src", len(got))
			}
		},
	},
	{
		name:  "indexRename killed as it starts",
		req:   func(string) Request { return Request{Kind: IndexRename, IndexUID: "src", NewIndexUID: "dst"} },
		point: hookProcess,
		check: func(t *testing.T, e *Engine, st *index.Store, at, end Task) {
			wantFailedInterrupted(t, at)
			if !st.Exists("src") || st.Exists("dst") {
				t.Errorf("src %v, dst %v after a rename that failed", st.Exists("src"), st.Exists("dst"))
			}
		},
	},
	{
		name:  "indexRename killed once renamed",
		req:   func(string) Request { return Request{Kind: IndexRename, IndexUID: "src", NewIndexUID: "dst"} },
		point: hookProcessed,
		check: func(t *testing.T, e *Engine, st *index.Store, at, end Task) {
			mustSucceed(t, at)
			if st.Exists("src") || !st.Exists("dst") {
				t.Errorf("src %v, dst %v after a rename that succeeded", st.Exists("src"), st.Exists("dst"))
			}
		},
	},
	{
		name:  "indexSwap killed as it starts",
		req:   func(string) Request { return Request{Kind: IndexSwap, IndexUID: "src", NewIndexUID: "other"} },
		point: hookProcess,
		check: func(t *testing.T, e *Engine, st *index.Store, at, end Task) {
			wantFailedInterrupted(t, at)
			wantDocuments(t, st, "src", 50)
			wantDocuments(t, st, "other", 0)
		},
	},
	{
		name:  "indexSwap killed once swapped",
		req:   func(string) Request { return Request{Kind: IndexSwap, IndexUID: "src", NewIndexUID: "other"} },
		point: hookProcessed,
		check: func(t *testing.T, e *Engine, st *index.Store, at, end Task) {
			mustSucceed(t, at)
			wantDocuments(t, st, "src", 0)
			wantDocuments(t, st, "other", 50)
		},
	},
	{
		name: "replacing import killed as it starts",
		req: func(dir string) Request {
			return Request{Kind: SingleIndexSnapshotImport, NewIndexUID: "src", SnapshotPath: archivePath(dir), Replace: true}
		},
		point: hookProcess,
		check: func(t *testing.T, e *Engine, st *index.Store, at, end Task) {
			wantFailedInterrupted(t, at)
			wantDocuments(t, st, "src", 60) // as it was
		},
	},
	{
		name: "replacing import killed once the index is replaced",
		req: func(dir string) Request {
			return Request{Kind: SingleIndexSnapshotImport, NewIndexUID: "src", SnapshotPath: archivePath(dir), Replace: true}
		},
		point: hookProcessed,
		check: func(t *testing.T, e *Engine, st *index.Store, at, end Task) {
			mustSucceed(t, at)
			wantDocuments(t, st, "src", 50) // the archive's
			var d SnapshotImportDetails
			if err := at.DecodeDetails(&d); err != nil || !d.Replace || !d.Replaced {
				t.Errorf("details %s, want replace and replaced", at.Details)
			}
			if ents, _ := os.ReadDir(filepath.Join(st.Dir(), "indexes")); len(ents) != 1 {
				t.Errorf("indexes/ holds %d databases after the restart, want the new one only", len(ents))
			}
		},
	},
	{
		name:  "snapshot creation killed while writing its archive",
		req:   func(string) Request { return Request{Kind: SingleIndexSnapshotCreation, IndexUID: "src"} },
		point: hookCheckpoint,
		check: func(t *testing.T, e *Engine, st *index.Store, at, end Task) {
			wantFailedInterrupted(t, at)
			wantStored(t, e, 0)
		},
	},
	{
		name:  "snapshot creation killed before it stores its archive",
		req:   func(string) Request { return Request{Kind: SingleIndexSnapshotCreation, IndexUID: "src"} },
		point: hookBeforeStore,
		check: func(t *testing.T, e *Engine, st *index.Store, at, end Task) {
			wantFailedInterrupted(t, at)
			wantStored(t, e, 0)
		},
	},
	{
		name:  "snapshot creation killed once its archive is stored",
		req:   func(string) Request { return Request{Kind: SingleIndexSnapshotCreation, IndexUID: "src"} },
		point: hookProcessed,
		check: func(t *testing.T, e *Engine, st *index.Store, at, end Task) {
			mustSucceed(t, at)
			ss := wantStored(t, e, 1)
			var d SnapshotCreationDetails
			if err := at.DecodeDetails(&d); err != nil || len(ss) != 1 || d.Path != ss[0].Path || d.NumberOfDocuments != 50 {
				t.Errorf("details %s, want the stored snapshot %+v", at.Details, ss)
			}
		},
	},
	{
		name: "document addition killed once applied",
		req: func(string) Request {
			return Request{Kind: DocumentAdditionOrUpdate, IndexUID: "src", Documents: strings.NewReader(docs(51, 10))}
		},
		point: hookProcessed,
		check: func(t *testing.T, e *Engine, st *index.Store, at, end Task) {
			mustSucceed(t, end)
			if got, want := export(t, st, "src"), docs(1, 60); got != canonical(t, want) {
				t.Errorf("index holds %d bytes, want 60 documents", len(got))
			}
		},
	},
	{
		name: "document deletion killed as it starts",
		req: func(string) Request {
			return Request{Kind: DocumentDeletion, IndexUID: "src", IDs: []string{"1", "2", "3"}}
		},
		point: hookProcess,
		check: func(t *testing.T, e *Engine, st *index.Store, at, end Task) {
			wantDeletion(t, st, end)
		},
	},
	{
		name: "document deletion killed once applied",
		req: func(string) Request {
			return Request{Kind: DocumentDeletion, IndexUID: "src", IDs: []string{"1", "2", "3"}}
		},
		point: hookProcessed,
		check: func(t *testing.T, e *Engine, st *index.Store, at, end Task) {
			mustSucceed(t, end)
			wantDeletion(t, st, end)
		},
	},
}

// wantDocuments checks that index uid holds n documents.
func wantDocuments(t *testing.T, st *index.Store, uid string, n uint64) {
	t.Helper()
	info, err := st.Get(context.Background(), uid)
	if err != nil || info.Documents != n {
		t.Errorf("index %s: %d documents (%v), want %d", uid, info.Documents, err, n)
	}
}

// wantDeletion checks that the deletion of ids 1-3 from src's 50 documents
// is in the index exactly when its task says succeeded.
func wantDeletion(t *testing.T, st *index.Store, end Task) {
	t.Helper()
	info, err := st.Get(context.Background(), "src")
	if err != nil {
		t.Fatal(err)
	}
	switch end.Status {
	case Succeeded:
		var d DocumentDeletionDetails
		if err := end.DecodeDetails(&d); err != nil || deref(d.DeletedDocuments) != 3 {
			t.Errorf("details %s, want 3 deleted documents", end.Details)
		}
		if info.Documents != 47 {
			t.Errorf("task succeeded, index holds %d documents, want 47", info.Documents)
		}
	case Failed:
		if info.Documents != 50 {
			t.Errorf("task failed, index holds %d documents, want 50", info.Documents)
		}
	default:
		t.Errorf("task %s", end.Status)
	}
}

func wantFailedInterrupted(t *testing.T, tk Task) {
	t.Helper()
	if tk.Status != Failed || tk.Error == nil || tk.Error.Code != CodeInterrupted {
		t.Errorf("task %d after restart: %s %+v, want failed/interrupted", tk.UID, tk.Status, tk.Error)
	}
}

func wantStored(t *testing.T, e *Engine, n int) []StoredSnapshot {
	t.Helper()
	ss, err := e.Snapshots("src")
	if err != nil {
		t.Fatal(err)
	}
	if len(ss) != n {
		t.Errorf("%d stored snapshots of src, want %d", len(ss), n)
	}
	return ss
}

// canonical is payload as the store exports it.
func canonical(t *testing.T, payload string) string {
	t.Helper()
	st, err := index.Open(t.TempDir(), index.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	if _, err := st.Create(ctx, "c", "id"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.AddDocuments(ctx, "c", strings.NewReader(payload), index.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	return export(t, st, "c")
}

// truthChild sets up the data dir (index src with 50 documents, an archive
// of it beside the data dir), then runs the case's task with its hook set to
// kill the process.
func truthChild(spec string) {
	name, dir, _ := strings.Cut(spec, "|")
	fail := func(err error) {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	var c *truthCase
	for i := range truthCases {
		if truthCases[i].name == name {
			c = &truthCases[i]
		}
	}
	if c == nil {
		fail(fmt.Errorf("no case %q", name))
	}
	st, err := index.Open(dir, index.Options{})
	if err != nil {
		fail(err)
	}
	ctx := context.Background()
	e, err := Open(Options{Store: st, Workers: 1})
	if err != nil {
		fail(err)
	}
	e.Start()
	for _, r := range []Request{
		{Kind: IndexCreation, IndexUID: "src", PrimaryKey: "id"},
		{Kind: DocumentAdditionOrUpdate, IndexUID: "src", Documents: strings.NewReader(docs(1, 50))},
	} {
		tk, err := e.Enqueue(ctx, r)
		if err != nil {
			fail(err)
		}
		if tk, _ = e.Wait(ctx, tk.UID); tk.Status != Succeeded {
			fail(fmt.Errorf("setup task %d %s %+v", tk.UID, tk.Status, tk.Error))
		}
	}
	if c.req(dir).Kind == SingleIndexSnapshotImport {
		s, err := e.Snapshot(ctx, "src")
		if err != nil {
			fail(err)
		}
		if err := copyFile(s.Path, archivePath(dir)); err != nil {
			fail(err)
		}
		for _, s := range wantNoError(e.Snapshots("src")) {
			os.Remove(s.Path)
		}
		if c.req(dir).Replace { // src moves on from the archive: 60 documents
			more := Request{Kind: DocumentAdditionOrUpdate, IndexUID: "src", Documents: strings.NewReader(docs(51, 10))}
			if tk := wantNoError(e.Enqueue(ctx, more)); wantNoError(e.Wait(ctx, tk.UID)).Status != Succeeded {
				fail(fmt.Errorf("setup: adding documents to src failed"))
			}
		}
	}
	if c.req(dir).Kind == IndexSwap {
		tk := wantNoError(e.Enqueue(ctx, Request{Kind: IndexCreation, IndexUID: "other"}))
		if wantNoError(e.Wait(ctx, tk.UID)).Status != Succeeded {
			fail(fmt.Errorf("setup: creating other failed"))
		}
	}
	e.Close(ctx)

	// The engine under test: only the case's task runs in it.
	if e, err = Open(Options{Store: st, Workers: 1}); err != nil {
		fail(err)
	}
	*c.point(&e.hooks) = func(context.Context, Task) error {
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {}
	}
	tk, err := e.Enqueue(ctx, c.req(dir))
	if err != nil {
		fail(err)
	}
	e.Start()
	tk, _ = e.Wait(ctx, tk.UID)
	fail(fmt.Errorf("task %d ended %s %+v without reaching the kill point", tk.UID, tk.Status, tk.Error))
}

func wantNoError[T any](v T, err error) T {
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	return v
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// TestTaskTruthAfterKill kills a process at each point of each kind of task
// and checks, after a restart, that the task's record says what happened.
func TestTaskTruthAfterKill(t *testing.T) {
	t.Parallel()
	for _, c := range truthCases {
		t.Run(strings.ReplaceAll(c.name, " ", "_"), func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir() + "/data"
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), truthChildEnv+"="+c.name+"|"+dir)
			out, err := cmd.CombinedOutput()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
				t.Fatalf("child was not killed (%v):\n%s", err, out)
			}

			e, st := reopen(t, dir)
			last := e.List(Filter{Limit: 1})
			if len(last) != 1 || last[0].Type != c.req(dir).Kind {
				t.Fatalf("newest task after restart: %+v", last)
			}
			at := last[0]
			e.Start()
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			end, err := e.Wait(ctx, at.UID)
			if err != nil {
				t.Fatal(err)
			}
			c.check(t, e, st, at, end)
			if tmp, _ := os.ReadDir(st.TmpDir()); len(tmp) != 0 {
				t.Errorf("tmp/ after restart holds %v", tmp)
			}
		})
	}
}

// reopen opens the data dir a killed child left, as the next start would,
// and closes it at the end of the test. The scheduler does not run yet.
func reopen(t *testing.T, dir string) (*Engine, *index.Store) {
	t.Helper()
	st, err := index.Open(dir, index.Options{})
	if err != nil {
		t.Fatal(err)
	}
	e, err := Open(Options{Store: st})
	if err != nil {
		st.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		e.Close(context.Background())
		st.Close()
	})
	return e, st
}
