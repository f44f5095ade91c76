package fs

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/idxfs/idxfs/integration/bintest"
	"github.com/idxfs/idxfs/task"
)

// names lists a directory of the mount, sorted.
func (f *testFS) names(elem ...string) []string {
	f.t.Helper()
	ents, err := os.ReadDir(f.path(elem...))
	if err != nil {
		f.t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

// TestMountTree: the fixed tree, the directories' modes and link counts, and
// readdir and lookup of indexes/ and of an index directory.
func TestMountTree(t *testing.T) {
	t.Parallel()
	f := mountFS(t, map[string]int{"movies": 3, "empty": 0}, nil)
	perm := f.perm()

	if got, want := f.names(), []string{"backup", "import", "indexes", "snapshots", "status", "status.json", "tasks"}; !slices.Equal(got, want) {
		t.Errorf("ls MOUNT = %v, want %v", got, want)
	}
	if got, want := f.names("indexes"), []string{"empty", "movies"}; !slices.Equal(got, want) {
		t.Errorf("ls indexes = %v, want %v", got, want)
	}
	if got, want := f.names("indexes", "movies"), []string{"delete-documents", "documents.ndjson", "primary-key", "snapshot.tar.gz", "status", "status.json"}; !slices.Equal(got, want) {
		t.Errorf("ls indexes/movies = %v, want %v", got, want)
	}
	if got := f.names("import"); len(got) != 0 {
		t.Errorf("ls import = %v, want nothing", got)
	}

	dir := func(elem string, nlink uint64) {
		t.Helper()
		st := f.stat(strings.Split(elem, "/")...)
		if st.Mode != syscall.S_IFDIR|0o755&perm || st.Nlink != nlink {
			t.Errorf("%s: mode %o nlink %d, want %o and %d", elem, st.Mode, st.Nlink, syscall.S_IFDIR|0o755&perm, nlink)
		}
	}
	dir(".", 7)
	dir("indexes", 4) // 2 + one per index
	dir("indexes/movies", 2)
	dir("import", 2)
	dir("tasks", 2)
	dir("snapshots", 2)
	dir("backup", 2)

	file := func(elem string, mode uint32) syscall.Stat_t {
		t.Helper()
		st := f.stat(strings.Split(elem, "/")...)
		if st.Mode != syscall.S_IFREG|mode&perm || st.Nlink != 1 {
			t.Errorf("%s: mode %o nlink %d, want %o and 1", elem, st.Mode, st.Nlink, syscall.S_IFREG|mode&perm)
		}
		return st
	}
	for _, p := range []string{"status", "status.json", "indexes/movies/status", "indexes/movies/status.json"} {
		st := file(p, 0o444)
		// A status file's size is its content's: tools that trust stat
		// read all of it.
		if b := f.read(strings.Split(p, "/")...); st.Size != int64(len(b)) || len(b) == 0 {
			t.Errorf("%s: stat size %d, read %d bytes", p, st.Size, len(b))
		}
	}
	file("indexes/movies/snapshot.tar.gz", 0o444)
	file("indexes/movies/documents.ndjson", 0o644)
	file("indexes/movies/delete-documents", 0o644)
	file("indexes/movies/primary-key", 0o644)

	for _, p := range []string{"nothing", "indexes/nothing", "indexes/movies/nothing", "tasks/nothing", "tasks/99.json", "import/nothing", "snapshots/nothing", "backup/nothing.tar.gz", "backup/movies", "backup/.tar.gz"} {
		var st syscall.Stat_t
		if err := syscall.Lstat(f.path(p), &st); err != syscall.ENOENT {
			t.Errorf("lstat %s: %v, want ENOENT", p, err)
		}
	}
	// An invalid index name is EINVAL already at lookup.
	if _, err := os.Lstat(f.path("indexes", "a.b")); errnoIn(t, err) != syscall.EINVAL {
		t.Errorf("lstat indexes/a.b: %v, want EINVAL", err)
	}
}

// TestMountStatfs: df of the mount shows the data dir's filesystem.
func TestMountStatfs(t *testing.T) {
	t.Parallel()
	f := mountFS(t, nil, nil)
	var mnt, data syscall.Statfs_t
	if err := syscall.Statfs(f.mnt, &mnt); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Statfs(f.data, &data); err != nil {
		t.Fatal(err)
	}
	if mnt.Blocks*uint64(mnt.Bsize) != data.Blocks*uint64(data.Bsize) || mnt.Files != data.Files {
		t.Errorf("statfs of the mount: %d blocks of %d, %d files; of the data dir: %d blocks of %d, %d files",
			mnt.Blocks, mnt.Bsize, mnt.Files, data.Blocks, data.Bsize, data.Files)
	}
	if mnt.Blocks == 0 {
		t.Errorf("statfs of the mount reports no blocks")
	}
}

// TestMountMkdirRmdir: mkdir in indexes/ creates an index and rmdir deletes one,
// each waiting for its task; a bad name is EINVAL, a taken one EEXIST, a
// missing one ENOENT. (The kernel looks a name up before it calls Mkdir, so
// lookup's answer for a taken or a bad name is what mkdir gets: no task.)
func TestMountMkdirRmdir(t *testing.T) {
	t.Parallel()
	f := mountFS(t, map[string]int{"movies": 1}, nil)
	if err := os.Mkdir(f.path("indexes", "books"), 0o755); err != nil {
		t.Fatal(err)
	}
	// Waited for: the index is there when mkdir returns.
	if _, err := f.store.Get(t.Context(), "books"); err != nil {
		t.Fatalf("after mkdir: %v", err)
	}
	if st := f.stat("indexes"); st.Nlink != 4 {
		t.Errorf("indexes/ has nlink %d after mkdir, want 4", st.Nlink)
	}
	if got := f.names("indexes", "books"); len(got) != 6 {
		t.Errorf("ls indexes/books = %v", got)
	}
	for name, want := range map[string]syscall.Errno{"movies": syscall.EEXIST, "books": syscall.EEXIST, "a.b": syscall.EINVAL, strings.Repeat("x", 401): syscall.EINVAL} {
		if got := errnoIn(t, syscall.Mkdir(f.path("indexes", name), 0o755)); got != want {
			t.Errorf("mkdir indexes/%.20s: %v, want %v", name, got, want)
		}
	}
	if err := os.Remove(f.path("indexes", "books")); err != nil {
		t.Fatal(err)
	}
	if _, err := f.store.Get(t.Context(), "books"); err == nil {
		t.Errorf("index books still there after rmdir")
	}
	if _, err := os.Lstat(f.path("indexes", "books")); !os.IsNotExist(err) {
		t.Errorf("lstat after rmdir: %v", err)
	}
	if got := errnoIn(t, syscall.Rmdir(f.path("indexes", "books"))); got != syscall.ENOENT {
		t.Errorf("rmdir of a missing index: %v, want ENOENT", got)
	}
	if got := len(f.tasks(task.IndexCreation)); got != 1 {
		t.Errorf("%d indexCreation tasks, want 1 (the refused mkdirs enqueue none)", got)
	}
	if got := len(f.tasks(task.IndexDeletion)); got != 1 {
		t.Errorf("%d indexDeletion tasks, want 1", got)
	}
}

// TestMountRefusals: every node refuses what it does not do with a deliberate
// errno (refuse.go), and the entry stays. The calls are the binary-level
// test's (integration/mount, TestEveryNodeAnswersEveryCall), which walks
// every node kind; this is its fast in-process counterpart for the built-in
// entries.
func TestMountRefusals(t *testing.T) {
	t.Parallel()
	f := mountFS(t, map[string]int{"movies": 1}, nil)
	// What a built-in directory or file answers; the kernel answers unlink
	// of a directory, rmdir of a file and truncate of a directory itself.
	want := func(call string, isDir bool) syscall.Errno {
		switch {
		case strings.HasSuffix(call, "xattr"):
			return syscall.EOPNOTSUPP
		case isDir && (call == "unlink" || call == "truncate"):
			return syscall.EISDIR
		case !isDir && call == "rmdir":
			return syscall.ENOTDIR
		}
		return syscall.EPERM
	}
	for _, p := range []string{"status", "status.json", "indexes", "import", "tasks", "snapshots", "backup",
		"indexes/movies/status", "indexes/movies/status.json", "indexes/movies/snapshot.tar.gz", "backup/movies.tar.gz"} {
		st := f.stat(strings.Split(p, "/")...)
		isDir := st.Mode&syscall.S_IFMT == syscall.S_IFDIR
		for _, c := range bintest.NodeCalls {
			if got, want := errnoIn(t, c.Do(f.path(p))), want(c.Name, isDir); got != want {
				t.Errorf("%s %s: %v, want %v", c.Name, p, got, want)
			}
		}
		if after := f.stat(strings.Split(p, "/")...); after.Ino != st.Ino || after.Mode != st.Mode {
			t.Errorf("%s changed after the refused calls", p)
		}
	}
	// Making entries: refused everywhere but mkdir in indexes/ and create
	// in import/.
	link := bintest.Call{Name: "link", Do: func(d string) error { return syscall.Link(f.path("status"), filepath.Join(d, "new")) }}
	for _, d := range []string{".", "indexes", "indexes/movies", "import", "tasks", "snapshots", "backup"} {
		for _, c := range append(bintest.DirCalls, link) {
			if d == "indexes" && c.Name == "mkdir" || d == "import" && c.Name == "create" {
				continue
			}
			if got := errnoIn(t, c.Do(f.path(d))); got != syscall.EPERM {
				t.Errorf("%s in %s: %v, want EPERM", c.Name, d, got)
			}
		}
	}
	if got := f.names("indexes"); !slices.Equal(got, []string{"movies"}) {
		t.Errorf("ls indexes = %v after the refused calls", got)
	}
	if got := f.names(); len(got) != 7 {
		t.Errorf("ls MOUNT = %v after the refused calls", got)
	}
	// A built-in file cannot be opened for writing.
	for _, p := range []string{"status", "indexes/movies/status.json", "indexes/movies/snapshot.tar.gz", "backup/movies.tar.gz"} {
		if _, err := os.OpenFile(f.path(p), os.O_WRONLY, 0); errnoIn(t, err) != syscall.EACCES {
			t.Errorf("open %s for writing: %v, want EACCES", p, err)
		}
	}
}

// TestMountStatusAndTaskFiles: the status files and tasks/UID.json parse as
// JSON and say what the store and the engine say; tasks/ lists the tasks;
// rm of a finished task is EPERM.
func TestMountStatusAndTaskFiles(t *testing.T) {
	t.Parallel()
	f := mountFS(t, map[string]int{"movies": 3}, nil)
	if err := os.Mkdir(f.path("indexes", "books"), 0o755); err != nil {
		t.Fatal(err)
	}

	var root struct {
		Version string `json:"version"`
		DataDir string `json:"dataDir"`
		Indexes []struct {
			UID       string `json:"uid"`
			Documents uint64 `json:"numberOfDocuments"`
		} `json:"indexes"`
		Queue         map[string]int    `json:"queue"`
		TasksInFlight []json.RawMessage `json:"tasksInFlight"`
	}
	if err := json.Unmarshal(f.read("status.json"), &root); err != nil {
		t.Fatalf("status.json: %v", err)
	}
	if root.Version != "test" || root.DataDir != f.store.Dir() || len(root.Indexes) != 2 ||
		root.Indexes[1].UID != "movies" || root.Indexes[1].Documents != 3 || root.TasksInFlight == nil {
		t.Errorf("status.json = %+v", root)
	}
	if text := string(f.read("status")); !strings.Contains(text, "movies") || !strings.Contains(text, "books") {
		t.Errorf("status does not name the indexes:\n%s", text)
	}

	var idx struct {
		UID        string `json:"uid"`
		PrimaryKey string `json:"primaryKey"`
		Documents  uint64 `json:"numberOfDocuments"`
		Version    uint64 `json:"version"`
	}
	if err := json.Unmarshal(f.read("indexes", "movies", "status.json"), &idx); err != nil {
		t.Fatalf("indexes/movies/status.json: %v", err)
	}
	in, err := f.store.Get(t.Context(), "movies")
	if err != nil {
		t.Fatal(err)
	}
	if idx.UID != "movies" || idx.PrimaryKey != "id" || idx.Documents != 3 || idx.Version != in.Version {
		t.Errorf("indexes/movies/status.json = %+v, store says %+v", idx, in)
	}
	if text := string(f.read("indexes", "movies", "status")); !strings.Contains(text, "movies") {
		t.Errorf("indexes/movies/status does not name the index:\n%s", text)
	}

	all := f.engine.List(task.Filter{})
	if len(all) == 0 {
		t.Fatal("no task after mkdir")
	}
	var want []string
	for _, tk := range all {
		want = append(want, strconv.FormatUint(tk.UID, 10)+".json")
	}
	slices.Sort(want)
	if got := f.names("tasks"); !slices.Equal(got, want) {
		t.Errorf("ls tasks = %v, want %v", got, want)
	}
	for _, tk := range all {
		name := strconv.FormatUint(tk.UID, 10) + ".json"
		var got task.Task
		if err := json.Unmarshal(f.read("tasks", name), &got); err != nil {
			t.Fatalf("tasks/%s: %v", name, err)
		}
		if got.UID != tk.UID || got.Type != tk.Type || got.Status != task.Succeeded {
			t.Errorf("tasks/%s = %+v, engine has %+v", name, got, tk)
		}
		if got := errnoIn(t, syscall.Unlink(f.path("tasks", name))); got != syscall.EPERM {
			t.Errorf("rm of finished tasks/%s: %v, want EPERM", name, got)
		}
	}
	for _, bad := range []string{"1", "01.json", "1.json.json", "x.json"} {
		if _, err := os.Lstat(f.path("tasks", bad)); !os.IsNotExist(err) {
			t.Errorf("lstat tasks/%s: %v, want ENOENT", bad, err)
		}
	}
}
