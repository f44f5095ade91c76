package task

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/idxfs/idxfs/index"
	"github.com/idxfs/idxfs/snapshot"
)

// Options configure an Engine. Only Store is required.
type Options struct {
	// Store is the open data dir. Required. The engine does not close it.
	Store *index.Store
	// Logger receives the engine's logs. Default: discard.
	Logger *slog.Logger
	// Workers is how many tasks of different indexes run at once. Default:
	// the number of CPUs.
	Workers int
	// Retention is how many finished tasks are kept; older ones are pruned.
	// Default: 10,000.
	Retention int
	// SnapshotKeep is how many completed snapshots are kept per index.
	// Default: 2.
	SnapshotKeep int
	// Version is the idxfs version recorded in archives. Default: "dev".
	Version string
	// Archive configures snapshot writing (level, concurrency, member size).
	// Default: the snapshot package's defaults.
	Archive snapshot.WriteOptions
	// SnapshotRateLimit, if positive, is the most bytes per second a
	// snapshot creation writes (on average), to spare a busy disk. Default:
	// no limit.
	SnapshotRateLimit int64
	// MaxImportSize is the most bytes an imported archive may expand to.
	// Default: no limit but the free disk space.
	MaxImportSize int64
	// ProgressInterval is how often the progress of processing tasks is
	// persisted. Default: 1s.
	ProgressInterval time.Duration
	// MaxReruns is how many times a document task found processing after a
	// crash is run again before it is failed as interrupted. Default: 3.
	MaxReruns int
	// Now returns the current time. Default: time.Now. For tests.
	Now func() time.Time
}

