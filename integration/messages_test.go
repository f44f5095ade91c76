package integration

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestMessages pins the CLI's messages for the common failures (issue 9):
// one clean line, no package prefixes repeated, the fix where there is
// one, and the exit codes of the README's table.
func TestMessages(t *testing.T) {
	h := newHarness(t)
	h.must("index", "create", "movies", "--primary-key", "id")
	arch := h.path("movies.tar.gz")
	h.must("snapshot", "create", "movies", "-o", arch)
	bad := h.path("bad.tar.gz")
	if err := os.WriteFile(bad, []byte("{\"id\":1}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	mnt := h.path("no-such-mountpoint")
	for _, c := range []struct {
		args []string
		code int
		want string // the whole of stderr
	}{
		{[]string{"index", "show", "nope"}, 4, `idxfs: index "nope": not found; idxfs index list lists the indexes`},
		{[]string{"index", "delete", "nope"}, 4, `idxfs: index "nope": not found (index_not_found); idxfs index list lists the indexes`},
		{[]string{"documents", "get", "movies", "7"}, 4, `idxfs: index "movies": document "7": not found`},
		{[]string{"tasks", "show", "99"}, 4, `idxfs: task 99: not found; idxfs tasks list lists the tasks`},
		{[]string{"index", "create", "movies"}, 5, `idxfs: index "movies": already exists (index_already_exists)`},
		{[]string{"index", "create", "bad name"}, 6, `idxfs: invalid index name "bad name": character ' ' at byte 3 is not one of A-Z a-z 0-9 _ -`},
		{[]string{"snapshot", "import", arch}, 5, fmt.Sprintf(`idxfs: index "movies": already exists; replace it with: idxfs snapshot import %s --replace; or import it under another name with: idxfs snapshot import %s --as NAME`, arch, arch)},
		{[]string{"snapshot", "import", arch, "--as", "bad name"}, 6, fmt.Sprintf(`idxfs: invalid index name "bad name": character ' ' at byte 3 is not one of A-Z a-z 0-9 _ -; give the new index a name with: idxfs snapshot import %s --as NAME`, arch)},
		{[]string{"snapshot", "import", h.path("missing.tar.gz"), "--as", "m2"}, 4, fmt.Sprintf(`idxfs: import %q: no such archive file`, h.path("missing.tar.gz"))},
		{[]string{"snapshot", "import", bad, "--as", "m2"}, 6, `idxfs: import "m2": corrupt archive: not a gzip stream (invalid_snapshot)`},
		{[]string{"mount", h.data, mnt}, 9, fmt.Sprintf(`idxfs: mountpoint %s: no such file or directory (create it first: mkdir -p %s)`, mnt, mnt)},
		{[]string{"unmount", h.dir}, 9, fmt.Sprintf(`idxfs: %s is not an idxfs mount (nothing is mounted there)`, h.dir)},
	} {
		_, stderr, code := h.run(c.args...)
		if code != c.code || stderr != c.want+"\n" {
			t.Errorf("idxfs %s: exit %d, stderr:\n%s\nwant exit %d, stderr:\n%s", strings.Join(c.args, " "), code, stderr, c.code, c.want)
		}
		for _, prefix := range []string{"index: ", "task: ", "snapshot: "} {
			if strings.Contains(stderr, prefix) {
				t.Errorf("idxfs %s: a package prefix %q in %q", strings.Join(c.args, " "), prefix, stderr)
			}
		}
	}
}

// TestUnmountRefusesOtherMounts: `idxfs unmount` of a mount that is not
// idxfs's says so (exit 9) and leaves it mounted.
func TestUnmountRefusesOtherMounts(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "idxfs-test", dir).CombinedOutput(); err != nil {
		t.Skipf("mount -t tmpfs: %v %s", err, out)
	}
	defer exec.Command("umount", dir).Run()
	_, stderr, code := idxfs(t, t.TempDir(), "unmount", dir)
	if want := fmt.Sprintf("idxfs: %s is not an idxfs mount (it is a tmpfs mount): left alone\n", dir); code != 9 || stderr != want {
		t.Errorf("idxfs unmount %s: exit %d, %q; want exit 9, %q", dir, code, stderr, want)
	}
	if out, err := exec.Command("findmnt", "-no", "FSTYPE", dir).Output(); err != nil || strings.TrimSpace(string(out)) != "tmpfs" {
		t.Errorf("%s is no longer mounted: %v %s", dir, err, out)
	}
}

// TestTextOutput: counts take the right plural, and times in tables carry
// their zone.
func TestTextOutput(t *testing.T) {
	h := newHarness(t)
	h.must("index", "create", "movies", "--primary-key", "id")
	for _, c := range []struct {
		docs string
		want string
	}{
		{`{"id":1}`, `added or updated 1 document in "movies" (1 received,`},
		{"{\"id\":2}\n{\"id\":3}", `added or updated 2 documents in "movies" (2 received,`},
	} {
		out := h.mustIn(strings.NewReader(c.docs), "documents", "add", "movies", "-")
		if !strings.HasPrefix(out, c.want) {
			t.Errorf("documents add: %q, want it to start with %q", out, c.want)
		}
	}
	if out := h.must("documents", "delete", "movies", "1"); !strings.HasPrefix(out, `deleted 1 of 1 document from "movies"`) {
		t.Errorf("documents delete: %q", out)
	}
	// Times in tables: local time with its zone.
	for _, tz := range []struct{ tz, zone string }{{"UTC", "UTC"}, {"Asia/Tokyo", "JST"}} {
		for _, args := range [][]string{{"index", "list"}, {"tasks", "list"}} {
			cmd := exec.Command(binary, append([]string{"--data-dir", h.data}, args...)...)
			cmd.Env = append(os.Environ(), "TZ="+tz.tz)
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("TZ=%s idxfs %s: %v", tz.tz, strings.Join(args, " "), err)
			}
			if !regexp.MustCompile(`\d{4}-\d\d-\d\d \d\d:\d\d:\d\d ` + tz.zone + `\b`).Match(out) {
				t.Errorf("TZ=%s idxfs %s: no time with zone %s in\n%s", tz.tz, strings.Join(args, " "), tz.zone, out)
			}
		}
	}
}

