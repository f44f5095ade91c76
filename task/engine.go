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
	// ImportConcurrency is how many members an import inflates at once.
	// Default: GOMAXPROCS.
	ImportConcurrency int
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

	mu      sync.Mutex
	tasks   map[uint64]*entry // every task kept, by uid
	uids    []uint64          // every task kept, ascending
	queue   []uint64          // enqueued tasks, ascending
	busy    map[string]uint64 // index uid → the processing task holding it
	running int               // processing tasks (holding an index or not)
	nextUID uint64
	started bool
	closing bool
	closed  bool
	idle    chan struct{} // closed and replaced whenever running drops to 0
	share   cpuShare      // snapshot compression against other tasks (throttle.go)
	// inFlight finds an unfinished task by its kind's tracks name: an
	// import by the index it registers, a snapshot creation by its index.
	inFlight map[Kind]map[string]uint64
	// reserved holds names for imports not yet enqueued (reserve.go).
	reserved map[string]*Reservation
	// observers are told of finished tasks and reused snapshots (observe.go).
	observers []Observer

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
	kind     *kindSpec // the table entry of task.Type
	task     Task
	req      request
	stream   io.Reader     // live import stream, never persisted
	output   io.Writer     // Request.Output, never persisted
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
	Stream       bool     `json:"stream,omitempty"`  // the import read a live stream
	Replace      bool     `json:"replace,omitempty"` // the import replaces an index of its name
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
		inFlight:   map[Kind]map[string]uint64{},
		reserved:   map[string]*Reservation{},
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
