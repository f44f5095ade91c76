package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/idxfs/idxfs/index"
	"github.com/idxfs/idxfs/snapshot"
	"github.com/idxfs/idxfs/task"
)

// TestExitCodes provokes every row of the README's exit-code table that one
// process can reach, and checks that the error line names the thing.
func TestExitCodes(t *testing.T) {
	t.Parallel()
	// Fixtures; each test gets its own data dir and scratch dir.
	empty := func(t *testing.T, data, scratch string) {}
	films := func(t *testing.T, data, scratch string) {
		mustIn(t, data, nil, "index", "create", "films", "--primary-key", "id")
		mustIn(t, data, strings.NewReader(threeDocs), "documents", "add", "films")
	}
	filmsAndArchive := func(t *testing.T, data, scratch string) {
		films(t, data, scratch)
		mustIn(t, data, nil, "snapshot", "create", "films", "-o", filepath.Join(scratch, "films.tgz"))
		archive, err := os.ReadFile(filepath.Join(scratch, "films.tgz"))
		if err != nil {
			t.Fatal(err)
		}
		write(t, filepath.Join(scratch, "truncated.tgz"), archive[:len(archive)/2])
		write(t, filepath.Join(scratch, "garbage.tgz"), []byte("this is not an archive\n"))
	}
	newer := func(t *testing.T, data, scratch string) {
		films(t, data, scratch)
		write(t, filepath.Join(data, "VERSION"), []byte(fmt.Sprintln(dataDirVersion+1)))
	}
	long := strings.Repeat("n", 401)

	tests := []struct {
		name    string
		fixture func(t *testing.T, data, scratch string)
		stdin   string   // or SCRATCH/FILE: that file
		args    []string // after --data-dir DATA; SCRATCH/ is the scratch dir
		code    int
		stderr  []string // the error line names these; DATA is the data dir
	}{
		{"success", films, "", []string{"index", "show", "films"}, exitOK, nil},
		{"task uid as the mount's file name", films, "", []string{"tasks", "show", "1.json"}, exitOK, nil},
		{"Huffman-only compression", films, "", []string{"snapshot", "create", "films", "-o", "SCRATCH/h.tgz", "--compression-level", "-2"}, exitOK, nil},

		{"missing argument", empty, "", []string{"index", "show"}, exitUsage, []string{"index show NAME"}},
		{"missing arguments", empty, "", []string{"documents", "delete", "films"}, exitUsage, []string{"documents delete INDEX ID..."}},
		{"too many arguments", empty, "", []string{"index", "create", "a", "b"}, exitUsage, []string{"index create NAME"}},
		{"flag without its value", empty, "", []string{"index", "create", "films", "--primary-key"}, exitUsage, []string{"--primary-key"}},
		{"unexpected argument: index list", empty, "", []string{"index", "list", "films"}, exitUsage, []string{"usage: idxfs index list"}},
		{"unexpected argument: tasks list", empty, "", []string{"tasks", "list", "films"}, exitUsage, []string{"usage: idxfs tasks list"}},
		{"unexpected argument: version", empty, "", []string{"version", "x"}, exitUsage, []string{"usage: idxfs version"}},
		{"unexpected argument: demo", empty, "", []string{"demo", "x"}, exitUsage, []string{"usage: idxfs demo"}},
		{"unknown flag", empty, "", []string{"index", "list", "--bogus"}, exitUsage, []string{"bogus"}},
		{"unknown command", empty, "", []string{"bogus"}, exitUsage, []string{`"bogus"`}},
		{"unknown subcommand", empty, "", []string{"index", "bogus"}, exitUsage, []string{`"bogus"`, "index"}},
		{"bad log level", empty, "", []string{"--log-level", "loud", "index", "list"}, exitUsage, []string{`"loud"`}},
		{"bad log level, no data dir", filmsAndArchive, "", []string{"snapshot", "verify", "SCRATCH/films.tgz", "--log-level", "loud"}, exitUsage, []string{`"loud"`}},
		{"bad log format, no data dir", empty, "", []string{"version", "--log-format", "xml"}, exitUsage, []string{`"xml"`}},
		{"bad log format", empty, "", []string{"--log-format", "xml", "index", "list"}, exitUsage, []string{`"xml"`}},
		{"bad task uid", empty, "", []string{"tasks", "show", "abc"}, exitUsage, []string{`"abc"`}},
		{"snapshot-keep 0", empty, "", []string{"--snapshot-keep", "0", "index", "list"}, exitUsage, []string{"--snapshot-keep 0", "1 or more"}},
		{"workers 0", empty, "", []string{"index", "list", "--workers", "0"}, exitUsage, []string{"--workers 0", "1 or more"}},
		{"negative workers", empty, "", []string{"--workers=-2", "version"}, exitUsage, []string{"--workers -2", "1 or more"}},
		{"import-grace 0", empty, "", []string{"mount", "SCRATCH/mnt", "--import-grace", "0s"}, exitUsage, []string{"--import-grace 0s", "above 0"}},
		{"negative shutdown-grace", empty, "", []string{"mount", "SCRATCH/mnt", "--shutdown-grace=-1s"}, exitUsage, []string{"--shutdown-grace -1s", "0"}},
		{"compression level 0", empty, "", []string{"--compression-level", "0", "index", "list"}, exitUsage, []string{"--compression-level 0"}},
		{"compression level -1", empty, "", []string{"index", "list", "--compression-level", "-1"}, exitUsage, []string{"--compression-level -1"}},
		{"compression level 10", empty, "", []string{"index", "list", "--compression-level", "10"}, exitUsage, []string{"--compression-level 10"}},
		{"bad task file name", empty, "", []string{"tasks", "show", "1.json.json"}, exitUsage, []string{`"1.json"`}},
		{"bad status filter", empty, "", []string{"tasks", "list", "--status", "done"}, exitUsage, []string{`"done"`}},
		{"output with no-wait", films, "", []string{"snapshot", "create", "films", "-o", "SCRATCH/x.tgz", "--no-wait"}, exitUsage, []string{"--output", "--no-wait"}},
		{"stdin import with no-wait", empty, "", []string{"snapshot", "import", "-", "--as", "x", "--no-wait"}, exitUsage, []string{"--no-wait"}},

		// A data dir held by another process: see the integration tests.
		{"newer data dir", newer, "", []string{"index", "list"}, exitDataDir, []string{"DATA", fmt.Sprint("version ", dataDirVersion+1)}},

		{"no index: show", empty, "", []string{"index", "show", "nope"}, exitNotFound, []string{`"nope"`}},
		{"no index: delete", empty, "", []string{"index", "delete", "nope"}, exitNotFound, []string{`"nope"`}},
		{"no index: add", empty, `{"id":1}`, []string{"documents", "add", "nope"}, exitNotFound, []string{`"nope"`}},
		{"no index: export", empty, "", []string{"documents", "export", "nope"}, exitNotFound, []string{`"nope"`}},
		{"no index: delete documents", empty, "", []string{"documents", "delete", "nope", "1"}, exitNotFound, []string{`"nope"`}},
		{"no index: snapshot", empty, "", []string{"snapshot", "create", "nope"}, exitNotFound, []string{`"nope"`}},
		{"no document", films, "", []string{"documents", "get", "films", "999"}, exitNotFound, []string{`"films"`, `"999"`}},
		{"no task: show", empty, "", []string{"tasks", "show", "99"}, exitNotFound, []string{"task 99"}},
		{"no task: wait", empty, "", []string{"tasks", "wait", "99"}, exitNotFound, []string{"task 99"}},
		{"no task: cancel", empty, "", []string{"tasks", "cancel", "99"}, exitNotFound, []string{"task 99"}},
		{"no file: add", films, "", []string{"documents", "add", "films", "SCRATCH/missing.ndjson"}, exitNotFound, []string{"missing.ndjson"}},
		{"no file: import", empty, "", []string{"snapshot", "import", "SCRATCH/missing.tgz", "--as", "x"}, exitNotFound, []string{"missing.tgz"}},
		{"no directory: snapshot -o", films, "", []string{"snapshot", "create", "films", "-o", "SCRATCH/missing/x.tgz"}, exitNotFound, []string{"missing/x.tgz"}},
		{"no file: verify", empty, "", []string{"snapshot", "verify", "SCRATCH/missing.tgz"}, exitNotFound, []string{"missing.tgz"}},

		{"index exists", films, "", []string{"index", "create", "films"}, exitExists, []string{`"films"`}},
		{"import onto an index", filmsAndArchive, "", []string{"snapshot", "import", "SCRATCH/films.tgz", "--as", "films"}, exitExists, []string{`"films"`}},
		{"import onto its own name", filmsAndArchive, "", []string{"snapshot", "import", "SCRATCH/films.tgz"}, exitExists, []string{`"films"`}},

		{"bad index name", empty, "", []string{"index", "create", "bad name"}, exitInvalid, []string{`"bad name"`}},
		{"index name too long", empty, "", []string{"index", "create", long}, exitInvalid, []string{"401"}},
		{"cancel a finished task", films, "", []string{"tasks", "cancel", "1"}, exitInvalid, []string{"task 1", "succeeded"}},
		{"import of a directory", empty, "", []string{"snapshot", "import", "SCRATCH/.", "--as", "x"}, exitInvalid, []string{"a directory"}},
		{"bad import name", filmsAndArchive, "", []string{"snapshot", "import", "SCRATCH/films.tgz", "--as", "a/b"}, exitInvalid, []string{`"a/b"`}},
		{"document without primary key", films, threeDocs + `{"title":"no id"}` + "\n", []string{"documents", "add", "films"}, exitInvalid, []string{`"films"`, "line 4"}},
		{"malformed NDJSON", films, `{"id":5}` + "\n" + `{"id":6,` + "\n", []string{"documents", "add", "films"}, exitInvalid, []string{`"films"`, "line 2"}},
		{"bad id in an array", films, `[{"id":5},{"id":6},{"id":"a b"}]`, []string{"documents", "replace", "films"}, exitInvalid, []string{`"films"`, "document 3"}},
		{"bad id to delete", films, "", []string{"documents", "delete", "films", "1", "a b"}, exitInvalid, []string{`"a b"`}},
		{"not an archive", filmsAndArchive, "", []string{"snapshot", "import", "SCRATCH/garbage.tgz", "--as", "g"}, exitInvalid, []string{`"g"`}},
		{"truncated archive", filmsAndArchive, "", []string{"snapshot", "import", "SCRATCH/truncated.tgz", "--as", "tr"}, exitInvalid, []string{`"tr"`, "truncated"}},
		{"truncated archive on stdin", filmsAndArchive, "SCRATCH/truncated.tgz", []string{"snapshot", "import", "-", "--as", "tr"}, exitInvalid, []string{`"tr"`, "truncated"}},
		{"verify a truncated archive", filmsAndArchive, "", []string{"snapshot", "verify", "SCRATCH/truncated.tgz"}, exitInvalid, []string{"truncated.tgz"}},
		{"inspect garbage", filmsAndArchive, "", []string{"snapshot", "inspect", "SCRATCH/garbage.tgz"}, exitInvalid, []string{"garbage.tgz"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			data, scratch := t.TempDir(), t.TempDir()
			tt.fixture(t, data, scratch)
			args := make([]string, len(tt.args))
			for i, a := range tt.args {
				args[i] = strings.ReplaceAll(a, "SCRATCH/", scratch+"/")
			}
			stdin := tt.stdin
			if name, ok := strings.CutPrefix(stdin, "SCRATCH/"); ok {
				b, err := os.ReadFile(filepath.Join(scratch, name))
				if err != nil {
					t.Fatal(err)
				}
				stdin = string(b)
			}
			r := in(t, data, strings.NewReader(stdin), args...)
			if r.code != tt.code {
				t.Fatalf("idxfs %s: got exit %d, want %d\n%s", strings.Join(tt.args, " "), r.code, tt.code, r)
			}
			if tt.code == exitOK {
				return
			}
			// One line, from main, that names the thing.
			line := lastLine(r.stderr)
			if !strings.HasPrefix(line, "idxfs: ") {
				t.Fatalf("stderr does not end with the error line:\n%s", r.stderr)
			}
			for _, s := range tt.stderr {
				if s == "DATA" {
					s = data
				}
				if !strings.Contains(line, s) {
					t.Errorf("error line %q does not name %s", line, s)
				}
			}
		})
	}
}

