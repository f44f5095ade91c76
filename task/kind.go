package task

import (
	"context"
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
	IndexRename                 Kind = "indexRename"
	IndexSwap                   Kind = "indexSwap"
	IndexUpdate                 Kind = "indexUpdate"
)

// Kinds lists every kind, in the order of the kind table.
var Kinds = kindNames()

// kindSpec is everything the engine decides by a task's kind. Adding a kind
// is a constant above, one entry in kindTable and its processor.
type kindSpec struct {
	kind  Kind   // the wire name
	steps []Step // the processing steps, in order (see Steps)

	// prepare validates a request without writing anything and returns the
	// task it enqueues (index, type, status, details) and the task's
	// request. Enqueue then checks the task's index name.
	prepare func(e *Engine, r Request) (Task, request, error)
	// payload, if set, makes Enqueue copy the request's documents to disk
	// before the task exists (the task's payload), and returns the task's
	// details given the payload's size.
	payload func(r Request, size int64) any
	// reserve, if set, is called under Engine.mu as the task of request r
	// is about to be enqueued; an error refuses the request.
	reserve func(e *Engine, r Request, t Task, req request) error
	// tracks, if set, is the name under which an unfinished task of the
	// kind can be found (Engine.inFlightLocked): the index an import
	// registers, the index a snapshot creation archives. One task of a kind
	// per name.
	tracks func(t Task, req request) string
	// holds returns the indexes a task holds while it runs (see affected).
	// A later task of any of them waits for it.
	holds func(t Task, req request) []string
	// process is the processor. It returns the task's final details (nil:
	// keep those set at enqueue) and its error.
	process func(e *Engine, ctx context.Context, r *run) (any, error)

	// crash is what becomes of a task found processing after a crash,
	// unless completed finished it.
	crash crashPolicy
	// completed, if set, is asked first about a task found processing
	// after a crash: it finishes the task as succeeded and returns true if
	// the task's effect is found complete.
	completed func(e *Engine, ent *entry) bool
	// requeueOnShutdown puts a task that shutdown stopped back in the
	// queue, to run at the next start, instead of failing it as
	// interrupted. For kinds that shutdown stops only before they apply
	// anything (a document addition, in its validation pass).
	requeueOnShutdown bool
}

// crashPolicy is what becomes of a task that a crash stopped while it was
// processing.
type crashPolicy int

const (
	crashUndeclared crashPolicy = iota // a kind must declare its policy
	// crashFails fails the task with code interrupted.
	crashFails
	// crashReruns runs the task again, at most Options.MaxReruns times,
	// then fails it as crashFails does. For kinds whose writes are
	// idempotent, so that running again completes what the crash cut short.
	crashReruns
)

// kindTable is the table of kinds, in the order of Kinds.
var kindTable = []kindSpec{
	{
		kind:    IndexCreation,
		steps:   []Step{{"creating index", 1}},
		prepare: prepareIndexCreation,
		holds:   holdsIndex,
		process: (*Engine).createIndex,
		crash:   crashFails,
	},
	{
		kind:    IndexDeletion,
		steps:   []Step{{"deleting index", 1}},
		prepare: prepareIndexDeletion,
		holds:   holdsIndex,
		process: (*Engine).deleteIndex,
		crash:   crashFails,
	},
	{
		kind:              DocumentAdditionOrUpdate,
		steps:             []Step{{"validating documents", 40}, {"applying documents", 60}},
		prepare:           prepareDocumentAddition,
		payload:           documentAdditionDetails,
		holds:             holdsIndex,
		process:           (*Engine).addDocuments,
		crash:             crashReruns,
		completed:         (*Engine).documentsAdded,
		requeueOnShutdown: true,
	},
	{
		kind:      DocumentDeletion,
		steps:     []Step{{"deleting documents", 1}},
		prepare:   prepareDocumentDeletion,
		holds:     holdsIndex,
		process:   (*Engine).deleteDocuments,
		crash:     crashFails,
		completed: (*Engine).documentsDeleted,
	},
	{
		kind: SingleIndexSnapshotCreation,
		steps: []Step{
			{"starting", 1}, {"checkpointing", 4}, {"writing archive", 90}, {"finalizing", 5},
		},
		prepare:   prepareSnapshotCreation,
		tracks:    func(t Task, _ request) string { return t.IndexUID },
		holds:     holdsIndex,
		process:   (*Engine).createSnapshot,
		crash:     crashFails,
		completed: (*Engine).archiveStored,
	},
	{
		kind: SingleIndexSnapshotImport,
		steps: []Step{
			{"reading", 1}, {"extracting", 89}, {"verifying", 8}, {"registering", 2},
		},
		prepare: (*Engine).prepareImport,
		reserve: func(e *Engine, r Request, _ Task, req request) error {
			return e.claimLocked(req.NewIndexUID, r.Reservation, req.Replace)
		},
		tracks:  func(_ Task, req request) string { return req.NewIndexUID },
		holds:   func(_ Task, req request) []string { return affected(req.NewIndexUID) },
		process: (*Engine).importSnapshot,
		crash:   crashFails,
	},
	{
		// The map write that renames is the one that records the task's
		// success: a task found processing after a crash did nothing.
		kind:    IndexRename,
		steps:   []Step{{"renaming index", 1}},
		prepare: prepareRemap,
		reserve: func(e *Engine, _ Request, _ Task, req request) error {
			return e.claimLocked(req.NewIndexUID, nil, false)
		},
		tracks:  func(_ Task, req request) string { return req.NewIndexUID },
		holds:   holdsBoth,
		process: (*Engine).renameIndex,
		crash:   crashFails,
	},
	{
		kind:    IndexSwap,
		steps:   []Step{{"swapping indexes", 1}},
		prepare: prepareRemap,
		holds:   holdsBoth,
		process: (*Engine).swapIndexes,
		crash:   crashFails,
	},
	{
		// Setting the key is one batch: a task found processing after a
		// crash either set it or did nothing; it fails, and running it
		// again is the user's (the same key is then a no-op).
		kind:    IndexUpdate,
		steps:   []Step{{"setting primary key", 1}},
		prepare: prepareIndexUpdate,
		holds:   holdsIndex,
		process: (*Engine).updateIndex,
		crash:   crashFails,
	},
}

// holdsBoth: a rename or a swap holds both its names.
func holdsBoth(t Task, req request) []string { return affected(t.IndexUID, req.NewIndexUID) }

// holdsIndex: a task holds its own index.
func holdsIndex(t Task, _ request) []string { return affected(t.IndexUID) }

// kindOf returns the table entry of k, or nil.
func kindOf(k Kind) *kindSpec {
	for i := range kindTable {
		if kindTable[i].kind == k {
			return &kindTable[i]
		}
	}
	return nil
}

func kindNames() []Kind {
	ks := make([]Kind, len(kindTable))
	for i, s := range kindTable {
		ks[i] = s.kind
	}
	return ks
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

// Steps returns the ordered steps of kind k.
func Steps(k Kind) []Step {
	if spec := kindOf(k); spec != nil {
		return spec.steps
	}
	return nil
}

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

// affected returns the given index uids sorted and without duplicates or
// empty names: the indexes a task holds while it runs (kindSpec.holds).
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
