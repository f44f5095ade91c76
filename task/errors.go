package task

import (
	"context"
	"errors"
	"syscall"

	"github.com/idxfs/idxfs/index"
	"github.com/idxfs/idxfs/snapshot"
)

// Sentinel errors of the engine itself.
var (
	ErrTaskNotFound = errors.New("task: task not found")
	ErrFinished     = errors.New("task: task already finished")
	ErrClosed       = errors.New("task: engine is closed")
	ErrInvalid      = errors.New("task: invalid request")
	// ErrInterrupted is the cause of tasks stopped by a shutdown or found
	// processing after a crash.
	ErrInterrupted = errors.New("task: interrupted")
	// ErrSnapshotFileNotFound: an import names an archive that is not there.
	ErrSnapshotFileNotFound = errors.New("task: snapshot file not found")
	// ErrPayloadMissing: a document task's stored payload is gone.
	ErrPayloadMissing = errors.New("task: payload missing")
	// ErrCanceled: the task a caller waited for was canceled.
	ErrCanceled = errors.New("task: canceled")
)

// Error is why a task failed: a message for people, a stable code for
// programs and a type that says whose fault it was.
type Error struct {
	Message string `json:"message"`
	Code    string `json:"code"`
	Type    string `json:"type"`
}

func (e *Error) Error() string { return e.Message + " (" + e.Code + ")" }

// Error types.
const (
	TypeInvalidRequest = "invalid_request"
	TypeSystem         = "system"
	TypeInternal       = "internal"
)

// Stable error codes.
const (
	CodeIndexNotFound      = "index_not_found"
	CodeIndexAlreadyExists = "index_already_exists"
	CodeInvalidIndexUID    = "invalid_index_uid"
	CodeInvalidDocument    = "invalid_document"
	CodeMalformedPayload   = "malformed_payload"
	CodeMissingPrimaryKey  = "missing_primary_key"
	CodeInvalidDocumentID  = "invalid_document_id"
	CodePrimaryKey         = "index_primary_key_mismatch"
	CodeInvalidSnapshot    = "invalid_snapshot"
	CodeSnapshotIncompat   = "snapshot_incompatible"
	CodeSnapshotTooLarge   = "snapshot_too_large"
	CodeSnapshotNotFound   = "snapshot_file_not_found"
	CodeNoSpaceLeft        = "no_space_left"
	CodeDatabaseFailed     = "database_failed" // pebble failed a write it cannot undo; writes wait for a restart
	CodeInterrupted        = "interrupted"
	CodeCorruptIndex       = "corrupt_index"
	CodeInternal           = "internal"
	CodePayloadMissing     = "payload_missing"
	CodeInvalidTaskRequest = "invalid_task_request"
)

// codes maps sentinel errors to codes and types, first match wins.
var codes = []struct {
	err        error
	code, kind string
}{
	{ErrInterrupted, CodeInterrupted, TypeSystem},
	{ErrInvalid, CodeInvalidTaskRequest, TypeInvalidRequest},
	{ErrSnapshotFileNotFound, CodeSnapshotNotFound, TypeInvalidRequest},
	{ErrPayloadMissing, CodePayloadMissing, TypeSystem},
	{index.ErrNotFound, CodeIndexNotFound, TypeInvalidRequest},
	{index.ErrExists, CodeIndexAlreadyExists, TypeInvalidRequest},
	{index.ErrInvalidUID, CodeInvalidIndexUID, TypeInvalidRequest},
	{index.ErrMissingPrimaryKey, CodeMissingPrimaryKey, TypeInvalidRequest},
	{index.ErrInvalidDocumentID, CodeInvalidDocumentID, TypeInvalidRequest},
	{index.ErrMalformedPayload, CodeMalformedPayload, TypeInvalidRequest},
	{index.ErrInvalidDocument, CodeInvalidDocument, TypeInvalidRequest},
	{index.ErrPrimaryKey, CodePrimaryKey, TypeInvalidRequest},
	{index.ErrCorrupt, CodeCorruptIndex, TypeInternal},
	{snapshot.ErrIncompatible, CodeSnapshotIncompat, TypeInvalidRequest},
	{snapshot.ErrTooLarge, CodeSnapshotTooLarge, TypeInvalidRequest},
	{snapshot.ErrCorrupt, CodeInvalidSnapshot, TypeInvalidRequest},
	{syscall.ENOSPC, CodeNoSpaceLeft, TypeSystem},
	{syscall.EDQUOT, CodeNoSpaceLeft, TypeSystem},
	{index.ErrFailed, CodeDatabaseFailed, TypeSystem},
}

// toError turns a processor's error into the task's Error.
func toError(err error) *Error {
	if err == nil {
		return nil
	}
	for _, c := range codes {
		if errors.Is(err, c.err) {
			return &Error{Message: err.Error(), Code: c.code, Type: c.kind}
		}
	}
	return &Error{Message: err.Error(), Code: CodeInternal, Type: TypeInternal}
}

// isCancel reports whether err is a context cancellation.
func isCancel(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}