// TestExitCanceled: waiting for a task that is then canceled exits 8.
func TestExitCanceled(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	uid := enqueue(t, data, "index", "create", "films")
	if r := mustIn(t, data, nil, "tasks", "cancel", uid); !strings.Contains(r.stdout, "canceled") {
		t.Fatalf("tasks cancel %s: %s", uid, r)
	}
	r := in(t, data, nil, "tasks", "wait", uid)
	if r.code != exitCanceled {
		t.Fatalf("tasks wait %s: got exit %d, want %d\n%s", uid, r.code, exitCanceled, r)
	}
	if line := lastLine(r.stderr); !strings.Contains(line, "task "+uid) {
		t.Errorf("error line %q does not name task %s", line, uid)
	}
	if r := in(t, data, nil, "index", "show", "films"); r.code != exitNotFound {
		t.Errorf("the canceled creation made index films: %s", r)
	}
}

// enqueue runs a command with --no-wait --json and returns its task uid.
func enqueue(t *testing.T, data string, args ...string) string {
	t.Helper()
	var task struct {
		UID    uint64 `json:"uid"`
		Status string `json:"status"`
	}
	decode(t, mustIn(t, data, nil, append(args, "--no-wait", "--json")...).stdout, &task)
	if task.UID == 0 || task.Status != "enqueued" {
		t.Fatalf("idxfs %s --no-wait --json: %+v", strings.Join(args, " "), task)
	}
	return itoa(task.UID)
}

