package fs

import (
	"errors"
	"log/slog"
	"syscall"

	"github.com/idxfs/idxfs/task"
)

// codeErrno is the one errno table: task.Classify gives any error its code
// (a task's recorded failure keeps its own, so that a failure read back from
// the task store maps like a live one) and this maps the code. A code it
// does not know (one a later version recorded) is EIO, like CodeInternal.
// EIO is logged once, with the error.
var codeErrno = map[string]syscall.Errno{
	task.CodeIndexNotFound:      syscall.ENOENT,
	task.CodeIndexAlreadyExists: syscall.EEXIST,
	task.CodeInvalidIndexUID:    syscall.EINVAL,
	task.CodeInvalidDocument:    syscall.EINVAL,
	task.CodeMalformedPayload:   syscall.EINVAL,
	task.CodeMissingPrimaryKey:  syscall.EINVAL,
	task.CodeInvalidDocumentID:  syscall.EINVAL,
	task.CodePrimaryKey:         syscall.EINVAL,
	task.CodeInvalidSnapshot:    syscall.EINVAL,
	task.CodeSnapshotIncompat:   syscall.EINVAL,
	task.CodeSnapshotTooLarge:   syscall.EFBIG,
	task.CodeSnapshotNotFound:   syscall.ENOENT,
	task.CodeNoSpaceLeft:        syscall.ENOSPC, // or EDQUOT, if that is what the syscall said
	task.CodeDatabaseFailed:     syscall.EROFS,
	task.CodeInterrupted:        syscall.EINTR,
	task.CodeCorruptIndex:       syscall.EIO,
	task.CodeInternal:           syscall.EIO,
	task.CodePayloadMissing:     syscall.EIO,
	task.CodeInvalidTaskRequest: syscall.EINVAL,
	task.CodeCallerInterrupted:  syscall.EINTR,
	task.CodeDataDirUnusable:    syscall.EIO, // not reached: the data dir is open before the mount
	task.CodeDocumentNotFound:   syscall.ENOENT,
	task.CodeTaskNotFound:       syscall.ENOENT,
	task.CodeFileNotFound:       syscall.ENOENT,
	task.CodeTaskFinished:       syscall.EPERM,
	task.CodeTaskCanceled:       syscall.ECANCELED,
	task.CodeEngineClosed:       syscall.ESHUTDOWN,
	// Snapshot lifecycle (issue 9 item 6).
	task.CodeStoredSnapshotNotFound: syscall.ENOENT,
	task.CodeAmbiguousSnapshotID:    syscall.EINVAL,
}

// CodeErrno is the errno of code, as the table gives it (EIO for a code it
// does not know): the CLI maps a mount's errnos back to codes with it.
func CodeErrno(code string) syscall.Errno {
	if errno, ok := codeErrno[code]; ok {
		return errno
	}
	return syscall.EIO
}

// toErrno maps err to an errno; EIO is logged once (op names the
// operation). Where the table says no more than EIO, or says ENOSPC, a live
// error that carries a syscall's errno (EACCES, EDQUOT, ...) gets that one.
func toErrno(log *slog.Logger, op string, err error) syscall.Errno {
	if err == nil {
		return 0
	}
	te := task.Classify(err)
	errno, ok := codeErrno[te.Code]
	if !ok {
		errno = syscall.EIO
	}
	var own syscall.Errno
	if (errno == syscall.EIO || errno == syscall.ENOSPC) && errors.As(err, &own) {
		return own
	}
	if errno == syscall.EIO {
		if errors.As(err, new(*task.Error)) {
			log.Warn("task failed", "op", op, "err", te.Message, "code", te.Code)
		} else {
			log.Warn("unexpected error", "op", op, "err", err)
		}
	}
	return errno
}

// taskErrno maps a finished task to the errno its waiter gets: 0 if it
// succeeded.
func taskErrno(log *slog.Logger, op string, t task.Task) syscall.Errno {
	switch t.Status {
	case task.Succeeded:
		return 0
	case task.Canceled:
		return syscall.ECANCELED
	}
	if t.Error == nil {
		return syscall.EIO
	}
	return toErrno(log, op, t.Error)
}
