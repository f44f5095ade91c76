package task

import (
	"fmt"
	"sort"
)

// Kind is a task's type, camelCase on the wire (DESIGN §6).
type Kind string

// The task kinds.
const (
	IndexCreation               Kind = "indexCreation"
	IndexDeletion               Kind = "indexDeletion"
	DocumentAdditionOrUpdate    Kind = "documentAdditionOrUpdate"
	DocumentDeletion            Kind = "documentDeletion"
	SingleIndexSnapshotCreation Kind = "singleIndexSnapshotCreation"
	SingleIndexSnapshotImport   Kind = "singleIndexSnapshotImport"
)

// Kinds lists every kind, in the order above.
var Kinds = []Kind{
	IndexCreation, IndexDeletion, DocumentAdditionOrUpdate, DocumentDeletion,
	SingleIndexSnapshotCreation, SingleIndexSnapshotImport,
}

// ParseKind parses a wire name. It is case-sensitive, like the wire format.
func ParseKind(s string) (Kind, error) {
	for _, k := range Kinds {
		if string(k) == s {
			return k, nil
		}
	}
	return "", fmt.Errorf("unknown task type %q (one of %v)", s, Kinds)
}

func (k Kind) String() string { return string(k) }

// MarshalText implements encoding.TextMarshaler.
func (k Kind) MarshalText() ([]byte, error) {
	if _, err := ParseKind(string(k)); err != nil {
		return nil, err
	}
	return []byte(k), nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (k *Kind) UnmarshalText(b []byte) error {
	p, err := ParseKind(string(b))
	if err != nil {
		return err
	}
	*k = p
	return nil
}

// Step is one named stage of a task's processing. Weight is its share of the
// whole, used to turn the current step and its byte counters into a
// percentage that rises steadily.
type Step struct {
	Name   string
	Weight int
}

// steps is the typed, ordered list of steps of every kind.
var steps = map[Kind][]Step{
	IndexCreation:            {{"creating index", 1}},
	IndexDeletion:            {{"deleting index", 1}},
	DocumentAdditionOrUpdate: {{"validating documents", 40}, {"applying documents", 60}},
	DocumentDeletion:         {{"deleting documents", 1}},
	SingleIndexSnapshotCreation: {
		{"starting", 1}, {"checkpointing", 4}, {"writing archive", 90}, {"finalizing", 5},
	},
	SingleIndexSnapshotImport: {
		{"reading", 1}, {"extracting", 89}, {"verifying", 8}, {"registering", 2},
	},
}

// Steps returns the ordered steps of kind k.
func Steps(k Kind) []Step { return steps[k] }

// Status is where a task is in its life.
type Status string

// The statuses.
const (
	Enqueued   Status = "enqueued"
	Processing Status = "processing"
	Succeeded  Status = "succeeded"
	Failed     Status = "failed"
	Canceled   Status = "canceled"
)

// Statuses lists every status.
var Statuses = []Status{Enqueued, Processing, Succeeded, Failed, Canceled}

// ParseStatus parses a wire name.
func ParseStatus(s string) (Status, error) {
	for _, st := range Statuses {
		if string(st) == s {
			return st, nil
		}
	}
	return "", fmt.Errorf("unknown task status %q (one of %v)", s, Statuses)
}

// Finished reports whether a task in status s will never change again.
func (s Status) Finished() bool { return s == Succeeded || s == Failed || s == Canceled }

// affected returns the indexes a task of kind k with the given uids holds
// while it runs, sorted and without duplicates.
func affected(uids ...string) []string {
	seen := map[string]bool{}
	var out []string
	for _, u := range uids {
		if u != "" && !seen[u] {
			seen[u] = true
			out = append(out, u)
		}
	}
	sort.Strings(out)
	return out
}