func decode(t *testing.T, s string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(s), v); err != nil {
		t.Fatalf("%v in:\n%s", err, s)
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return lines[len(lines)-1]
}

func write(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestExitInterruptedReadingStdin: Ctrl-C (ctx ending, in main) while a
// command reads a stdin that has not ended - a terminal, or a pipe whose
// writer is still open - stops it at once with exit 130, and nothing is
// enqueued.
func TestExitInterruptedReadingStdin(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args  []string
		first string // written before the command is left waiting for more
	}{
		{[]string{"documents", "add", "films"}, `{"id":7,"title":"seven"}` + "\n"},
		{[]string{"documents", "replace", "films", "-"}, ""},
		{[]string{"snapshot", "import", "-", "--as", "films2"}, ""},
		{[]string{"snapshot", "verify", "-"}, ""},
		{[]string{"snapshot", "inspect", "-"}, ""},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			t.Parallel()
			data := newIndex(t)
			pr, pw := io.Pipe()
			// A read blocks after those that return what was written.
			blockingRead := 1
			if tt.first != "" {
				blockingRead = 2
			}
			stdin := &notifyReader{r: pr, at: blockingRead, reading: make(chan struct{})}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done, finished := make(chan result, 1), make(chan struct{})
			go func() {
				defer close(finished)
				done <- idxfsCtx(t, ctx, stdin, append([]string{"--data-dir", data}, tt.args...)...)
			}()
			// If the command is still blocked when the test ends, end
			// its input and let it finish before the data dir goes.
			t.Cleanup(func() {
				pw.Close()
				<-finished
			})
			if tt.first != "" {
				if _, err := pw.Write([]byte(tt.first)); err != nil {
					t.Fatal(err)
				}
			}
			select {
			case <-stdin.reading:
			case r := <-done:
				t.Fatalf("the command returned before it waited for input: %s", r)
			}
			cancel()
			var r result
			select {
			case r = <-done:
			case <-time.After(20 * time.Second):
				t.Fatal("the command did not return within 20s after its context ended")
			}
			if r.code != exitInterrupted {
				t.Fatalf("got exit %d, want %d\n%s", r.code, exitInterrupted, r)
			}
			var ts []struct{ Type string }
			decode(t, mustIn(t, data, nil, "tasks", "list", "--json").stdout, &ts)
			if len(ts) != 2 {
				t.Errorf("tasks after the interrupted command: %+v, want only the fixture's two", ts)
			}
			if got := mustIn(t, data, nil, "documents", "export", "films").stdout; got != threeDocs {
				t.Errorf("the index changed:\n%s", got)
			}
		})
	}
}

