package task

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Task is one unit of work as users see it (DESIGN §6).
type Task struct {
	UID        uint64          `json:"uid"`
	IndexUID   string          `json:"indexUid"`
	Type       Kind            `json:"type"`
	Status     Status          `json:"status"`
	Details    json.RawMessage `json:"details"`
	Error      *Error          `json:"error"`
	Progress   *Progress       `json:"progress"`
	EnqueuedAt time.Time       `json:"enqueuedAt"`
	StartedAt  *time.Time      `json:"startedAt"`
	FinishedAt *time.Time      `json:"finishedAt"`
	Duration   *Duration       `json:"duration"`
}

// Progress is where a processing task stands. A finished task keeps the
// progress it had when it ended, so a failure shows the step it failed in.
//
// BytesDone and BytesTotal count the current step's bytes (for a snapshot
// or an import: the uncompressed bytes of the index's files; for documents:
// the payload's). BytesPerSecond is the current step's rate over about the
// last RateWindow, and SecondsRemaining the time the step needs at that
// rate for its bytes left: (BytesTotal-BytesDone)/BytesPerSecond, rounded
// up. Both are there only while the task is processing, in a step that
// counts bytes (BytesTotal > 0), once it has run for a second; without a
// rate (0: nothing moved in the window) there is no time left.
type Progress struct {
	Steps            []StepProgress `json:"steps"`
	Percentage       float64        `json:"percentage"`
	BytesDone        int64          `json:"bytesDone"`
	BytesTotal       int64          `json:"bytesTotal"`
	BytesPerSecond   *int64         `json:"bytesPerSecond,omitempty"`
	SecondsRemaining *int64         `json:"secondsRemaining,omitempty"`
}

// StepProgress is one level of progress: the current step's name, how many
// of the level's steps are finished, and how many there are.
type StepProgress struct {
	CurrentStep string `json:"currentStep"`
	Finished    int    `json:"finished"`
	Total       int    `json:"total"`
}

// Duration is a time.Duration written as ISO 8601 ("PT1.25S"), as task APIs
// commonly do.
type Duration time.Duration

// MarshalText writes the duration as ISO 8601 seconds.
func (d Duration) MarshalText() ([]byte, error) {
	return []byte("PT" + strconv.FormatFloat(time.Duration(d).Seconds(), 'f', -1, 64) + "S"), nil
}

// UnmarshalText reads what MarshalText wrote.
func (d *Duration) UnmarshalText(b []byte) error {
	s := string(b)
	if !strings.HasPrefix(s, "PT") || !strings.HasSuffix(s, "S") {
		return fmt.Errorf("duration %q: want PT<seconds>S", s)
	}
	f, err := strconv.ParseFloat(s[2:len(s)-1], 64)
	if err != nil {
		return fmt.Errorf("duration %q: %w", s, err)
	}
	// Rounded, not truncated: 0.000498158 s times 1e9 is 498157.99999…
	*d = Duration(math.Round(f * float64(time.Second)))
	return nil
}

// IndexCreationDetails are the details of an indexCreation task.
type IndexCreationDetails struct {
	PrimaryKey string `json:"primaryKey"`
}

// IndexDeletionDetails are the details of an indexDeletion task.
type IndexDeletionDetails struct {
	DeletedDocuments *uint64 `json:"deletedDocuments"`
}

// DocumentAdditionDetails are the details of a documentAdditionOrUpdate task.
type DocumentAdditionDetails struct {
	ReplaceAll        bool    `json:"replaceAll"`
	PayloadSize       int64   `json:"payloadSize"`
	PrimaryKey        string  `json:"primaryKey,omitempty"`
	ReceivedDocuments *uint64 `json:"receivedDocuments"`
	IndexedDocuments  *uint64 `json:"indexedDocuments"`
	IndexVersion      *uint64 `json:"indexVersion,omitempty"`
}

// DocumentDeletionDetails are the details of a documentDeletion task.
type DocumentDeletionDetails struct {
	ProvidedIDs      int     `json:"providedIds"`
	DeletedDocuments *uint64 `json:"deletedDocuments"`
}

// SnapshotCreationDetails are the details of a singleIndexSnapshotCreation
// task. Reused is true when a stored snapshot of the index's current version
// was returned without new work.
type SnapshotCreationDetails struct {
	IndexUID          string    `json:"indexUid"`
	Path              string    `json:"path,omitempty"`
	Size              int64     `json:"size,omitempty"`
	IndexVersion      uint64    `json:"indexVersion,omitempty"`
	NumberOfDocuments uint64    `json:"numberOfDocuments,omitempty"`
	Reused            bool      `json:"reused"`
	ArchiveDuration   *Duration `json:"archiveDuration,omitempty"`
	// ReusedFiles files of the index, of ReusedBytes bytes in all, were
	// not compressed again: their members were copied from the previous
	// snapshot of the same database (docs/FORMAT.md §4, "Reuse").
	ReusedFiles int   `json:"reusedFiles"`
	ReusedBytes int64 `json:"reusedBytes"`
	// StoreError says why an archive that a reader already had (open
	// returned once its bytes were complete) was not stored after all.
	StoreError string `json:"storeError,omitempty"`
}

// SnapshotImportDetails are the details of a singleIndexSnapshotImport task.
// IndexUID is the index the archive was taken of; NewIndexUID the index it
// becomes.
type SnapshotImportDetails struct {
	IndexUID          string `json:"indexUid"`
	NewIndexUID       string `json:"newIndexUid"`
	SnapshotPath      string `json:"snapshotPath"`
	Size              int64  `json:"size,omitempty"`
	NumberOfDocuments uint64 `json:"numberOfDocuments,omitempty"`
	IndexVersion      uint64 `json:"indexVersion,omitempty"`
	// Replace: the import replaces an index of that name if there is one
	// (Request.Replace); Replaced: it did.
	Replace  bool `json:"replace,omitempty"`
	Replaced bool `json:"replaced,omitempty"`
}

// IndexRenameDetails are the details of an indexRename task.
type IndexRenameDetails struct {
	OldIndexUID string `json:"oldIndexUid"`
	NewIndexUID string `json:"newIndexUid"`
}

// IndexSwapDetails are the details of an indexSwap task: the two indexes
// whose contents were exchanged.
type IndexSwapDetails struct {
	Indexes [2]string `json:"indexes"`
}

// DecodeDetails unmarshals t.Details into v (a pointer to one of the
// *Details types).
func (t Task) DecodeDetails(v any) error {
	if len(t.Details) == 0 {
		return fmt.Errorf("task %d has no details", t.UID)
	}
	if err := json.Unmarshal(t.Details, v); err != nil {
		return fmt.Errorf("task %d: details: %w", t.UID, err)
	}
	return nil
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("task: marshal %T: %v", v, err))
	}
	return b
}
