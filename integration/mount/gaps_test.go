package mount

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// The last commands that the CLI did not do through the mount (issue 9
// item 1): documents add/replace --primary-key of another key, index
// create --primary-key --no-wait, and demo. Each is run unmounted and
// mounted, and says the same.

// sameTask compares the --json task of a mounted run with an unmounted
// one: all but what differs between any two runs (uid, times, duration)
// and the progress of a finished task, which the mount's has not; and the
// keys in ignore.
func sameTask(t *testing.T, what, mounted, unmounted string, ignore ...string) {
	t.Helper()
	norm := func(s string) map[string]any {
		var m map[string]any
		if err := json.Unmarshal([]byte(s), &m); err != nil {
			t.Fatalf("%s --json: %v\n%s", what, err, s)
		}
		for _, k := range []string{"uid", "enqueuedAt", "startedAt", "finishedAt", "duration", "progress"} {
			delete(m, k)
		}
		for _, k := range ignore {
			delete(m, k)
		}
		return m
	}
	a, b := norm(mounted), norm(unmounted)
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	if !bytes.Equal(ja, jb) {
		t.Errorf("%s --json\n mounted:   %s\n unmounted: %s", what, ja, jb)
	}
}

// TestCLIPrimaryKeyMismatchThroughMount: documents add and replace with a
// --primary-key that is not the index's fail as unmounted: the same
// message on stderr, exit 6, and with --json the same failed task and the
// same JSON error line.
func TestCLIPrimaryKeyMismatchThroughMount(t *testing.T) {
	e := newEnv(t, map[string]int{"movies": 20})
	docs := filepath.Join(t.TempDir(), "docs.ndjson")
	writeDocs(t, docs, 1, 5)
	cmds := [][]string{
		{"documents", "add", "movies", "--primary-key", "title", docs},
		{"documents", "replace", "movies", "--primary-key", "title", docs},
		{"documents", "add", "movies", "--primary-key", "title", docs, "--json"},
		{"documents", "replace", "movies", "--primary-key", "title", docs, "--json"},
	}
	var want []result
	for _, c := range cmds {
		r := e.idxfs(c...)
		if r.code != 6 || !strings.Contains(r.stderr, `index_primary_key_mismatch`) {
			t.Fatalf("idxfs %s, unmounted: %v; want exit 6, the mismatch", strings.Join(c, " "), r)
		}
		want = append(want, r)
	}
	before := e.idxfs("documents", "export", "movies").stdout
	e.mount()
	for i, c := range cmds {
		got, what := e.idxfs(c...), "idxfs "+strings.Join(c, " ")
		if got.code != want[i].code || got.stderr != want[i].stderr {
			t.Errorf("%s\n mounted:   %v\n unmounted: %v", what, got, want[i])
		}
		if c[len(c)-1] == "--json" {
			sameTask(t, what, got.stdout, want[i].stdout)
		} else if got.stdout != want[i].stdout {
			t.Errorf("%s: stdout mounted %q, unmounted %q", what, got.stdout, want[i].stdout)
		}
	}
	if e.exportOf("movies") != before {
		t.Error("a refused --primary-key changed the documents")
	}
	// --no-wait: unmounted enqueues the addition, which then fails; the
	// mount runs no addition with a key, so it fails at once, as the
	// waiting command does (DESIGN-NOTES).
	r := e.idxfs("documents", "add", "movies", "--primary-key", "title", docs, "--no-wait")
	if r.code != 6 || r.stderr != want[0].stderr {
		t.Errorf("documents add --primary-key of another key --no-wait through the mount: %v; want %v", r, want[0])
	}
}

var uidIn = regexp.MustCompile(`\b(task|wait) \d+`)

