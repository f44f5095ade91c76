package main

import (
	"syscall"
	"testing"

	"github.com/idxfs/idxfs/fs"
	"github.com/idxfs/idxfs/task"
)

// TestErrnoCodes: the CLI maps a mount's errno back to a code that fs's
// table maps to that errno, so that a call refused by the mount exits as
// the engine's error would. ENOTEMPTY (a rename onto an index), EDQUOT
// (fs passes a syscall's own through) and EPERM (a tree change fs refuses)
// are the mount's own.
func TestErrnoCodes(t *testing.T) {
	own := map[syscall.Errno]bool{syscall.ENOTEMPTY: true, syscall.EDQUOT: true, syscall.EPERM: true}
	for errno, code := range errnoCodes {
		if own[errno] {
			continue
		}
		if got := fs.CodeErrno(code); got != errno {
			t.Errorf("errno %v → code %s → errno %v", errno, code, got)
		}
	}
	if _, ok := codeExit[task.CodeFileNotFound]; !ok {
		t.Error("no exit code for file_not_found")
	}
}

// TestCallErrorExit: an errno of the mount exits as the engine's call error
// with its code, not as a failed task.
func TestCallErrorExit(t *testing.T) {
	for errno, want := range map[syscall.Errno]int{
		syscall.ENOENT: exitNotFound, syscall.EEXIST: exitExists, syscall.EIO: exitFailure,
		syscall.ENOSPC: exitTaskFailed, syscall.EINVAL: exitInvalid, syscall.ECANCELED: exitCanceled,
	} {
		err := callError(&pathError{errno}, nil)
		if got := exitCode(err); got != want {
			t.Errorf("%v: exit %d, want %d", errno, got, want)
		}
	}
	if got := exitCode(notThroughMountError{"idxfs documents delete", "D", "M", 1}); got != exitDataDir {
		t.Errorf("not through the mount: exit %d, want %d", got, exitDataDir)
	}
}

type pathError struct{ errno syscall.Errno }

func (e *pathError) Error() string { return "op path: " + e.errno.Error() }
func (e *pathError) Unwrap() error { return e.errno }