// notifyReader closes reading when read number at starts.
type notifyReader struct {
	r       io.Reader
	reads   int
	at      int
	reading chan struct{}
}

func (n *notifyReader) Read(p []byte) (int, error) {
	n.reads++
	if n.reads == n.at {
		close(n.reading)
	}
	return n.r.Read(p)
}

// TestEveryCodeHasAnExit walks every code task.Classify can return: a code
// added to task without a row in codeExit fails here. failed is the exit of
// a task that failed with the code; call that of the same code as an error
// of the command itself.
func TestEveryCodeHasAnExit(t *testing.T) {
	t.Parallel()
	type exits struct{ failed, call int }
	want := map[string]exits{}
	for e, codes := range map[exits][]string{
		{3, 3}: {task.CodeDataDirUnusable},
		{4, 4}: {task.CodeIndexNotFound, task.CodeSnapshotNotFound, task.CodeDocumentNotFound,
			task.CodeTaskNotFound, task.CodeFileNotFound},
		{5, 5}: {task.CodeIndexAlreadyExists},
		{6, 6}: {task.CodeInvalidIndexUID, task.CodeInvalidDocument, task.CodeMalformedPayload,
			task.CodeMissingPrimaryKey, task.CodeInvalidDocumentID, task.CodePrimaryKey,
			task.CodeInvalidSnapshot, task.CodeSnapshotIncompat, task.CodeSnapshotTooLarge,
			task.CodeInvalidTaskRequest, task.CodeTaskFinished},
		{7, 7}: {task.CodeNoSpaceLeft},
		{7, 1}: {task.CodeDatabaseFailed, task.CodeInterrupted, task.CodeCorruptIndex,
			task.CodeInternal, task.CodePayloadMissing},
		{8, 8}:     {task.CodeTaskCanceled},
		{1, 1}:     {task.CodeEngineClosed},
		{130, 130}: {task.CodeCallerInterrupted},
	} {
		for _, c := range codes {
			want[c] = e
		}
	}
	// Snapshot lifecycle (issue 9 item 6).
	want[task.CodeStoredSnapshotNotFound] = exits{4, 4}
	want[task.CodeAmbiguousSnapshotID] = exits{6, 6}
	for _, c := range task.Codes {
		if _, ok := codeExit[c]; !ok {
			t.Errorf("code %q has no exit code in codeExit", c)
		}
		w, ok := want[c]
		if !ok {
			t.Errorf("code %q: add its exit codes to this test", c)
			continue
		}
		if got := exitCode(&task.Error{Message: "m", Code: c}); got != w.failed {
			t.Errorf("a task failed with %q: exit %d, want %d", c, got, w.failed)
		}
		if got := codeExit[c].call; got != w.call {
			t.Errorf("code %q of the command itself: exit %d, want %d", c, got, w.call)
		}
	}
	if len(codeExit) != len(task.Codes) {
		t.Errorf("codeExit has %d rows for %d codes", len(codeExit), len(task.Codes))
	}
}

