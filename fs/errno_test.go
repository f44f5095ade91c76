package fs

import (
	"fmt"
	"log/slog"
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
