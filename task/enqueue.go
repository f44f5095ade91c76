package task

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"

	"github.com/idxfs/idxfs/index"
	"github.com/idxfs/idxfs/snapshot"
)

// Request is what Enqueue is asked to do. Which fields count depends on Kind.
type Request struct {
	Kind     Kind
	IndexUID string
	// PrimaryKey: indexCreation, documentAdditionOrUpdate (optional);
	// indexUpdate (required).
	PrimaryKey string
	// Documents is the payload of a documentAdditionOrUpdate (NDJSON or a
	// JSON array); Enqueue copies it to disk before it returns.
	Documents io.Reader
	// DocumentsFile, instead of Documents, names a complete payload file on
	// the data dir's filesystem (typically in DATA/tmp); Enqueue takes it
	// over: it moves it into the queue instead of copying it, or removes it
	// if the request is refused.
	DocumentsFile string
	// ReplaceAll makes a documentAdditionOrUpdate replace every document.
	ReplaceAll bool
	// IDs are the documents a documentDeletion deletes.
	IDs []string
	// NewIndexUID is the name a singleIndexSnapshotImport registers the
	// index under (default: the archive's index uid, read from
	// SnapshotPath), the new name of an indexRename, and the index an
	// indexSwap exchanges IndexUID with.
	NewIndexUID string
	// Replace makes a singleIndexSnapshotImport replace the index
	// NewIndexUID if it exists, in one step once the archive is verified;
	// a failed import leaves that index as it was.
	Replace bool
	// SnapshotPath is the archive a singleIndexSnapshotImport reads.
	SnapshotPath string
	// Stream, if set, is read by a singleIndexSnapshotImport instead of
	// SnapshotPath (which then only names it). Reading may block until more
	// bytes arrive; the stream ends the import with io.EOF or an error. If
	// it implements StreamAborter, it is aborted when the task is canceled,
	// so that a blocked Read returns. A task with a stream cannot survive a
	// restart. A ReopenableStream lets the import start over if bytes it
	// read are rewritten.
	Stream io.Reader
	// Output, if set, receives a copy of the archive a
	// singleIndexSnapshotCreation writes, byte for byte as it is written
	// (`snapshot create -o FILE`), so that the caller need not copy the
	// stored file afterwards. Its errors do not fail the task: the engine
	// stops writing to it after the first. The copy is the archive only if
	// the task succeeded, did not reuse a stored snapshot, and Output took
	// exactly the details' Size bytes; otherwise the caller copies the
	// stored file. Other kinds ignore it; it is never persisted.
	Output io.Writer
	// Reservation, if set, is Reserve's hold on NewIndexUID: a
	// singleIndexSnapshotImport takes the name over instead of being
	// refused because it is reserved.
	Reservation *Reservation
}

// StreamAborter is a Request.Stream whose blocked reads can be ended.
type StreamAborter interface {
	// Abort makes pending and later reads fail with err.
	Abort(err error)
}

// Enqueue validates r, persists it as a task and returns the task at once;
// the scheduler runs it later. Requests that can be told bad without running
// them (a bad index name, an import onto an existing index or one being
// imported) fail here, with an error wrapping ErrInvalid, index.ErrInvalidUID
// or index.ErrExists.
func (e *Engine) Enqueue(ctx context.Context, r Request) (Task, error) {
	spec := kindOf(r.Kind)
	if spec == nil {
		return Task{}, fmt.Errorf("%w: unknown task type %q", ErrInvalid, r.Kind)
	}
	t, req, err := spec.prepare(e, r)
	if err != nil {
		return Task{}, err
	}
	if err := index.ValidateUID(t.IndexUID); err != nil {
		return Task{}, err
	}
	payloadTmp, err := e.takePayload(ctx, spec, r, &t)
	if err != nil {
		return Task{}, err
	}

	e.mu.Lock()
	defer e.mu.Unlock()
	ent, err := e.addLocked(spec, r, t, req, payloadTmp)
	if err != nil {
		return Task{}, err
	}
	e.log.Info("task enqueued", "task", ent.task.UID, "type", string(ent.task.Type), "index", ent.task.IndexUID)
	e.dispatchLocked()
	return e.viewLocked(ent), nil
}

