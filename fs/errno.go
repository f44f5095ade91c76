package fs

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"syscall"

	"github.com/idxfs/idxfs/index"
	"github.com/idxfs/idxfs/snapshot"
	"github.com/idxfs/idxfs/task"
)

// The one errno table. Task failures are mapped by their stable code, so
// that a failure read back from the task store maps like a live one; Go
// errors by their sentinel. Anything else is EIO, logged once.
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
	task.CodeNoSpaceLeft:        syscall.ENOSPC,
	task.CodeDatabaseFailed:     syscall.EROFS,
	task.CodeInterrupted:        syscall.EINTR,
	task.CodeInvalidTaskRequest: syscall.EINVAL,
}

var sentinelErrno = []struct {
	err   error
	errno syscall.Errno
}{
	{context.Canceled, syscall.EINTR},
	{context.DeadlineExceeded, syscall.EINTR},
	{index.ErrNotFound, syscall.ENOENT},
	{index.ErrDocumentNotFound, syscall.ENOENT},
	{task.ErrTaskNotFound, syscall.ENOENT},
	{os.ErrNotExist, syscall.ENOENT},
	{index.ErrExists, syscall.EEXIST},
	{index.ErrInvalidUID, syscall.EINVAL},
	{index.ErrInvalidDocument, syscall.EINVAL},
	{index.ErrMalformedPayload, syscall.EINVAL},
	{index.ErrMissingPrimaryKey, syscall.EINVAL},
	{index.ErrInvalidDocumentID, syscall.EINVAL},
	{index.ErrPrimaryKey, syscall.EINVAL},
	{snapshot.ErrCorrupt, syscall.EINVAL},
	{snapshot.ErrIncompatible, syscall.EINVAL},
	{snapshot.ErrTooLarge, syscall.EFBIG},
	{task.ErrInvalid, syscall.EINVAL},
	{task.ErrFinished, syscall.EPERM},
	{task.ErrCanceled, syscall.ECANCELED},
	{task.ErrClosed, syscall.ESHUTDOWN},
	{syscall.ENOSPC, syscall.ENOSPC},
	{syscall.EDQUOT, syscall.EDQUOT},
	{index.ErrFailed, syscall.EROFS},
}

// toErrno maps err to an errno; an error it does not know is logged once
// (op names the operation) and becomes EIO.
func toErrno(log *slog.Logger, op string, err error) syscall.Errno {
	if err == nil {
		return 0
	}
	var te *task.Error
	if errors.As(err, &te) {
		if e, ok := codeErrno[te.Code]; ok {
			return e
		}
		log.Warn("task failed", "op", op, "err", te.Message, "code", te.Code)
		return syscall.EIO
	}
	for _, s := range sentinelErrno {
		if errors.Is(err, s.err) {
			return s.errno
		}
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return errno
	}
	log.Warn("unexpected error", "op", op, "err", err)
	return syscall.EIO
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