// TestExitCode maps errors of the command itself, by their code.
func TestExitCode(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		err  error
		want int
	}{
		{nil, exitOK},
		{usageError{"x"}, exitUsage},
		{canceledError{3}, exitCanceled},
		{mountError{syscall.ENOENT}, exitMount},
		{fmt.Errorf("wait: %w", context.Canceled), exitInterrupted},
		{&index.LockedError{Dir: "/d"}, exitDataDir},
		{fmt.Errorf("x: %w", index.ErrDataDirVersion), exitDataDir},
		{fmt.Errorf("x: %w", index.ErrUnsafeDataDir), exitDataDir},
		{fmt.Errorf("index %q: %w", "x", index.ErrNotFound), exitNotFound},
		{fmt.Errorf("x: %w", index.ErrDocumentNotFound), exitNotFound},
		{fmt.Errorf("task 9: %w", task.ErrTaskNotFound), exitNotFound},
		{fmt.Errorf("import: %w", task.ErrSnapshotFileNotFound), exitNotFound},
		{&os.PathError{Op: "open", Path: "x", Err: syscall.ENOENT}, exitNotFound},
		{fmt.Errorf("x: %w", index.ErrExists), exitExists},
		{fmt.Errorf("import: %w", snapshot.ErrCorrupt), exitInvalid},
		{fmt.Errorf("%w: no ids", task.ErrInvalid), exitInvalid},
		{fmt.Errorf("task 1 is succeeded: %w", task.ErrFinished), exitInvalid},
		{fmt.Errorf("payload: %w", syscall.ENOSPC), exitTaskFailed},
		{fmt.Errorf("payload: %w", syscall.EDQUOT), exitTaskFailed},
		{fmt.Errorf("x: %w", index.ErrCorrupt), exitFailure},
		{fmt.Errorf("x: %w", index.ErrFailed), exitFailure},
		{task.ErrClosed, exitFailure},
		{errors.New("odd"), exitFailure},
		{&task.Error{Code: "something_new"}, exitTaskFailed},
	} {
		if got := exitCode(tt.err); got != tt.want {
			t.Errorf("exitCode(%v) = %d, want %d", tt.err, got, tt.want)
		}
	}
}
