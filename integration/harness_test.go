package integration

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/idxfs/idxfs/integration/bintest"
)

// binary is the idxfs binary that TestMain builds.
var binary string

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	tmp, err := os.MkdirTemp("", "idxfs-integration-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(tmp)
	if binary, err = bintest.Build(tmp); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

// cmdTimeout bounds every run of the binary.
const cmdTimeout = 2 * time.Minute

// requireTool skips t if the tool is not installed, or fails it when
// IDXFS_REQUIRE_FUSE=1 (CI, where every tool must be there).
func requireTool(t *testing.T, name string) string { return bintest.RequireTool(t, name) }

// command is the binary run on dataDir with args, killed when ctx ends.
func command(ctx context.Context, dataDir string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, binary, append([]string{"--data-dir", dataDir}, args...)...)
	cmd.Env = append(os.Environ(), "IDXFS_DATA_DIR=") // only --data-dir counts
	cmd.WaitDelay = 10 * time.Second
	return cmd
}

// idxfs runs `idxfs --data-dir dataDir args...` with an empty stdin and
// returns what it wrote and its exit code.
func idxfs(t *testing.T, dataDir string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	return idxfsIO(t, dataDir, nil, nil, args...)
}

// idxfsIO is idxfs with stdin read from in (nil: empty) and stdout written
// to out (nil: returned).
func idxfsIO(t *testing.T, dataDir string, in io.Reader, out io.Writer, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	cmd := command(ctx, dataDir, args...)
	var o, e bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = in, &o, &e
	if out != nil {
		cmd.Stdout = out
	}
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("idxfs %s: no exit within %v\nstderr:\n%s", strings.Join(args, " "), cmdTimeout, e.String())
	}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee) && ee.Exited():
		code = ee.ExitCode()
	default:
		t.Fatalf("idxfs %s: %v\nstderr:\n%s", strings.Join(args, " "), err, e.String())
	}
	return o.String(), e.String(), code
}

// harness is one check's data dir and scratch dir.
type harness struct {
	t    *testing.T
	data string // the data dir
	dir  string // files the check writes
}

func newHarness(t *testing.T) *harness {
	return &harness{t: t, data: t.TempDir(), dir: t.TempDir()}
}

// run runs idxfs on the harness's data dir.
func (h *harness) run(args ...string) (stdout, stderr string, code int) {
	h.t.Helper()
	return idxfs(h.t, h.data, args...)
}

// runIn runs idxfs with stdin from in.
func (h *harness) runIn(in io.Reader, args ...string) (stdout, stderr string, code int) {
	h.t.Helper()
	return idxfsIO(h.t, h.data, in, nil, args...)
}

// must runs idxfs and fails the check unless it exits 0; it returns stdout.
func (h *harness) must(args ...string) string {
	h.t.Helper()
	return h.mustIn(nil, args...)
}

func (h *harness) mustIn(in io.Reader, args ...string) string {
	h.t.Helper()
	stdout, stderr, code := idxfsIO(h.t, h.data, in, nil, args...)
	if code != 0 {
		h.t.Fatalf("idxfs %s: exit %d\nstderr:\n%s", strings.Join(args, " "), code, stderr)
	}
	return stdout
}

// mustJSON runs idxfs and decodes its stdout into v.
func (h *harness) mustJSON(v any, args ...string) {
	h.t.Helper()
	out := h.must(args...)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		h.t.Fatalf("idxfs %s: %v in:\n%s", strings.Join(args, " "), err, out)
	}
}

// path is a file in the scratch dir.
func (h *harness) path(name string) string { return filepath.Join(h.dir, name) }

// write writes a file in the scratch dir and returns its path.
func (h *harness) write(name string, data []byte) string {
	h.t.Helper()
	p := h.path(name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		h.t.Fatal(err)
	}
	return p
}

// indexInfo is what `index show --json` says that the checks read.
type indexInfo struct {
	UID               string `json:"uid"`
	PrimaryKey        string `json:"primaryKey"`
	NumberOfDocuments int    `json:"numberOfDocuments"`
	Version           uint64 `json:"version"`
}

func (h *harness) show(name string) indexInfo {
	h.t.Helper()
	var in indexInfo
	h.mustJSON(&in, "index", "show", name, "--json")
	return in
}

// taskInfo is what `tasks list --json` says that the checks read.
type taskInfo struct {
	UID    uint64 `json:"uid"`
	Type   string `json:"type"`
	Status string `json:"status"`
	Error  *struct {
		Code string `json:"code"`
	} `json:"error"`
}

// command is idxfs on the harness's data dir, to start with start. It is
// killed after cmdTimeout, or when the check ends.
func (h *harness) command(args ...string) *exec.Cmd {
	ctx, cancel := context.WithTimeout(h.t.Context(), cmdTimeout)
	h.t.Cleanup(cancel)
	return command(ctx, h.data, args...)
}