// takePayload copies r's documents to disk (or takes over r's file) if
// tasks of spec's kind have a payload, and sets t's details, which record
// its size. It returns the path of the copy, "" if there is none. A payload
// is copied before the task exists, so that a task never points at a
// payload that is not all there.
func (e *Engine) takePayload(ctx context.Context, spec *kindSpec, r Request, t *Task) (string, error) {
	if spec.payload == nil {
		return "", nil
	}
	tmp, n, err := r.DocumentsFile, int64(0), error(nil)
	if tmp == "" {
		tmp, n, err = e.savePayload(ctx, r.Documents)
	} else {
		n, err = syncedSize(tmp)
	}
	if err != nil {
		return "", err
	}
	t.Details = mustJSON(spec.payload(r, n))
	return tmp, nil
}

// addLocked gives t, the task of r, its uid, moves its payload (if any)
// into the queue, persists it and queues it. On failure nothing is queued
// and the payload is removed.
func (e *Engine) addLocked(spec *kindSpec, r Request, t Task, req request, payloadTmp string) (*entry, error) {
	fail := func(err error) (*entry, error) {
		if payloadTmp != "" {
			os.Remove(payloadTmp)
		}
		return nil, err
	}
	if e.closing {
		return fail(ErrClosed)
	}
	if spec.reserve != nil {
		if err := spec.reserve(e, r, t, req); err != nil {
			return fail(err)
		}
	}
	t.UID = e.nextUID
	t.EnqueuedAt = e.opts.Now().UTC()
	if payloadTmp != "" {
		req.Payload = fmt.Sprintf("%d.payload", t.UID)
		if err := renameSync(payloadTmp, filepath.Join(e.payloadDir, req.Payload)); err != nil {
			return fail(fmt.Errorf("task: store payload: %w", err))
		}
	}
	ent := &entry{kind: spec, task: t, req: req, stream: r.Stream, output: r.Output, done: make(chan struct{}), prog: newLiveProgress(t.Type)}
	if err := e.persistLocked(ent, true); err != nil {
		if req.Payload != "" {
			os.Remove(filepath.Join(e.payloadDir, req.Payload))
		}
		return nil, err
	}
	e.nextUID++
	e.tasks[t.UID] = ent
	e.uids = append(e.uids, t.UID)
	e.queue = append(e.queue, t.UID)
	e.trackLocked(ent)
	return ent, nil
}

// newTask returns the task and request that r enqueues, with details d
// (nil: none yet).
func newTask(r Request, d any) (Task, request) {
	t := Task{IndexUID: r.IndexUID, Type: r.Kind, Status: Enqueued}
	if d != nil {
		t.Details = mustJSON(d)
	}
	return t, request{PrimaryKey: r.PrimaryKey}
}

func prepareIndexCreation(_ *Engine, r Request) (Task, request, error) {
	t, req := newTask(r, IndexCreationDetails{PrimaryKey: r.PrimaryKey})
	return t, req, nil
}

func prepareIndexDeletion(_ *Engine, r Request) (Task, request, error) {
	t, req := newTask(r, IndexDeletionDetails{})
	return t, req, nil
}

// prepareDocumentAddition leaves the details to documentAdditionDetails,
// once the payload is on disk.
func prepareDocumentAddition(_ *Engine, r Request) (Task, request, error) {
	if (r.Documents == nil) == (r.DocumentsFile == "") {
		return Task{}, request{}, fmt.Errorf("%w: %s needs documents (a reader or a file)", ErrInvalid, r.Kind)
	}
	t, req := newTask(r, nil)
	req.ReplaceAll = r.ReplaceAll
	req.WriteTag = newWriteTag()
	return t, req, nil
}

// documentAdditionDetails are the details of a documentAdditionOrUpdate
// whose payload has size bytes.
func documentAdditionDetails(r Request, size int64) any {
	return DocumentAdditionDetails{ReplaceAll: r.ReplaceAll, PayloadSize: size, PrimaryKey: r.PrimaryKey}
}

