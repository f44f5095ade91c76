package fs

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"syscall"
	"testing"

	"github.com/idxfs/idxfs/index"
	"github.com/idxfs/idxfs/snapshot"
	"github.com/idxfs/idxfs/task"
)

func TestErrno(t *testing.T) {
	t.Parallel()
	log := slog.New(slog.DiscardHandler)
	for _, tt := range []struct {
		err  error
		want syscall.Errno
	}{
		{nil, 0},
		{fmt.Errorf("index %q: %w", "x", index.ErrNotFound), syscall.ENOENT},
		{fmt.Errorf("wrapped: %w", index.ErrExists), syscall.EEXIST},
		{index.ErrInvalidUID, syscall.EINVAL},
		{fmt.Errorf("import: %w", snapshot.ErrCorrupt), syscall.EINVAL},
		{snapshot.ErrTooLarge, syscall.EFBIG},
		{&task.Error{Code: task.CodeIndexAlreadyExists}, syscall.EEXIST},
		{&task.Error{Code: task.CodeInvalidSnapshot}, syscall.EINVAL},
		{&task.Error{Code: task.CodeNoSpaceLeft}, syscall.ENOSPC},
		{&task.Error{Code: "something_new"}, syscall.EIO},
		{fmt.Errorf("disk: %w", syscall.ENOSPC), syscall.ENOSPC},
		{fmt.Errorf("snapshot task 3: %w", task.ErrCanceled), syscall.ECANCELED},
		{&task.Error{Code: task.CodeDatabaseFailed}, syscall.EROFS},
		{fmt.Errorf("index %q: %w", "x", index.ErrFailed), syscall.EROFS},
		{fmt.Errorf("odd failure"), syscall.EIO},
		// What the tables of old disagreed on, resolved by code.
		{fmt.Errorf("x: %w", task.ErrInterrupted), syscall.EINTR},
		{fmt.Errorf("import: %w", task.ErrSnapshotFileNotFound), syscall.ENOENT},
		{&task.Error{Code: task.CodeCorruptIndex}, syscall.EIO},
		{&task.Error{Code: task.CodePayloadMissing}, syscall.EIO},
		// Errors of a call.
		{fmt.Errorf("wait: %w", context.Canceled), syscall.EINTR},
		{context.DeadlineExceeded, syscall.EINTR},
		{fmt.Errorf("task 3: %w", task.ErrTaskNotFound), syscall.ENOENT},
		{fmt.Errorf("x: %w", index.ErrDocumentNotFound), syscall.ENOENT},
		{&os.PathError{Op: "open", Path: "x", Err: syscall.ENOENT}, syscall.ENOENT},
		{fmt.Errorf("task 3 is succeeded: %w", task.ErrFinished), syscall.EPERM},
		{task.ErrClosed, syscall.ESHUTDOWN},
		// A syscall's own errno where the table knows no better.
		{fmt.Errorf("quota: %w", syscall.EDQUOT), syscall.EDQUOT},
		{&os.PathError{Op: "open", Path: "x", Err: syscall.EACCES}, syscall.EACCES},
		{fmt.Errorf("%w: %w", index.ErrCorrupt, syscall.EBADMSG), syscall.EBADMSG},
		{fmt.Errorf("x: %w", index.ErrCorrupt), syscall.EIO},
	} {
		if got := toErrno(log, "test", tt.err); got != tt.want {
			t.Errorf("toErrno(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
	for st, want := range map[task.Status]syscall.Errno{task.Succeeded: 0, task.Canceled: syscall.ECANCELED} {
		if got := taskErrno(log, "test", task.Task{Status: st}); got != want {
			t.Errorf("taskErrno(%s) = %v, want %v", st, got, want)
		}
	}
	if got := taskErrno(log, "test", task.Task{Status: task.Failed, Error: &task.Error{Code: task.CodeIndexNotFound}}); got != syscall.ENOENT {
		t.Errorf("failed index_not_found task = %v", got)
	}
}

// TestEveryCodeHasAnErrno walks every code task.Classify can return: a code
// added to task without a row in codeErrno fails here.
func TestEveryCodeHasAnErrno(t *testing.T) {
	t.Parallel()
	want := map[string]syscall.Errno{}
	for errno, codes := range map[syscall.Errno][]string{
		syscall.ENOENT: {task.CodeIndexNotFound, task.CodeSnapshotNotFound, task.CodeDocumentNotFound,
			task.CodeTaskNotFound, task.CodeFileNotFound},
		syscall.EEXIST: {task.CodeIndexAlreadyExists},
		syscall.EINVAL: {task.CodeInvalidIndexUID, task.CodeInvalidDocument, task.CodeMalformedPayload,
			task.CodeMissingPrimaryKey, task.CodeInvalidDocumentID, task.CodePrimaryKey,
			task.CodeInvalidSnapshot, task.CodeSnapshotIncompat, task.CodeInvalidTaskRequest},
		syscall.EFBIG:     {task.CodeSnapshotTooLarge},
		syscall.ENOSPC:    {task.CodeNoSpaceLeft},
		syscall.EROFS:     {task.CodeDatabaseFailed},
		syscall.EINTR:     {task.CodeInterrupted, task.CodeCallerInterrupted},
		syscall.EPERM:     {task.CodeTaskFinished},
		syscall.ECANCELED: {task.CodeTaskCanceled},
		syscall.ESHUTDOWN: {task.CodeEngineClosed},
		syscall.EIO:       {task.CodeCorruptIndex, task.CodeInternal, task.CodePayloadMissing, task.CodeDataDirUnusable},
	} {
		for _, c := range codes {
			want[c] = errno
		}
	}
	// Snapshot lifecycle (issue 9 item 6).
	want[task.CodeStoredSnapshotNotFound] = syscall.ENOENT
	want[task.CodeAmbiguousSnapshotID] = syscall.EINVAL
	log := slog.New(slog.DiscardHandler)
	for _, c := range task.Codes {
		if _, ok := codeErrno[c]; !ok {
			t.Errorf("code %q has no errno in codeErrno", c)
		}
		w, ok := want[c]
		if !ok {
			t.Errorf("code %q: add its errno to this test", c)
			continue
		}
		// A recorded failure with the code, as read back from the task store.
		if got := toErrno(log, "test", &task.Error{Message: "m", Code: c}); got != w {
			t.Errorf("code %q: errno %v, want %v", c, got, w)
		}
	}
	if len(codeErrno) != len(task.Codes) {
		t.Errorf("codeErrno has %d rows for %d codes", len(codeErrno), len(task.Codes))
	}
}
