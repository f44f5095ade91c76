package bintest

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// The full-disk tests rely on SmallFS and Fill giving a filesystem that
// really answers ENOSPC, and on release making room again.
func TestSmallFSFillsAndFrees(t *testing.T) {
	dir := SmallFS(t, 16<<20)
	release := Fill(t, dir, 1<<20)
	big := make([]byte, 2<<20)
	err := os.WriteFile(filepath.Join(dir, "x"), big, 0o644)
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("writing 2 MiB with 1 MiB free: got %v, want ENOSPC", err)
	}
	release()
	if err := os.WriteFile(filepath.Join(dir, "x"), big, 0o644); err != nil {
		t.Fatalf("after release: %v", err)
	}
}