func prepareDocumentDeletion(_ *Engine, r Request) (Task, request, error) {
	if len(r.IDs) == 0 {
		return Task{}, request{}, fmt.Errorf("%w: %s needs at least one document id", ErrInvalid, r.Kind)
	}
	for _, id := range r.IDs {
		if err := index.ValidateDocumentID(id); err != nil {
			return Task{}, request{}, err
		}
	}
	t, req := newTask(r, DocumentDeletionDetails{ProvidedIDs: len(r.IDs)})
	req.IDs = slices.Clone(r.IDs)
	req.WriteTag = newWriteTag()
	return t, req, nil
}

func prepareSnapshotCreation(_ *Engine, r Request) (Task, request, error) {
	t, req := newTask(r, SnapshotCreationDetails{IndexUID: r.IndexUID})
	return t, req, nil
}

// prepareImport fills in an import task from r, reading the archive's
// metadata when no new name is given.
func (e *Engine) prepareImport(r Request) (Task, request, error) {
	req := request{NewIndexUID: r.NewIndexUID, SnapshotPath: r.SnapshotPath, Stream: r.Stream != nil, Replace: r.Replace}
	srcUID := r.IndexUID
	var size int64
	if r.Stream == nil {
		if r.SnapshotPath == "" {
			return Task{}, req, fmt.Errorf("%w: %s needs a snapshot path", ErrInvalid, SingleIndexSnapshotImport)
		}
		abs, err := filepath.Abs(r.SnapshotPath)
		if err != nil {
			return Task{}, req, fmt.Errorf("%w: %v", ErrInvalid, err)
		}
		req.SnapshotPath = abs
		f, err := os.Open(abs)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return Task{}, req, fmt.Errorf("import %q: %w", abs, ErrSnapshotFileNotFound)
			}
			return Task{}, req, fmt.Errorf("import %q: %w", abs, err)
		}
		defer f.Close()
		if st, err := f.Stat(); err == nil {
			if st.IsDir() {
				return Task{}, req, fmt.Errorf("%w: import %q: a directory, not an archive", ErrInvalid, abs)
			}
			size = st.Size()
		}
		if req.NewIndexUID == "" {
			// The name is the archive's: read it now. Otherwise the
			// archive is read only by the task, which records any fault.
			md, err := snapshot.Inspect(f)
			if err != nil {
				return Task{}, req, fmt.Errorf("import %q: %w", abs, err)
			}
			srcUID = md.IndexUID
		}
	}
	if req.NewIndexUID == "" {
		req.NewIndexUID = srcUID
	}
	if req.NewIndexUID == "" {
		return Task{}, req, fmt.Errorf("%w: %s of a stream needs the new index name", ErrInvalid, SingleIndexSnapshotImport)
	}
	t := Task{IndexUID: req.NewIndexUID, Type: SingleIndexSnapshotImport, Status: Enqueued}
	t.Details = mustJSON(SnapshotImportDetails{IndexUID: srcUID, NewIndexUID: req.NewIndexUID, SnapshotPath: req.SnapshotPath, Size: size, Replace: r.Replace})
	return t, req, nil
}

// trackLocked records an unfinished task of a kind that tracks its tasks,
// so that inFlightLocked finds it.
func (e *Engine) trackLocked(ent *entry) {
	spec := ent.kind
	if spec == nil || spec.tracks == nil {
		return
	}
	m := e.inFlight[spec.kind]
	if m == nil {
		m = map[string]uint64{}
		e.inFlight[spec.kind] = m
	}
	m[spec.tracks(ent.task, ent.req)] = ent.task.UID
}

// untrackLocked forgets a task that has finished.
func (e *Engine) untrackLocked(ent *entry) {
	spec := ent.kind
	if spec == nil || spec.tracks == nil {
		return
	}
	name := spec.tracks(ent.task, ent.req)
	if e.inFlight[spec.kind][name] == ent.task.UID {
		delete(e.inFlight[spec.kind], name)
	}
}

// inFlightLocked returns the unfinished task of kind k tracked under name.
func (e *Engine) inFlightLocked(k Kind, name string) (uint64, bool) {
	uid, ok := e.inFlight[k][name]
	return uid, ok
}
