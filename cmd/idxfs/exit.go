package main

import (
	"context"
	"errors"
	"syscall"

	"github.com/idxfs/idxfs/index"
	"github.com/idxfs/idxfs/snapshot"
	"github.com/idxfs/idxfs/task"
)

// Exit codes. They are part of the interface (README "Exit codes"): add new
// ones, never renumber.
const (
	exitOK          = 0   // success
	exitFailure     = 1   // an unexpected error (a bug, or an I/O error)
	exitUsage       = 2   // bad command line
	exitDataDir     = 3   // data dir in use by another process, or of a newer format
	exitNotFound    = 4   // no such index, document, task or file
	exitExists      = 5   // the index already exists (or is being imported)
	exitInvalid     = 6   // bad input: index name, document, payload, archive; a request that cannot apply
	exitTaskFailed  = 7   // a task failed for another reason (interrupted, disk full, ...)
	exitCanceled    = 8   // the task was canceled
	exitMount       = 9   // the mountpoint cannot be used (stale mount, inside the data dir, busy)
	exitInterrupted = 130 // interrupted by SIGINT or SIGTERM while waiting
)

// usageError is a bad command line.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// canceledError reports a task that ended canceled.
type canceledError struct{ uid uint64 }

func (e canceledError) Error() string { return "task " + itoa(e.uid) + " was canceled" }

// exitCode is the one mapping from errors to exit codes.
func exitCode(err error) int {
	if err == nil {
		return exitOK
	}
	var ue usageError
	var ce canceledError
	var me mountError
	var te *task.Error
	switch {
	case errors.As(err, &ue):
		return exitUsage
	case errors.As(err, &ce):
		return exitCanceled
	case errors.As(err, &me):
		return exitMount
	case errors.Is(err, context.Canceled):
		return exitInterrupted
	case errors.As(err, &te):
		return taskErrorExit(te.Code)
	case errors.Is(err, index.ErrLocked), errors.Is(err, index.ErrDataDirVersion), errors.Is(err, index.ErrUnsafeDataDir):
		return exitDataDir
	case errors.Is(err, index.ErrNotFound), errors.Is(err, index.ErrDocumentNotFound),
		errors.Is(err, task.ErrTaskNotFound), errors.Is(err, task.ErrSnapshotFileNotFound),
		errors.Is(err, syscall.ENOENT):
		return exitNotFound
	case errors.Is(err, index.ErrExists):
		return exitExists
	case errors.Is(err, index.ErrInvalidUID), errors.Is(err, index.ErrInvalidDocument),
		errors.Is(err, index.ErrMalformedPayload), errors.Is(err, index.ErrMissingPrimaryKey),
		errors.Is(err, index.ErrInvalidDocumentID), errors.Is(err, index.ErrPrimaryKey),
		errors.Is(err, snapshot.ErrCorrupt), errors.Is(err, snapshot.ErrIncompatible),
		errors.Is(err, snapshot.ErrTooLarge), errors.Is(err, task.ErrInvalid):
		return exitInvalid
	case errors.Is(err, task.ErrFinished):
		return exitInvalid // e.g. cancel a task that has finished
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		return exitTaskFailed // disk full, also before a task exists (storing its payload)
	}
	return exitFailure
}

// taskErrorExit maps a failed task's error code to an exit code.
func taskErrorExit(code string) int {
	switch code {
	case task.CodeIndexNotFound, task.CodeSnapshotNotFound:
		return exitNotFound
	case task.CodeIndexAlreadyExists:
		return exitExists
	case task.CodeInvalidIndexUID, task.CodeInvalidDocument, task.CodeMalformedPayload,
		task.CodeMissingPrimaryKey, task.CodeInvalidDocumentID, task.CodePrimaryKey,
		task.CodeInvalidSnapshot, task.CodeSnapshotIncompat, task.CodeSnapshotTooLarge,
		task.CodeInvalidTaskRequest:
		return exitInvalid
	}
	return exitTaskFailed
}