// proc is idxfs running in the background.
type proc struct {
	*exec.Cmd
	exited chan struct{} // closed once it exited; err is then set
	err    error
}

// start starts cmd (made by command, with its pipes set) and waits for it
// in the background. The check's cleanup kills it if it still runs.
func (h *harness) start(cmd *exec.Cmd) *proc {
	h.t.Helper()
	if err := cmd.Start(); err != nil {
		h.t.Fatal(err)
	}
	p := &proc{Cmd: cmd, exited: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.exited)
	}()
	h.t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			cmd.Process.Kill()
			<-p.exited
		}
	})
	return p
}

// wait waits up to d for p to exit and returns its exit code.
func (p *proc) wait(t *testing.T, d time.Duration) int {
	t.Helper()
	select {
	case <-p.exited:
	case <-time.After(d):
		t.Fatalf("%s still runs after %v", strings.Join(p.Args, " "), d)
	}
	var ee *exec.ExitError
	switch {
	case p.err == nil:
		return 0
	case errors.As(p.err, &ee) && ee.Exited():
		return ee.ExitCode()
	}
	t.Fatalf("%s: %v", strings.Join(p.Args, " "), p.err)
	return -1
}

// lineWatcher collects what a process writes to a pipe and tells when a
// line containing want first appears.
type lineWatcher struct {
	want  string
	pw    *os.File      // the write end, for the process
	found chan struct{} // closed when a line containing want was read
	eof   chan struct{} // closed when the writer closed the pipe
	mu    sync.Mutex
	text  strings.Builder
}

// watchStderr sends cmd's stderr to a new lineWatcher. Call it before
// starting cmd; the pipe's write end is closed once cmd started.
func watchStderr(t *testing.T, cmd *exec.Cmd, want string) *lineWatcher {
	t.Helper()
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = pw
	w := &lineWatcher{want: want, pw: pw, found: make(chan struct{}), eof: make(chan struct{})}
	go func() {
		defer close(w.eof)
		defer pr.Close()
		sc := bufio.NewScanner(pr)
		seen := false
		for sc.Scan() {
			w.mu.Lock()
			w.text.WriteString(sc.Text() + "\n")
			w.mu.Unlock()
			if !seen && strings.Contains(sc.Text(), want) {
				seen = true
				close(w.found)
			}
		}
	}()
	t.Cleanup(func() { pw.Close() }) // in case cmd never started
	return w
}

// started closes this process's copy of the write end, so that the pipe
// ends with the process: call it once the process started.
func (w *lineWatcher) started() { w.pw.Close() }

func (w *lineWatcher) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.text.String()
}

// movie is a document like those of the demo.
type movie struct {
	ID       int      `json:"id"`
	Title    string   `json:"title"`
	Overview string   `json:"overview"`
	Genres   []string `json:"genres"`
	Year     int      `json:"year"`
	Rating   float64  `json:"rating"`
}

var (
	words  = strings.Fields("hollow window kyoto lost tide cairo silent river last summer iron garden night train paper moon")
	genres = strings.Fields("Drama Comedy Horror Romance Adventure Thriller Documentary Science-Fiction")
)

// newMovie is movie id at revision rev, with an overview of about pad bytes.
func newMovie(id, rev, pad int) movie {
	w := func(i int) string { return words[(id*7+i*13+rev)%len(words)] }
	ov := fmt.Sprintf("Revision %d of movie %d: a %s %s meets a %s %s.", rev, id, w(1), w(2), w(3), w(4))
	for len(ov) < pad {
		ov += " " + w(len(ov))
	}
	return movie{
		ID:       id,
		Title:    strings.ToUpper(w(0)[:1]) + w(0)[1:] + " " + w(5),
		Overview: ov,
		Genres:   []string{genres[id%len(genres)], genres[(id/3+rev)%len(genres)]},
		Year:     1920 + (id*31)%100,
		Rating:   float64((id*17+rev)%100) / 10,
	}
}

// writeNDJSON writes movies from..to-1 at revision rev, one per line.
func writeNDJSON(w io.Writer, from, to, rev, pad int) error {
	bw := bufio.NewWriterSize(w, 1<<20)
	enc := json.NewEncoder(bw)
	for id := from; id < to; id++ {
		if err := enc.Encode(newMovie(id, rev, pad)); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// ndjson is writeNDJSON to memory with short overviews: it is also what
// `documents export` prints for those movies.
func ndjson(from, to, rev int) []byte {
	var b bytes.Buffer
	writeNDJSON(&b, from, to, rev, 0)
	return b.Bytes()
}

// jsonArray is the same movies as one JSON array, spread over lines.
func jsonArray(from, to, rev int) []byte {
	var ms []movie
	for id := from; id < to; id++ {
		ms = append(ms, newMovie(id, rev, 0))
	}
	b, _ := json.MarshalIndent(ms, "", "  ")
	return b
}
