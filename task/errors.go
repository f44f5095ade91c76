package task

import (
	"context"
	"errors"
	"os"
	"syscall"

	"github.com/idxfs/idxfs/index"
	"github.com/idxfs/idxfs/snapshot"
)

// Sentinel errors of the engine itself.
var (
	ErrTaskNotFound = errors.New("not found")
	ErrFinished     = errors.New("already finished")
	ErrClosed       = errors.New("the task engine is closed")
	ErrInvalid      = errors.New("invalid request")
	// ErrInterrupted is the cause of tasks stopped by a shutdown or found
	// processing after a crash.
	ErrInterrupted = errors.New("interrupted")
	// ErrSnapshotFileNotFound: an import names an archive that is not there.
	ErrSnapshotFileNotFound = errors.New("no such archive file")
	// ErrPayloadMissing: a document task's stored payload is gone.
	ErrPayloadMissing = errors.New("the stored documents (payload) are missing")
	// ErrCanceled: the task a caller waited for was canceled.
	ErrCanceled = errors.New("canceled")
	// ErrStoredSnapshotNotFound: no stored snapshot has the id or path given.
	ErrStoredSnapshotNotFound = errors.New("no such stored snapshot")
	// ErrAmbiguousSnapshotID: a snapshot id prefix begins several ids.
	ErrAmbiguousSnapshotID = errors.New("ambiguous snapshot id")
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

// Stable error codes. Those a task can fail with are recorded in its JSON
// (error.code) and must never change; the others classify errors of a call
// (a lookup, a cancel, a wait) that never become a task's failure.
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
	CodeInterrupted        = "interrupted"     // the task was stopped by a shutdown or a crash
	CodeCorruptIndex       = "corrupt_index"
	CodeInternal           = "internal"
	CodePayloadMissing     = "payload_missing"
	CodeInvalidTaskRequest = "invalid_task_request"

	// Never a task's failure.
	CodeCallerInterrupted = "caller_interrupted" // the caller's context ended (Ctrl-C, an interrupted syscall)
	CodeDataDirUnusable   = "data_dir_unusable"  // in use by another process, of a newer format, or unsafe
	CodeDocumentNotFound  = "document_not_found"
	CodeTaskNotFound      = "task_not_found"
	CodeFileNotFound      = "file_not_found"
	CodeTaskFinished      = "task_already_finished" // e.g. cancel of a finished task
	CodeTaskCanceled      = "task_canceled"         // the task a caller waited for was canceled
	CodeEngineClosed      = "engine_closed"
	// Snapshot lifecycle (issue 9 item 6): snapshot delete, prune, import ID.
	CodeStoredSnapshotNotFound = "stored_snapshot_not_found"
	CodeAmbiguousSnapshotID    = "ambiguous_snapshot_id"
)

