package bintest

import (
	"bytes"
	"errors"
	"io"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"github.com/creack/pty"
)

// RunOnTTY runs cmd with a pseudo-terminal (120x30) as its stdin, stdout
// and stderr, and returns what it wrote there, \r removed. It skips t if
// there is no pseudo-terminal, and fails it if cmd fails.
func RunOnTTY(t testing.TB, cmd *exec.Cmd) string {
	t.Helper()
	ptmx, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 30, Cols: 120})
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	defer ptmx.Close()
	var screen bytes.Buffer
	_, err = io.Copy(&screen, ptmx) // until the process exits: EIO
	if err != nil && !errors.Is(err, syscall.EIO) {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("%s on a terminal: %v\n%q", strings.Join(cmd.Args, " "), err, screen.String())
	}
	return strings.ReplaceAll(screen.String(), "\r", "")
}
