package main

import (
	"errors"

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

// exitCode is the one mapping from errors to exit codes: the CLI's own
// errors first, then any other error by its code (task.Classify).
func exitCode(err error) int {
	if err == nil {
		return exitOK
	}
	var ue usageError
	var ce canceledError
	var me mountError
	var xe childExitError
	var nm notThroughMountError
	var mc *mountCallError
	switch {
	case errors.As(err, &xe): // the background daemon's own
		return xe.code
	case errors.As(err, &ue):
		return exitUsage
	case errors.As(err, &ce):
		return exitCanceled
	case errors.As(err, &me):
		return exitMount
	case errors.As(err, &nm):
		return exitDataDir
	case errors.As(err, &mc): // a call on the mount, as the engine's call
		if e, ok := codeExit[mc.te.Code]; ok {
			return e.call
		}
		return exitFailure
	}
	e, ok := codeExit[task.Classify(err).Code]
	if !ok { // a code a later version recorded
		e = codeExit[task.CodeInternal]
	}
	if errors.As(err, new(*task.Error)) {
		return e.failed
	}
	return e.call
}

// codeExit maps each code to its exit code: as the failure of a task the
// command waited for (README: 7 when no row says better), and as an error
// of the command itself (1, "an unexpected error", when none says better;
// a full disk is 7 either way). Codes that never are a task's failure have
// the same number in both.
var codeExit = map[string]struct{ failed, call int }{
	task.CodeIndexNotFound:      {exitNotFound, exitNotFound},
	task.CodeIndexAlreadyExists: {exitExists, exitExists},
	task.CodeInvalidIndexUID:    {exitInvalid, exitInvalid},
	task.CodeInvalidDocument:    {exitInvalid, exitInvalid},
	task.CodeMalformedPayload:   {exitInvalid, exitInvalid},
	task.CodeMissingPrimaryKey:  {exitInvalid, exitInvalid},
	task.CodeInvalidDocumentID:  {exitInvalid, exitInvalid},
	task.CodePrimaryKey:         {exitInvalid, exitInvalid},
	task.CodeInvalidSnapshot:    {exitInvalid, exitInvalid},
	task.CodeSnapshotIncompat:   {exitInvalid, exitInvalid},
	task.CodeSnapshotTooLarge:   {exitInvalid, exitInvalid},
	task.CodeSnapshotNotFound:   {exitNotFound, exitNotFound},
	task.CodeNoSpaceLeft:        {exitTaskFailed, exitTaskFailed}, // also before a task exists (storing its payload)
	task.CodeDatabaseFailed:     {exitTaskFailed, exitFailure},
	task.CodeInterrupted:        {exitTaskFailed, exitFailure},
	task.CodeCorruptIndex:       {exitTaskFailed, exitFailure},
	task.CodeInternal:           {exitTaskFailed, exitFailure},
	task.CodePayloadMissing:     {exitTaskFailed, exitFailure},
	task.CodeInvalidTaskRequest: {exitInvalid, exitInvalid},
	task.CodeCallerInterrupted:  {exitInterrupted, exitInterrupted},
	task.CodeDataDirUnusable:    {exitDataDir, exitDataDir},
	task.CodeDocumentNotFound:   {exitNotFound, exitNotFound},
	task.CodeTaskNotFound:       {exitNotFound, exitNotFound},
	task.CodeFileNotFound:       {exitNotFound, exitNotFound},
	task.CodeTaskFinished:       {exitInvalid, exitInvalid}, // e.g. cancel a task that has finished
	task.CodeTaskCanceled:       {exitCanceled, exitCanceled},
	task.CodeEngineClosed:       {exitFailure, exitFailure},
	// Snapshot lifecycle (issue 9 item 6).
	task.CodeStoredSnapshotNotFound: {exitNotFound, exitNotFound},
	task.CodeAmbiguousSnapshotID:    {exitInvalid, exitInvalid},
}