// classes is the one classification of errors, first match wins. failure:
// a task can fail with it (toError records only these, in this order, so
// that a task's recorded code does not depend on the others).
var classes = []struct {
	err        error
	code, kind string
	failure    bool
}{
	{context.Canceled, CodeCallerInterrupted, TypeSystem, false},
	{context.DeadlineExceeded, CodeCallerInterrupted, TypeSystem, false},
	{index.ErrLocked, CodeDataDirUnusable, TypeSystem, false},
	{index.ErrDataDirVersion, CodeDataDirUnusable, TypeSystem, false},
	{index.ErrUnsafeDataDir, CodeDataDirUnusable, TypeSystem, false},
	{ErrInterrupted, CodeInterrupted, TypeSystem, true},
	{ErrInvalid, CodeInvalidTaskRequest, TypeInvalidRequest, true},
	{ErrSnapshotFileNotFound, CodeSnapshotNotFound, TypeInvalidRequest, true},
	{ErrPayloadMissing, CodePayloadMissing, TypeSystem, true},
	{index.ErrNotFound, CodeIndexNotFound, TypeInvalidRequest, true},
	{index.ErrDocumentNotFound, CodeDocumentNotFound, TypeInvalidRequest, false},
	{ErrTaskNotFound, CodeTaskNotFound, TypeInvalidRequest, false},
	{os.ErrNotExist, CodeFileNotFound, TypeInvalidRequest, false}, // also syscall.ENOENT
	{index.ErrExists, CodeIndexAlreadyExists, TypeInvalidRequest, true},
	{index.ErrInvalidUID, CodeInvalidIndexUID, TypeInvalidRequest, true},
	{index.ErrMissingPrimaryKey, CodeMissingPrimaryKey, TypeInvalidRequest, true},
	{index.ErrInvalidDocumentID, CodeInvalidDocumentID, TypeInvalidRequest, true},
	{index.ErrMalformedPayload, CodeMalformedPayload, TypeInvalidRequest, true},
	{index.ErrInvalidDocument, CodeInvalidDocument, TypeInvalidRequest, true},
	{index.ErrPrimaryKey, CodePrimaryKey, TypeInvalidRequest, true},
	{index.ErrCorrupt, CodeCorruptIndex, TypeInternal, true},
	{snapshot.ErrIncompatible, CodeSnapshotIncompat, TypeInvalidRequest, true},
	{snapshot.ErrTooLarge, CodeSnapshotTooLarge, TypeInvalidRequest, true},
	{snapshot.ErrCorrupt, CodeInvalidSnapshot, TypeInvalidRequest, true},
	{syscall.ENOSPC, CodeNoSpaceLeft, TypeSystem, true},
	{syscall.EDQUOT, CodeNoSpaceLeft, TypeSystem, true},
	{index.ErrFailed, CodeDatabaseFailed, TypeSystem, true},
	{ErrFinished, CodeTaskFinished, TypeInvalidRequest, false},
	{ErrCanceled, CodeTaskCanceled, TypeSystem, false},
	{ErrClosed, CodeEngineClosed, TypeSystem, false},
	{ErrStoredSnapshotNotFound, CodeStoredSnapshotNotFound, TypeInvalidRequest, false},
	{ErrAmbiguousSnapshotID, CodeAmbiguousSnapshotID, TypeInvalidRequest, false},
}

// Codes lists every code Classify returns, for the tables that map codes to
// errnos (fs) and exit codes (cmd/idxfs): a test of each walks this list.
var Codes = []string{
	CodeIndexNotFound, CodeIndexAlreadyExists, CodeInvalidIndexUID, CodeInvalidDocument,
	CodeMalformedPayload, CodeMissingPrimaryKey, CodeInvalidDocumentID, CodePrimaryKey,
	CodeInvalidSnapshot, CodeSnapshotIncompat, CodeSnapshotTooLarge, CodeSnapshotNotFound,
	CodeNoSpaceLeft, CodeDatabaseFailed, CodeInterrupted, CodeCorruptIndex, CodeInternal,
	CodePayloadMissing, CodeInvalidTaskRequest,
	CodeCallerInterrupted, CodeDataDirUnusable, CodeDocumentNotFound, CodeTaskNotFound,
	CodeFileNotFound, CodeTaskFinished, CodeTaskCanceled, CodeEngineClosed,
	CodeStoredSnapshotNotFound, CodeAmbiguousSnapshotID,
}

// Classify turns any error into its code: a task's recorded failure (an
// *Error, also read back from disk, whose code may be one this version does
// not know) is itself; any other error gets the code of the first sentinel
// it wraps, or CodeInternal. Classify(nil) is nil.
func Classify(err error) *Error {
	var te *Error
	if errors.As(err, &te) {
		return te
	}
	return classify(err, false)
}

// toError turns a processor's error into the task's Error: only the codes a
// task can fail with, anything else is CodeInternal.
func toError(err error) *Error { return classify(err, true) }

func classify(err error, failures bool) *Error {
	if err == nil {
		return nil
	}
	for _, c := range classes {
		if (c.failure || !failures) && errors.Is(err, c.err) {
			return &Error{Message: err.Error(), Code: c.code, Type: c.kind}
		}
	}
	return &Error{Message: err.Error(), Code: CodeInternal, Type: TypeInternal}
}

// isCancel reports whether err is a context cancellation.
func isCancel(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}
