package integration

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/idxfs/idxfs/integration/bintest"
)

// goModVersion is the version go.mod requires of a module.
func goModVersion(t *testing.T, path string) string {
	t.Helper()
	root, err := bintest.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^\s*(?:require\s+)?` + regexp.QuoteMeta(path) + `\s+(\S+)`).FindStringSubmatch(string(b))
	if m == nil {
		t.Fatalf("go.mod requires no %s", path)
	}
	return m[1]
}

// TestVersionFlag: idxfs --version and idxfs version print the same lines:
// the version (the build info's, or the one set at link time), and the
// go-fuse and pebble versions of go.mod.
func TestVersionFlag(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	linked := filepath.Join(dir, "idxfs-linked")
	root, err := bintest.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	build := exec.Command("go", "build", "-o", linked, "-ldflags", "-X main.linkVersion=v9.8.7-ops", "./cmd/idxfs")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build -ldflags -X: %v\n%s", err, out)
	}
	fuse, pebble := goModVersion(t, "github.com/hanwen/go-fuse/v2"), goModVersion(t, "github.com/cockroachdb/pebble/v2")
	for _, tt := range []struct{ binary, first string }{
		{binary, `^idxfs (\(devel\)(-[0-9a-f]{12}(-dirty)?)?|v\S+)$`},
		{linked, `^idxfs v9\.8\.7-ops$`},
	} {
		var outs []string
		for _, args := range [][]string{{"--version"}, {"version"}} {
			out, err := exec.Command(tt.binary, args...).Output()
			if err != nil {
				t.Fatalf("%s %s: %v", tt.binary, args[0], err)
			}
			outs = append(outs, string(out))
		}
		if outs[0] != outs[1] {
			t.Errorf("--version printed %q, version %q", outs[0], outs[1])
		}
		first := strings.SplitN(outs[0], "\n", 2)[0]
		if !regexp.MustCompile(tt.first).MatchString(first) {
			t.Errorf("%s --version: first line %q, want %s", filepath.Base(tt.binary), first, tt.first)
		}
		for _, want := range []string{"github.com/hanwen/go-fuse/v2 " + fuse, "github.com/cockroachdb/pebble/v2 " + pebble} {
			if !strings.Contains(outs[0], want+"\n") {
				t.Errorf("%s --version does not say %q:\n%s", filepath.Base(tt.binary), want, outs[0])
			}
		}
	}
}

// TestJSONStderr: with --log-format json, every line on stderr is a JSON
// object, for commands that succeed, that fail, that are misused, and
// that print notes; a failure's line has level ERROR and the exit code.
func TestJSONStderr(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	garbage := h.write("garbage.tgz", []byte("not an archive\n"))
	docs := h.write("docs.ndjson", ndjson(1, 20, 1))
	for _, args := range [][]string{
		{"index", "create", "films", "--primary-key", "id", "--log-level", "debug"},
		{"documents", "add", "films", docs, "--no-wait"},
		{"tasks", "list", "--log-level", "info"},
		{"index", "show", "nope"},
		{"snapshot", "import", garbage, "--as", "x"},
		{"index", "bogus"},
		{"--workers", "0", "index", "list"},
		{"index", "list", "--bogus-flag"},
		{"version", "extra"},
	} {
		_, stderr, code := h.run(append([]string{"--log-format", "json"}, args...)...)
		sawError := false
		for _, line := range strings.Split(strings.TrimSpace(stderr), "\n") {
			if line == "" {
				continue
			}
			var rec struct {
				Time, Level, Msg string
				ExitCode         *int `json:"exitCode"`
			}
			if err := json.Unmarshal([]byte(line), &rec); err != nil || rec.Level == "" || rec.Msg == "" || rec.Time == "" {
				t.Errorf("idxfs %s: stderr line %q is not a JSON log record", strings.Join(args, " "), line)
				continue
			}
			if rec.Level == "ERROR" && rec.ExitCode != nil {
				sawError = true
				if *rec.ExitCode != code {
					t.Errorf("idxfs %s: exit %d, the error line says %d", strings.Join(args, " "), code, *rec.ExitCode)
				}
			}
		}
		if code != 0 && !sawError {
			t.Errorf("idxfs %s: exit %d, and no ERROR line with the exit code in:\n%s", strings.Join(args, " "), code, stderr)
		}
		if code == 0 && sawError {
			t.Errorf("idxfs %s: exit 0 with an error line:\n%s", strings.Join(args, " "), stderr)
		}
	}
}
