// Package bintest is what the end-to-end test packages share: building the
// idxfs binary once, and skipping (or, in CI, failing) when a tool is
// missing.
package bintest

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Required reports whether a test that lacks FUSE or a tool must fail
// instead of skipping (CI sets IDXFS_REQUIRE_FUSE=1).
func Required() bool { return os.Getenv("IDXFS_REQUIRE_FUSE") == "1" }

// Skip skips t with a reason, or fails it when Required.
func Skip(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if Required() {
		t.Fatalf("IDXFS_REQUIRE_FUSE=1, but %s", msg)
	}
	t.Skipf("skipped: %s", msg)
}

// RequireTool returns the path of a tool, or skips (fails when Required).
func RequireTool(t testing.TB, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		Skip(t, "%s is not installed (%v)", name, err)
	}
	return path
}

// RepoRoot is the nearest directory at or above the working directory whose
// go.mod declares this module.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if data, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil {
			for _, line := range strings.Split(string(data), "\n") {
				if strings.TrimSpace(line) == "module github.com/idxfs/idxfs" {
					return dir, nil
				}
			}
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod of github.com/idxfs/idxfs at or above the working directory")
		}
		dir = parent
	}
}

// Build builds ./cmd/idxfs into dir and returns the binary's path. dir is
// made readable by all, so that tests may run the binary as another user.
// IDXFS_TEST_BUILDFLAGS adds go build flags (e.g. -race, to run the daemon
// under the race detector).
func Build(dir string) (string, error) {
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "idxfs")
	args := append([]string{"build", "-o", bin}, strings.Fields(os.Getenv("IDXFS_TEST_BUILDFLAGS"))...)
	build := exec.Command("go", append(args, "./cmd/idxfs")...)
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/idxfs in %s: %v\n%s", root, err, out)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		return "", err
	}
	return bin, nil
}

// Mounted reports whether path is a mountpoint, from /proc/self/mountinfo.
func Mounted(path string) bool {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 4 && f[4] == path {
			return true
		}
	}
	return false
}