// TestReadingCommandsCreateNoDataDir: a command that only reads, given a
// data dir that does not exist, fails (exit 4) saying so, and creates
// nothing.
func TestReadingCommandsCreateNoDataDir(t *testing.T) {
	data := filepath.Join(t.TempDir(), "nonexistent")
	want := fmt.Sprintf("idxfs: data dir %s does not exist; a command that writes (idxfs index create NAME, idxfs snapshot import FILE, idxfs mount) creates it; or give another with --data-dir\n", data)
	for _, args := range [][]string{{"index", "list"}, {"index", "show", "x"}, {"tasks", "list"}, {"tasks", "show", "1"}, {"snapshot", "list"}, {"documents", "export", "x"}, {"documents", "get", "x", "1"}} {
		_, stderr, code := idxfs(t, data, args...)
		if code != 4 || stderr != want {
			t.Errorf("idxfs %s: exit %d, %q; want exit 4, %q", strings.Join(args, " "), code, stderr, want)
		}
		if _, err := os.Stat(data); !os.IsNotExist(err) {
			t.Fatalf("idxfs %s created the data dir (%v)", strings.Join(args, " "), err)
		}
	}
}

// TestJSONErrors: with --json, an error is one JSON object on stderr, as
// restic's exit_error, with the error's code; stdout holds JSON or nothing
// and the exit code is the same as without --json.
func TestJSONErrors(t *testing.T) {
	h := newHarness(t)
	h.must("index", "create", "movies")
	for _, c := range []struct {
		args     []string
		exit     int
		code     string
		contains string
	}{
		{[]string{"index", "show", "nope", "--json"}, 4, "index_not_found", `index "nope": not found`},
		{[]string{"--json", "index", "create", "movies"}, 5, "index_already_exists", `index "movies": already exists`},
		{[]string{"tasks", "show", "99", "--json"}, 4, "task_not_found", "task 99: not found"},
		{[]string{"index", "create", "--json"}, 2, "usage", "usage: idxfs index create"},
		{[]string{"index", "show", "nope"}, 4, "", ""}, // without --json: text
	} {
		stdout, stderr, exit := h.run(c.args...)
		// A task that failed is the command's output (its JSON, as on
		// success); the error is on stderr.
		if exit != c.exit || stdout != "" && !json.Valid([]byte(stdout)) {
			t.Errorf("idxfs %s: exit %d (want %d), stdout %q", strings.Join(c.args, " "), exit, c.exit, stdout)
		}
		if c.code == "" {
			if !strings.HasPrefix(stderr, "idxfs: ") {
				t.Errorf("idxfs %s: stderr %q, want text", strings.Join(c.args, " "), stderr)
			}
			continue
		}
		var e struct {
			MessageType string `json:"message_type"`
			Code        int    `json:"code"`
			Message     string `json:"message"`
			Error       struct {
				Message, Code, Type string
			} `json:"error"`
		}
		if strings.Count(stderr, "\n") != 1 || json.Unmarshal([]byte(stderr), &e) != nil {
			t.Errorf("idxfs %s: stderr is not one JSON line: %q", strings.Join(c.args, " "), stderr)
			continue
		}
		if e.MessageType != "exit_error" || e.Code != c.exit || e.Error.Code != c.code || !strings.Contains(e.Message, c.contains) || e.Error.Message != e.Message || e.Error.Type == "" {
			t.Errorf("idxfs %s: %+v", strings.Join(c.args, " "), e)
		}
	}
}

// TestSizeOnDiskIsDu: the size on disk that index show and status report
// is what du -sB1 says of the index's directory.
func TestSizeOnDiskIsDu(t *testing.T) {
	du := requireTool(t, "du")
	h := newHarness(t)
	h.must("index", "create", "movies", "--primary-key", "id")
	var docs strings.Builder
	for i := range 3000 {
		fmt.Fprintf(&docs, `{"id":%d,"title":"movie number %d with a longer title to take some room"}`+"\n", i, i)
	}
	h.mustIn(strings.NewReader(docs.String()), "documents", "add", "movies", "-")
	var info struct {
		ID         string `json:"id"`
		SizeOnDisk int64  `json:"sizeOnDisk"`
	}
	h.mustJSON(&info, "index", "show", "movies", "--json")
	out, err := exec.Command(du, "-sB1", filepath.Join(h.data, "indexes", info.ID)).Output()
	if err != nil {
		t.Fatal(err)
	}
	var got int64
	if _, err := fmt.Sscan(string(out), &got); err != nil {
		t.Fatalf("du: %q", out)
	}
	if info.SizeOnDisk != got {
		t.Errorf("index show says %d bytes on disk, du -sB1 %d", info.SizeOnDisk, got)
	}
	// The same again: a read changes nothing.
	var again struct {
		SizeOnDisk int64 `json:"sizeOnDisk"`
	}
	h.mustJSON(&again, "index", "show", "movies", "--json")
	if again.SizeOnDisk != info.SizeOnDisk {
		t.Errorf("size on disk %d, then %d", info.SizeOnDisk, again.SizeOnDisk)
	}
}