// EnsureDefaults fills in the defaults of unset fields.
func (o *Options) EnsureDefaults() {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Workers <= 0 {
		o.Workers = runtime.NumCPU()
	}
	if o.Retention <= 0 {
		o.Retention = 10_000
	}
	if o.SnapshotKeep <= 0 {
		o.SnapshotKeep = 2
	}
	if o.Version == "" {
		o.Version = "dev"
	}
	if o.ProgressInterval <= 0 {
		o.ProgressInterval = time.Second
	}
	if o.MaxReruns <= 0 {
		o.MaxReruns = 3
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// Engine is the task queue and scheduler of one data dir. It is safe for
// concurrent use.
type Engine struct {
	opts       Options
	store      *index.Store
	meta       *index.Meta
	log        *slog.Logger
	payloadDir string
	snaps      *snapStore
	snapMu     sync.Mutex // makes Snapshot's check-then-enqueue atomic

	// baseCtx is the parent of every processing task's context; stop
	// cancels it when Close gives up waiting.
	baseCtx context.Context
	stop    context.CancelFunc
	wg      sync.WaitGroup // processing tasks and the progress ticker

	tickOnce sync.Once
	tickStop chan struct{} // closed to stop the progress ticker

	mu        sync.Mutex
	tasks     map[uint64]*entry // every task kept, by uid
	uids      []uint64          // every task kept, ascending
	queue     []uint64          // enqueued tasks, ascending
	busy      map[string]uint64 // index uid → the processing task holding it
	running   int               // processing tasks (holding an index or not)
	nextUID   uint64
	started   bool
	closing   bool
	closed    bool
	imports   map[string]uint64 // newIndexUid → unfinished import task
	creations map[string]uint64 // indexUid → unfinished snapshot creation task
	idle      chan struct{}     // closed and replaced whenever running drops to 0

	reserved map[string]*Reservation // names held for imports not yet enqueued (reserve.go)

	hooks hooks // set by tests before Start
}

// hooks let tests stop a task at a known point. A hook may block, honouring
// ctx; its error becomes the task's.
type hooks struct {
	process         func(ctx context.Context, t Task) error // as a task starts processing
	afterCheckpoint func(ctx context.Context, t Task) error // once a snapshot creation released its index
	beforeStore     func(ctx context.Context, t Task) error // a snapshot creation, before it stores its archive
	processed       func(ctx context.Context, t Task) error // a processor returned without error, before the task is finished
}

// entry is a task and what the engine needs to run it. Guarded by Engine.mu.
type entry struct {
	task     Task
	req      request
	stream   io.Reader     // live import stream, never persisted
	done     chan struct{} // closed when the task is finished
	cancel   context.CancelFunc
	canceled bool // Cancel was called while processing
	prog     *liveProgress
	held     []string // indexes held while processing
	// committed is set when the processor hands the store a record of the
	// task's success to commit with its effect (run.succeeded): from then
	// on no progress record may overwrite it, and a success finishes at
	// its time.
	committed *time.Time
}

// request is the part of a task's input that users do not see but the
// engine needs to run (or re-run) it.
type request struct {
	PrimaryKey   string   `json:"primaryKey,omitempty"`
	ReplaceAll   bool     `json:"replaceAll,omitempty"`
	IDs          []string `json:"ids,omitempty"`
	Payload      string   `json:"payload,omitempty"` // file name under DATA/payloads
	NewIndexUID  string   `json:"newIndexUid,omitempty"`
	SnapshotPath string   `json:"snapshotPath,omitempty"`
	Stream       bool     `json:"stream,omitempty"` // the import read a live stream
	Reruns       int      `json:"reruns,omitempty"`
	// ArchiveCreatedAt is the createdAt of the archive a snapshot creation
	// is about to store: recorded before it is stored, so that recovery can
	// tell whether it was.
	ArchiveCreatedAt *time.Time `json:"archiveCreatedAt,omitempty"`
	// WriteTag marks a document task's write in the index (index
	// WriteOptions.Tag), so that recovery can tell whether it completed.
	WriteTag string `json:"writeTag,omitempty"`
}

// Open loads the task queue of store, recovering from a crash: tasks found
// processing are failed with code interrupted, except document tasks with an
// intact payload, which are run again (at most MaxReruns times), since their
// writes are idempotent and a crash may have stopped them half-applied.
// Payload files no task needs are removed. The scheduler does not run until
// Start. On a read-only store the engine only shows the tasks as recorded
// (nothing is recovered, removed or written) and cannot run them.
func Open(opts Options) (*Engine, error) {
	opts.EnsureDefaults()
	if opts.Store == nil {
		return nil, errors.New("task: Options.Store is required")
	}
	ctx, stop := context.WithCancel(context.Background())
	e := &Engine{
		opts:       opts,
		store:      opts.Store,
		meta:       opts.Store.Meta("tasks"),
		log:        opts.Logger,
		payloadDir: filepath.Join(opts.Store.Dir(), "payloads"),
		baseCtx:    ctx,
		stop:       stop,
		tasks:      map[uint64]*entry{},
		busy:       map[string]uint64{},
		imports:    map[string]uint64{},
		creations:  map[string]uint64{},
		idle:       make(chan struct{}),
		tickStop:   make(chan struct{}),
		nextUID:    1,
	}
	if err := os.MkdirAll(e.payloadDir, 0o755); err != nil && !opts.Store.ReadOnly() {
		stop()
		return nil, fmt.Errorf("task: %w", err)
	}
	var err error
	if e.snaps, err = openSnapStore(opts.Store.SnapshotsDir(), opts.Logger); err != nil {
		stop()
		return nil, err
	}
	if err := e.load(); err != nil {
		stop()
		return nil, err
	}
	return e, nil
}

// Start starts the scheduler: enqueued tasks begin to run.
func (e *Engine) Start() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.started || e.closing {
		return
	}
	e.started = true
	e.wg.Add(1)
	go e.persistProgress()
	e.dispatchLocked()
}

// Close stops the scheduler: no enqueued task starts any more, processing
// tasks may finish until ctx is done, then they are cancelled and finish as
// interrupted (document tasks stay enqueued, to run at the next start).
// Enqueued tasks stay enqueued. Close is idempotent; it does not close the
// store.
func (e *Engine) Close(ctx context.Context) error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil
	}
	e.closing = true
	e.mu.Unlock()

	done := make(chan struct{})
	go func() { e.wg.Wait(); close(done) }()
	e.stopTicker()
	select {
	case <-done:
	case <-ctx.Done():
		e.stop()
		<-done
	}
	e.stop()
	e.mu.Lock()
	e.closed = true
	e.mu.Unlock()
	return nil
}

