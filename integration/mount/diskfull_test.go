package mount

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/idxfs/idxfs/integration/bintest"
)

// The full-disk checks of issue 7 through the mount, each with its data dir
// on a real small filesystem (a tmpfs, which needs root): a write that does
// not fit fails the writer (ENOSPC, or EIO for a snapshot, DESIGN §4), its
// task fails with no_space_left, the index is as before, the daemon keeps
// serving, and the same write works once the space is freed, without a
// restart. The daemon must exit 0 at the end (env's cleanup checks).
var diskFullChecks = map[string]func(t *testing.T, e *fullEnv){
	"Append":   checkFullAppend,
	"Replace":  checkFullReplace,
	"Snapshot": checkFullSnapshot,
	"Import":   checkFullImport,
	"Meta":     checkFullMeta,
}

func TestDiskFull(t *testing.T) {
	requireFUSE(t)
	for name, check := range diskFullChecks {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			check(t, newFullEnv(t))
		})
	}
}

// fullEnv is a mounted data dir on a 64 MiB filesystem holding index
// "movies" with 2000 documents (4 MiB).
type fullEnv struct {
	*env
	fs      string // the small filesystem's root; the data dir is fs/data
	scratch string // files outside the mount and the small filesystem
}

const baseDocs = 2000

func newFullEnv(t *testing.T) *fullEnv {
	fsDir := bintest.SmallFS(t, 64<<20)
	dir := t.TempDir()
	e := &fullEnv{env: &env{t: t, data: filepath.Join(fsDir, "data"), mnt: filepath.Join(dir, "mnt")}, fs: fsDir, scratch: dir}
	if err := os.Mkdir(e.mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	e.cli("index", "create", "movies", "--primary-key", "id")
	e.cli("documents", "add", "movies", e.docs("base.ndjson", 1, baseDocs))
	e.mount()
	return e
}

// docs writes n documents of about 2 KiB with ids from first on and
// returns the path.
func (e *fullEnv) docs(name string, first, n int) string {
	p := filepath.Join(e.scratch, name)
	bintest.RandomDocs(e.t, p, first, n)
	return p
}

func (e *fullEnv) fill(leave int64) (release func()) {
	e.t.Helper()
	return bintest.Fill(e.t, e.fs, leave)
}

// state is what a failed write must not change: the index's documents.
func (e *fullEnv) state(name string) string {
	e.t.Helper()
	docs := e.exportOf(name)
	return fmt.Sprintf("%d documents, %d bytes", strings.Count(docs, "\n"), len(docs))
}

// failsNoSpace runs a shell command line that must fail with errno's text
// in its error (e.g. "No space left on device").
func (e *fullEnv) failsNoSpace(errno, line string) {
	e.t.Helper()
	r := run(e.t, nil, "bash", "-c", line)
	if r.code == 0 || !strings.Contains(r.stderr, errno) {
		e.t.Errorf("%s: %v, want a failure with %q", line, r, errno)
	}
}

// lastTask is the newest task of a type; it must have failed for lack of
// space.
func (e *fullEnv) lastFailedNoSpace(typ string) {
	e.t.Helper()
	var last *task
	for _, tk := range e.tasks() {
		if tk.Type == typ && (last == nil || tk.UID > last.UID) {
			last = &tk
		}
	}
	if last == nil || last.Status != "failed" || last.Error == nil || last.Error.Code != "no_space_left" {
		b, _ := json.Marshal(last)
		e.t.Errorf("the last %s task: %s, want failed with no_space_left", typ, b)
	}
}

// serving checks that the daemon still answers.
func (e *fullEnv) serving() {
	e.t.Helper()
	if out := must(e.t, "cat", e.path("status")); !strings.Contains(out, "movies") {
		e.t.Errorf("status after the failure:\n%s", out)
	}
}

// checkFullAppend: `cat FILE >> documents.ndjson` whose indexing does not
// fit (issue 7, item 1: the daemon died in pebble's rotateWAL).
func checkFullAppend(t *testing.T, e *fullEnv) {
	// 100 updates, 3900 new: 8 MiB
	e.documentsDoNotFit(e.docs("add.ndjson", baseDocs-99, 4000), "cat %s >> %s", baseDocs+3900)
}

func checkFullReplace(t *testing.T, e *fullEnv) {
	e.documentsDoNotFit(e.docs("all.ndjson", 1, 4000), "cp %s %s", 4000)
}

// documentsDoNotFit writes payload into indexes/movies/documents.ndjson
// with the shell command format (payload, target) on a disk with room for
// the payload but not for its indexing, then again once there is room,
// after which the index must hold want documents.
func (e *fullEnv) documentsDoNotFit(payload, format string, want int) {
	e.t.Helper()
	line := fmt.Sprintf(format, payload, e.path("indexes", "movies", "documents.ndjson"))
	before := e.state("movies")
	release := e.fill(fileSizeOf(e.t, payload) + 6<<20)
	e.failsNoSpace("No space left on device", line)
	e.serving()
	e.lastFailedNoSpace("documentAdditionOrUpdate")
	if after := e.state("movies"); after != before {
		e.t.Errorf("the index changed: %s, before %s", after, before)
	}
	release()
	sh(e.t, line)
	if after := e.state("movies"); !strings.HasPrefix(after, fmt.Sprint(want, " documents")) {
		e.t.Errorf("after freeing space: %s, want %d documents", after, want)
	}
}

// checkFullSnapshot: reading snapshot.tar.gz when the snapshot does not fit
// fails (EIO: a failed creation, DESIGN §4) with no_space_left in the task.
func checkFullSnapshot(t *testing.T, e *fullEnv) {
	out := filepath.Join(e.scratch, "movies.tar.gz")
	release := e.fill(3 << 20)
	e.failsNoSpace("Input/output error", fmt.Sprintf("cp %s %s", e.path("indexes", "movies", "snapshot.tar.gz"), out))
	e.serving()
	e.lastFailedNoSpace("singleIndexSnapshotCreation")
	if names, _ := os.ReadDir(e.path("snapshots", "movies")); len(names) > 0 {
		t.Errorf("snapshots/movies holds %d files after a failed creation", len(names))
	}
	release()
	sh(t, fmt.Sprintf("cp %s %s && tar tzf %s >/dev/null", e.path("indexes", "movies", "snapshot.tar.gz"), out, out))
}

// checkFullImport: an archive that does not fit is ENOSPC (issue 7, item
// 4: it was EFBIG), and leaves no index.
func checkFullImport(t *testing.T, e *fullEnv) {
	archive := filepath.Join(e.scratch, "movies.tar.gz")
	sh(t, fmt.Sprintf("cp %s %s", e.path("indexes", "movies", "snapshot.tar.gz"), archive))
	release := e.fill(3 << 20)
	e.failsNoSpace("No space left on device", fmt.Sprintf("cp %s %s", archive, e.path("import", "copy")))
	e.serving()
	e.lastFailedNoSpace("singleIndexSnapshotImport")
	if exists(e.path("indexes", "copy")) {
		t.Error("indexes/copy exists after the failed import")
	}
	release()
	sh(t, fmt.Sprintf("cp %s %s", archive, e.path("import", "copy2")))
	if got := strings.Count(e.exportOf("copy2"), "\n"); got != baseDocs {
		t.Errorf("imported %d documents, want %d", got, baseDocs)
	}
}

// checkFullMeta: with the disk full, writes that only need the meta store
// (an index creation's task record) fail with ENOSPC instead of a pebble
// fatal error that left every later write failing with EIO until a restart
// (issue 7, item 1); reads go on; once there is room they work again.
func checkFullMeta(t *testing.T, e *fullEnv) {
	release := e.fill(0)
	if err := os.Mkdir(e.path("indexes", "fresh"), 0o755); err == nil || !strings.Contains(err.Error(), "no space left on device") {
		t.Errorf("mkdir indexes/fresh on a full disk: %v, want ENOSPC", err)
	}
	e.serving()
	if out := must(t, "cat", e.path("indexes", "movies", "status")); !strings.Contains(out, fmt.Sprint(baseDocs)) {
		t.Errorf("indexes/movies/status on a full disk:\n%s", out)
	}
	release()
	if err := os.Mkdir(e.path("indexes", "fresh"), 0o755); err != nil {
		t.Errorf("mkdir indexes/fresh once there is room: %v", err)
	}
	sh(t, fmt.Sprintf("cat %s >> %s", e.docs("one.ndjson", 1, 10), e.path("indexes", "fresh", "documents.ndjson")))
}

func fileSizeOf(t testing.TB, p string) int64 {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}