// TestCLICreateWithKeyNoWaitThroughMount: index create --primary-key
// --no-wait prints the creation task at once, as unmounted (text and
// --json); the detached child then writes the key, and the index has it.
// documents add --primary-key --no-wait on an index with no key does the
// same for the key, then the documents.
func TestCLICreateWithKeyNoWaitThroughMount(t *testing.T) {
	e := newEnv(t, nil)
	docs := filepath.Join(t.TempDir(), "docs.ndjson")
	writeDocs(t, docs, 1, 5)
	text := e.idxfs("index", "create", "a", "--primary-key", "sku", "--no-wait")
	js := e.idxfs("index", "create", "b", "--primary-key", "sku", "--no-wait", "--json")
	e.idxfs("index", "create", "keyless")
	add := e.idxfs("documents", "add", "keyless", "--primary-key", "id", docs, "--no-wait")
	if text.code != 0 || js.code != 0 || add.code != 0 {
		t.Fatalf("unmounted: %v\n%v\n%v", text, js, add)
	}
	e.mount()
	e.idxfs("index", "create", "keyless2")
	for _, c := range []struct {
		args []string
		want result
		idx  string
	}{
		{[]string{"index", "create", "c", "--primary-key", "sku", "--no-wait"}, text, "c"},
		{[]string{"index", "create", "d", "--primary-key", "sku", "--no-wait", "--json"}, js, "d"},
		{[]string{"documents", "add", "keyless2", "--primary-key", "id", docs, "--no-wait"}, add, "keyless2"},
	} {
		got, what := e.idxfs(c.args...), "idxfs "+strings.Join(c.args, " ")
		rename := strings.NewReplacer(`"c"`, `"a"`, `"d"`, `"b"`, `"keyless2"`, `"keyless"`)
		if got.code != c.want.code || uidIn.ReplaceAllString(got.stderr, "${1} N") != uidIn.ReplaceAllString(c.want.stderr, "${1} N") {
			t.Errorf("%s\n mounted:   %v\n unmounted: %v", what, got, c.want)
		}
		if strings.HasSuffix(what, "--json") {
			sameTask(t, what, strings.Replace(got.stdout, `"d"`, `"b"`, 1), js.stdout, "status") // enqueued or already processing
		} else if g := rename.Replace(uidIn.ReplaceAllString(got.stdout, "${1} N")); g != uidIn.ReplaceAllString(c.want.stdout, "${1} N") {
			t.Errorf("%s: stdout mounted %q, unmounted %q", what, got.stdout, c.want.stdout)
		}
		var tk task
		if m := enqueuedLine.FindStringSubmatch(got.stdout); m != nil {
			if r := e.idxfs("tasks", "wait", m[1]); r.code != 0 {
				t.Errorf("tasks wait %s after %s: %v", m[1], what, r)
			}
		} else if json.Unmarshal([]byte(got.stdout), &tk) == nil {
			e.idxfs("tasks", "wait", fmt.Sprint(tk.UID))
		}
		key := "sku"
		if c.idx == "keyless2" {
			key = "id"
		}
		until(t, time.Minute, c.idx+"'s primary key", func() bool {
			b, err := os.ReadFile(e.path("indexes", c.idx, "primary-key"))
			return err == nil && string(b) == key+"\n"
		})
	}
	until(t, time.Minute, "keyless2's 5 documents", func() bool {
		return strings.Count(e.exportOf("keyless2"), "\n") == 5
	})
	if c := mountCallChild(t, e.mnt); c != 0 {
		until(t, time.Minute, "every detached child to exit", func() bool { return gone(c) })
	}
}

// demoVaries is what differs between two demo runs on two data dirs: the
// data dir, times, durations, sizes, task uids and index versions.
var demoVaries = []*regexp.Regexp{
	regexp.MustCompile(`\d{4}-\d\d-\d\d[T ][0-9:.]+Z?( UTC)?`),
	regexp.MustCompile(`\d{8}T\d{6}\.\d+Z`),
	regexp.MustCompile(`\d+(\.\d+)?(µs|ms|s)\b`),
	regexp.MustCompile(`\d+(\.\d+)? (B|KiB|MiB|GiB)\b`),
	regexp.MustCompile(`(task|version:?)\s+\d+`),
	regexp.MustCompile(`(?m)^\d+ `),
	regexp.MustCompile(` {2,}`),
}

func normDemo(out, dir string) string {
	out = strings.ReplaceAll(out, dir, "DATA")
	for _, re := range demoVaries {
		out = re.ReplaceAllString(out, "X")
	}
	return out
}

// TestDemoThroughMount: idxfs demo --data-dir D with D mounted loads and
// shows the demo through the mount, as it does unmounted. Through the mount
// the index is created with its key in two tasks (mkdir, then the
// primary-key file), so the task table has an indexUpdate row more.
func TestDemoThroughMount(t *testing.T) {
	e := newEnv(t, nil)
	plain := filepath.Join(t.TempDir(), "plain")
	want := run(t, nil, bin, "demo", "--data-dir", plain)
	if want.code != 0 {
		t.Fatalf("demo unmounted: %v", want)
	}
	e.mount()
	got := e.idxfs("demo")
	if got.code != 0 || got.stderr != want.stderr {
		t.Fatalf("demo through the mount: %v; unmounted: %v", got, want)
	}
	lines := strings.Split(got.stdout, "\n")
	kept := lines[:0]
	for _, l := range lines {
		if !strings.Contains(l, " indexUpdate ") {
			kept = append(kept, l)
		}
	}
	if len(kept) != len(lines)-1 {
		t.Errorf("demo through the mount: want one indexUpdate task row, got %d", len(lines)-len(kept))
	}
	if g, w := normDemo(strings.Join(kept, "\n"), e.data), normDemo(want.stdout, plain); g != w {
		t.Errorf("demo through the mount:\n%s\nunmounted:\n%s", g, w)
	}
	if n := strings.Count(e.exportOf("movies"), "\n"); n != 4000 {
		t.Errorf("after the demo through the mount: %d documents, want 4000", n)
	}
	if b, err := os.ReadFile(e.path("indexes", "movies", "primary-key")); err != nil || string(b) != "id\n" {
		t.Errorf("movies' primary-key after the demo: %q, %v", b, err)
	}
}
