package task

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"syscall"
	"testing"

	"github.com/idxfs/idxfs/index"
	"github.com/idxfs/idxfs/snapshot"
)

// TestRecordedCodes pins the codes a task can fail with: they are in task
// JSON on disk and in users' scripts.
func TestRecordedCodes(t *testing.T) {
	t.Parallel()
	want := map[string]string{
		CodeIndexNotFound: "index_not_found", CodeIndexAlreadyExists: "index_already_exists",
		CodeInvalidIndexUID: "invalid_index_uid", CodeInvalidDocument: "invalid_document",
		CodeMalformedPayload: "malformed_payload", CodeMissingPrimaryKey: "missing_primary_key",
		CodeInvalidDocumentID: "invalid_document_id", CodePrimaryKey: "index_primary_key_mismatch",
		CodeInvalidSnapshot: "invalid_snapshot", CodeSnapshotIncompat: "snapshot_incompatible",
		CodeSnapshotTooLarge: "snapshot_too_large", CodeSnapshotNotFound: "snapshot_file_not_found",
		CodeNoSpaceLeft: "no_space_left", CodeDatabaseFailed: "database_failed",
		CodeInterrupted: "interrupted", CodeCorruptIndex: "corrupt_index", CodeInternal: "internal",
		CodePayloadMissing: "payload_missing", CodeInvalidTaskRequest: "invalid_task_request",
	}
	for c, w := range want {
		if c != w {
			t.Errorf("code %q, want %q", c, w)
		}
	}
	recorded := map[string]bool{CodeInternal: true}
	for _, c := range classes {
		if c.failure {
			recorded[c.code] = true
		}
	}
	for c := range recorded {
		if _, ok := want[c]; !ok {
			t.Errorf("a task can fail with %q, which this test does not pin", c)
		}
	}
	for c := range want {
		if !recorded[c] {
			t.Errorf("%q is pinned but no task can fail with it", c)
		}
	}
}

// TestCodes: Codes lists every code Classify can return, once.
func TestCodes(t *testing.T) {
	t.Parallel()
	all := []string{CodeInternal}
	for _, c := range classes {
		all = append(all, c.code)
	}
	slices.Sort(all)
	all = slices.Compact(all)
	got := slices.Clone(Codes)
	slices.Sort(got)
	if !slices.Equal(got, all) {
		t.Errorf("Codes = %v\nwant %v", got, all)
	}
}

func TestClassify(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		err      error
		classify string // Classify's code
		record   string // toError's code
	}{
		{fmt.Errorf("index %q: %w", "x", index.ErrNotFound), CodeIndexNotFound, CodeIndexNotFound},
		{fmt.Errorf("x: %w", ErrInterrupted), CodeInterrupted, CodeInterrupted},
		{fmt.Errorf("x: %w", ErrSnapshotFileNotFound), CodeSnapshotNotFound, CodeSnapshotNotFound},
		{fmt.Errorf("disk: %w", syscall.EDQUOT), CodeNoSpaceLeft, CodeNoSpaceLeft},
		{fmt.Errorf("import: %w", snapshot.ErrCorrupt), CodeInvalidSnapshot, CodeInvalidSnapshot},
		{&index.DocumentError{Position: "line 2", Reason: "no id", Err: index.ErrMissingPrimaryKey}, CodeMissingPrimaryKey, CodeMissingPrimaryKey},
		// Errors of a call, never recorded as a task's failure.
		{fmt.Errorf("wait: %w", context.Canceled), CodeCallerInterrupted, CodeInternal},
		{context.DeadlineExceeded, CodeCallerInterrupted, CodeInternal},
		{&index.LockedError{Dir: "/d"}, CodeDataDirUnusable, CodeInternal},
		{fmt.Errorf("x: %w", index.ErrDocumentNotFound), CodeDocumentNotFound, CodeInternal},
		{fmt.Errorf("task 3: %w", ErrTaskNotFound), CodeTaskNotFound, CodeInternal},
		{fmt.Errorf("open x: %w", syscall.ENOENT), CodeFileNotFound, CodeInternal},
		{fmt.Errorf("task 3 is succeeded: %w", ErrFinished), CodeTaskFinished, CodeInternal},
		{fmt.Errorf("snapshot task 3: %w", ErrCanceled), CodeTaskCanceled, CodeInternal},
		{ErrClosed, CodeEngineClosed, CodeInternal},
		// The recorded code does not depend on a call's sentinel it also wraps.
		{fmt.Errorf("%w: %w", context.Canceled, syscall.ENOSPC), CodeCallerInterrupted, CodeNoSpaceLeft},
		{errors.New("odd"), CodeInternal, CodeInternal},
	} {
		if got := Classify(tt.err); got.Code != tt.classify || got.Message != tt.err.Error() {
			t.Errorf("Classify(%v) = %+v, want code %s", tt.err, got, tt.classify)
		}
		if got := toError(tt.err); got.Code != tt.record {
			t.Errorf("toError(%v) = %+v, want code %s", tt.err, got, tt.record)
		}
	}
	// A recorded failure is itself, also with a code this version does not know.
	te := &Error{Message: "m", Code: "something_new", Type: TypeSystem}
	if got := Classify(fmt.Errorf("task 3: %w", te)); got != te {
		t.Errorf("Classify(a wrapped *Error) = %+v, want it", got)
	}
	if Classify(nil) != nil || toError(nil) != nil {
		t.Error("nil is classified")
	}
}

func TestParseUID(t *testing.T) {
	t.Parallel()
	if u, err := ParseUID("12"); u != 12 || err != nil {
		t.Errorf("ParseUID(12) = %d, %v", u, err)
	}
	for _, s := range []string{"", "abc", "-1", "12.json"} {
		if _, err := ParseUID(s); !errors.Is(err, ErrInvalid) {
			t.Errorf("ParseUID(%q): %v, want ErrInvalid", s, err)
		}
	}
}
