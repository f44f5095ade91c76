package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// TestMain points the default data dir (it shows in --help, and a command
// given no --data-dir would use it) at a fresh directory, and fails the run
// if any test wrote there.
func TestMain(m *testing.M) {
	flag.Parse()
	xdg, err := os.MkdirTemp("", "idxfs-xdg-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Setenv("XDG_DATA_HOME", xdg)
	os.Unsetenv("IDXFS_DATA_DIR")
	code := m.Run()
	if _, err := os.Stat(filepath.Join(xdg, "idxfs")); err == nil {
		fmt.Fprintln(os.Stderr, "FAIL: a test used the default data dir $XDG_DATA_HOME/idxfs: give every command --data-dir")
		code = 1
	}
	os.RemoveAll(xdg)
	os.Exit(code)
}

// result is what one command line did, as a user of the binary sees it.
type result struct {
	stdout, stderr string
	err            error
	code           int
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

// idxfs runs `idxfs args...` in-process. stdin nil is empty.
func idxfs(t *testing.T, stdin io.Reader, args ...string) result {
	t.Helper()
	return idxfsCtx(t, context.Background(), stdin, args...)
}

func idxfsCtx(t *testing.T, ctx context.Context, stdin io.Reader, args ...string) result {
	t.Helper()
	if stdin == nil {
		stdin = strings.NewReader("")
	}
	var stdout, stderr bytes.Buffer
	err := run(ctx, append([]string{"idxfs"}, args...), stdin, &stdout, &stderr)
	report(&stderr, err)
	return result{stdout: stdout.String(), stderr: stderr.String(), err: err, code: exitCode(err)}
}

// in runs `idxfs --data-dir dir args...`.
func in(t *testing.T, dir string, stdin io.Reader, args ...string) result {
	t.Helper()
	return idxfs(t, stdin, append([]string{"--data-dir", dir}, args...)...)
}

// mustIn is in for a command that must succeed.
func mustIn(t *testing.T, dir string, stdin io.Reader, args ...string) result {
	t.Helper()
	r := in(t, dir, stdin, args...)
	if r.code != 0 {
		t.Fatalf("idxfs %s: %s", strings.Join(args, " "), r)
	}
	return r
}

// threeDocs are the documents newIndex loads: ids 1, 2 and "b".
const threeDocs = `{"id":1,"title":"one"}
{"id":2,"title":"two"}
{"id":"b","title":"bee"}
`

// newIndex returns a fresh data dir holding index "films" (primary key id) with
// threeDocs.
func newIndex(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	mustIn(t, dir, nil, "index", "create", "films", "--primary-key", "id")
	mustIn(t, dir, strings.NewReader(threeDocs), "documents", "add", "films")
	return dir
}

// golden compares got with the file at path, or rewrites it with -update.
func golden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./cmd/idxfs -update to create it)", err)
	}
	if string(want) != got {
		t.Errorf("%s differs (-want +got; go test ./cmd/idxfs -update rewrites it):\n%s", path, lineDiff(string(want), got))
	}
}

// lineDiff is a minimal line diff of a and b: lines only in a start with
// "-", lines only in b with "+", common lines with " ".
func lineDiff(a, b string) string {
	x, y := strings.SplitAfter(a, "\n"), strings.SplitAfter(b, "\n")
	// lcs[i][j] is the length of the longest common subsequence of x[i:], y[j:].
	lcs := make([][]int, len(x)+1)
	for i := range lcs {
		lcs[i] = make([]int, len(y)+1)
	}
	for i := len(x) - 1; i >= 0; i-- {
		for j := len(y) - 1; j >= 0; j-- {
			if x[i] == y[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var sb strings.Builder
	line := func(prefix, s string) {
		sb.WriteString(prefix + strings.TrimSuffix(s, "\n") + "\n")
	}
	i, j := 0, 0
	for i < len(x) || j < len(y) {
		switch {
		case i < len(x) && j < len(y) && x[i] == y[j]:
			line(" ", x[i])
			i++
			j++
		case j < len(y) && (i == len(x) || lcs[i][j+1] >= lcs[i+1][j]):
			line("+", y[j])
			j++
		default:
			line("-", x[i])
			i++
		}
	}
	return sb.String()
}