// Request is what Enqueue is asked to do. Which fields count depends on Kind.
type Request struct {
	Kind     Kind
	IndexUID string
	// PrimaryKey: indexCreation, documentAdditionOrUpdate (optional).
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
	// index under. Default: the archive's index uid (read from SnapshotPath).
	NewIndexUID string
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
	t := Task{IndexUID: r.IndexUID, Type: r.Kind, Status: Enqueued}
	req := request{PrimaryKey: r.PrimaryKey}
	switch r.Kind {
	case IndexCreation:
		t.Details = mustJSON(IndexCreationDetails{PrimaryKey: r.PrimaryKey})
	case IndexDeletion:
		t.Details = mustJSON(IndexDeletionDetails{})
	case DocumentAdditionOrUpdate:
		if (r.Documents == nil) == (r.DocumentsFile == "") {
			return Task{}, fmt.Errorf("%w: %s needs documents (a reader or a file)", ErrInvalid, r.Kind)
		}
		req.ReplaceAll = r.ReplaceAll
		req.WriteTag = newWriteTag()
	case DocumentDeletion:
		if len(r.IDs) == 0 {
			return Task{}, fmt.Errorf("%w: %s needs at least one document id", ErrInvalid, r.Kind)
		}
		for _, id := range r.IDs {
			if err := index.ValidateDocumentID(id); err != nil {
				return Task{}, err
			}
		}
		req.IDs = slices.Clone(r.IDs)
		req.WriteTag = newWriteTag()
		t.Details = mustJSON(DocumentDeletionDetails{ProvidedIDs: len(r.IDs)})
	case SingleIndexSnapshotCreation:
		t.Details = mustJSON(SnapshotCreationDetails{IndexUID: r.IndexUID})
	case SingleIndexSnapshotImport:
		var err error
		if t, req, err = e.prepareImport(r); err != nil {
			return Task{}, err
		}
	default:
		return Task{}, fmt.Errorf("%w: unknown task type %q", ErrInvalid, r.Kind)
	}
	if err := index.ValidateUID(t.IndexUID); err != nil {
		return Task{}, err
	}

	// A payload is copied to disk before the task exists, so that a task
	// never points at a payload that is not all there.
	var payloadTmp string
	if r.Kind == DocumentAdditionOrUpdate {
		tmp, n, err := r.DocumentsFile, int64(0), error(nil)
		if tmp == "" {
			tmp, n, err = e.savePayload(ctx, r.Documents)
		} else {
			n, err = syncedSize(tmp)
		}
		if err != nil {
			return Task{}, err
		}
		payloadTmp = tmp
		t.Details = mustJSON(DocumentAdditionDetails{ReplaceAll: r.ReplaceAll, PayloadSize: n, PrimaryKey: r.PrimaryKey})
	}

	e.mu.Lock()
	defer e.mu.Unlock()
	fail := func(err error) (Task, error) {
		if payloadTmp != "" {
			os.Remove(payloadTmp)
		}
		return Task{}, err
	}
	if e.closing {
		return fail(ErrClosed)
	}
	if r.Kind == SingleIndexSnapshotImport {
		if err := e.claimLocked(req.NewIndexUID, r.Reservation); err != nil {
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
	ent := &entry{task: t, req: req, stream: r.Stream, done: make(chan struct{}), prog: newLiveProgress(t.Type)}
	if err := e.persistLocked(ent, true); err != nil {
		if req.Payload != "" {
			os.Remove(filepath.Join(e.payloadDir, req.Payload))
		}
		return Task{}, err
	}
	e.nextUID++
	e.tasks[t.UID] = ent
	e.uids = append(e.uids, t.UID)
	e.queue = append(e.queue, t.UID)
	e.trackLocked(ent)
	e.log.Info("task enqueued", "task", t.UID, "type", string(t.Type), "index", t.IndexUID)
	e.dispatchLocked()
	return e.viewLocked(ent), nil
}

// prepareImport fills in an import task from r, reading the archive's
// metadata when no new name is given.
func (e *Engine) prepareImport(r Request) (Task, request, error) {
	req := request{NewIndexUID: r.NewIndexUID, SnapshotPath: r.SnapshotPath, Stream: r.Stream != nil}
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
	t.Details = mustJSON(SnapshotImportDetails{IndexUID: srcUID, NewIndexUID: req.NewIndexUID, SnapshotPath: req.SnapshotPath, Size: size})
	return t, req, nil
}

// reserveLocked fails with index.ErrExists if uid is taken by an index or by
// an import in flight.
func (e *Engine) reserveLocked(uid string) error {
	if e.store.Exists(uid) {
		return fmt.Errorf("index %q: %w", uid, index.ErrExists)
	}
	if other, ok := e.imports[uid]; ok {
		return fmt.Errorf("index %q: %w (task %d is importing it)", uid, index.ErrExists, other)
	}
	return nil
}

// trackLocked records an unfinished task in the maps that let callers find
// an import or a snapshot creation in flight.
func (e *Engine) trackLocked(ent *entry) {
	switch ent.task.Type {
	case SingleIndexSnapshotImport:
		e.imports[ent.req.NewIndexUID] = ent.task.UID
	case SingleIndexSnapshotCreation:
		e.creations[ent.task.IndexUID] = ent.task.UID
	}
}

func (e *Engine) untrackLocked(ent *entry) {
	uid := ent.task.UID
	if ent.task.Type == SingleIndexSnapshotImport && e.imports[ent.req.NewIndexUID] == uid {
		delete(e.imports, ent.req.NewIndexUID)
	}
	if ent.task.Type == SingleIndexSnapshotCreation && e.creations[ent.task.IndexUID] == uid {
		delete(e.creations, ent.task.IndexUID)
	}
}

// Get returns task uid, with live progress if it is processing.
func (e *Engine) Get(uid uint64) (Task, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	ent, ok := e.tasks[uid]
	if !ok {
		return Task{}, fmt.Errorf("task %d: %w", uid, ErrTaskNotFound)
	}
	return e.viewLocked(ent), nil
}

// Filter selects tasks for List. Zero fields select everything.
type Filter struct {
	IndexUID string
	Statuses []Status
	Types    []Kind
	Limit    int // default: all
}

// List returns the tasks that f selects, newest first.
func (e *Engine) List(f Filter) []Task {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []Task
	for i := len(e.uids) - 1; i >= 0; i-- {
		ent := e.tasks[e.uids[i]]
		t := &ent.task
		if f.IndexUID != "" && t.IndexUID != f.IndexUID {
			continue
		}
		if len(f.Statuses) > 0 && !slices.Contains(f.Statuses, t.Status) {
			continue
		}
		if len(f.Types) > 0 && !slices.Contains(f.Types, t.Type) {
			continue
		}
		out = append(out, e.viewLocked(ent))
		if f.Limit > 0 && len(out) == f.Limit {
			break
		}
	}
	return out
}

// Wait blocks until task uid is finished or ctx is done, and returns the
// task.
func (e *Engine) Wait(ctx context.Context, uid uint64) (Task, error) {
	e.mu.Lock()
	ent, ok := e.tasks[uid]
	e.mu.Unlock()
	if !ok {
		return Task{}, fmt.Errorf("task %d: %w", uid, ErrTaskNotFound)
	}
	select {
	case <-ent.done:
		return e.Get(uid)
	case <-ctx.Done():
		return Task{}, ctx.Err()
	}
}

// Cancel cancels task uid. An enqueued task is canceled at once; a
// processing one stops at its next safe point (a task past its last safe
// point completes). It returns the task as it is after the call.
// ErrTaskNotFound, ErrFinished.
func (e *Engine) Cancel(uid uint64) (Task, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	ent, ok := e.tasks[uid]
	if !ok {
		return Task{}, fmt.Errorf("task %d: %w", uid, ErrTaskNotFound)
	}
	switch ent.task.Status {
	case Enqueued:
		e.queue = slices.DeleteFunc(e.queue, func(u uint64) bool { return u == uid })
		e.finishLocked(ent, Canceled, nil, nil)
		e.dispatchLocked()
	case Processing:
		ent.canceled = true
		ent.cancel()
	default:
		return e.viewLocked(ent), fmt.Errorf("task %d is %s: %w", uid, ent.task.Status, ErrFinished)
	}
	return e.viewLocked(ent), nil
}

// Idle returns a channel that is closed when no task is processing. For
// tests and shutdown.
func (e *Engine) Idle() <-chan struct{} {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.running == 0 {
		c := make(chan struct{})
		close(c)
		return c
	}
	return e.idle
}

// viewLocked returns a copy of ent's task with live progress.
func (e *Engine) viewLocked(ent *entry) Task {
	t := ent.task
	if t.Status == Processing {
		t.Progress = ent.prog.view()
	}
	if t.Progress != nil {
		p := *t.Progress
		p.Steps = slices.Clone(p.Steps)
		t.Progress = &p
	}
	return t
}

// dispatchLocked starts every enqueued task that may start: in enqueue
// order, while fewer than Workers run, skipping a task if one of its indexes
// is held or awaited by an earlier task.
func (e *Engine) dispatchLocked() {
	if !e.started || e.closing {
		return
	}
	blocked := map[string]bool{}
	for i := 0; i < len(e.queue) && e.running < e.opts.Workers; {
		ent := e.tasks[e.queue[i]]
		idx := e.affected(ent)
		free := true
		for _, u := range idx {
			if _, held := e.busy[u]; held || blocked[u] {
				free = false
			}
			blocked[u] = true
		}
		if !free {
			i++
			continue
		}
		e.queue = slices.Delete(e.queue, i, i+1)
		e.startLocked(ent, idx)
	}
}

// affected returns the indexes ent holds while it runs.
func (e *Engine) affected(ent *entry) []string {
	if ent.task.Type == SingleIndexSnapshotImport {
		return affected(ent.req.NewIndexUID)
	}
	return affected(ent.task.IndexUID)
}

func (e *Engine) startLocked(ent *entry, held []string) {
	for _, u := range held {
		e.busy[u] = ent.task.UID
	}
	ent.held = held
	now := e.opts.Now().UTC()
	ent.task.Status = Processing
	ent.task.StartedAt = &now
	ent.task.Progress = nil
	ctx, cancel := context.WithCancel(e.baseCtx)
	ent.cancel = cancel
	ent.prog.onStep = func() {
		e.mu.Lock()
		defer e.mu.Unlock()
		if ent.task.Status == Processing {
			if err := e.persistLocked(ent, false); err != nil {
				e.log.Warn("persist task progress", "task", ent.task.UID, "err", err)
			}
		}
	}
	e.running++
	if err := e.persistLocked(ent, true); err != nil {
		e.log.Warn("persist task start", "task", ent.task.UID, "err", err)
	}
	e.log.Info("task started", "task", ent.task.UID, "type", string(ent.task.Type), "index", ent.task.IndexUID)
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		defer cancel()
		r := &run{e: e, ent: ent, task: ent.task, req: ent.req, stream: ent.stream, prog: ent.prog}
		details, err := e.process(ctx, r)
		e.finished(ent, details, err)
	}()
}

// releaseLocked lets other tasks of ent's indexes start.
func (e *Engine) releaseLocked(ent *entry) {
	for _, u := range ent.held {
		if e.busy[u] == ent.task.UID {
			delete(e.busy, u)
		}
	}
	ent.held = nil
}

// finished records the outcome of a processed task.
func (e *Engine) finished(ent *entry, details any, err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.releaseLocked(ent)
	e.running--
	if e.running == 0 {
		close(e.idle)
		e.idle = make(chan struct{})
	}
	ent.task.Progress = ent.prog.view()
	switch {
	case err == nil:
		ent.task.Progress.Percentage = 100
		e.finishLocked(ent, Succeeded, details, nil)
	case isCancel(err) && ent.canceled:
		e.finishLocked(ent, Canceled, details, nil)
	case isCancel(err) && e.closing && ent.task.Type == DocumentAdditionOrUpdate:
		// Stopped by shutdown in its validation pass: nothing was applied,
		// run it again at the next start.
		ent.task.Status = Enqueued
		ent.task.StartedAt = nil
		ent.task.Progress = nil
		e.queue = append(e.queue, ent.task.UID)
		slices.Sort(e.queue)
		if perr := e.persistLocked(ent, true); perr != nil {
			e.log.Warn("persist task", "task", ent.task.UID, "err", perr)
		}
		e.log.Info("task interrupted by shutdown; it runs again at the next start", "task", ent.task.UID)
	case isCancel(err) && e.closing:
		e.finishLocked(ent, Failed, details, fmt.Errorf("%w: idxfs stopped while the task was processing", ErrInterrupted))
	default:
		e.finishLocked(ent, Failed, details, err)
	}
	e.dispatchLocked()
}

// finishLocked moves ent to a final status, persists it, removes its payload
// and wakes its waiters.
func (e *Engine) finishLocked(ent *entry, st Status, details any, err error) {
	now := e.opts.Now().UTC()
	if st == Succeeded && ent.committed != nil {
		now = *ent.committed // the record committed with the effect says so
	}
	ent.task = finalTask(ent.task, st, details, err, now)
	t := &ent.task
	if err := e.persistLocked(ent, true); err != nil {
		e.log.Warn("persist finished task", "task", t.UID, "err", err)
	}
	if ent.req.Payload != "" {
		if err := os.Remove(filepath.Join(e.payloadDir, ent.req.Payload)); err != nil && !errors.Is(err, os.ErrNotExist) {
			e.log.Warn("remove payload", "task", t.UID, "err", err)
		}
	}
	ent.stream = nil
	e.untrackLocked(ent)
	close(ent.done)
	attrs := []any{"task", t.UID, "type", string(t.Type), "index", t.IndexUID, "status", string(st)}
	if t.Error != nil {
		attrs = append(attrs, "err", t.Error.Message, "code", t.Error.Code)
	}
	e.log.Info("task finished", attrs...)
	e.pruneLocked()
}

// finalTask returns t finished at now with status st, details (nil: keep
// t's) and err.
func finalTask(t Task, st Status, details any, err error, now time.Time) Task {
	t.Status = st
	t.FinishedAt = &now
	if t.StartedAt != nil {
		d := Duration(now.Sub(*t.StartedAt))
		t.Duration = &d
	}
	if details != nil {
		t.Details = mustJSON(details)
	}
	t.Error = toError(err)
	return t
}

// pruneLocked drops the oldest finished tasks beyond Retention.
func (e *Engine) pruneLocked() {
	finished := 0
	for _, u := range e.uids {
		if e.tasks[u].task.Status.Finished() {
			finished++
		}
	}
	excess := finished - e.opts.Retention
	if excess <= 0 {
		return
	}
	del := map[string][]byte{}
	keep := e.uids[:0]
	for _, u := range e.uids {
		if excess > 0 && e.tasks[u].task.Status.Finished() {
			del[string(taskKey(u))] = nil
			delete(e.tasks, u)
			excess--
			continue
		}
		keep = append(keep, u)
	}
	e.uids = keep
	if err := e.meta.Apply(del); err != nil {
		e.log.Warn("prune tasks", "err", err)
	}
}

// persistProgress writes the progress of processing tasks every
// ProgressInterval, so that a restart shows how far they got.
func (e *Engine) persistProgress() {
	defer e.wg.Done()
	tick := time.NewTicker(e.opts.ProgressInterval)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			e.mu.Lock()
			for _, u := range e.uids {
				if ent := e.tasks[u]; ent.task.Status == Processing {
					_ = e.persistLocked(ent, false)
				}
			}
			e.mu.Unlock()
		case <-e.tickStop:
			return
		}
	}
}

func (e *Engine) stopTicker() { e.tickOnce.Do(func() { close(e.tickStop) }) }
