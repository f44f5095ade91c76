package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/idxfs/idxfs/cmd/idxfs/progress"
	"github.com/idxfs/idxfs/index"
	"github.com/idxfs/idxfs/task"
)

// backend is a data dir as the commands use it (issue 9 item 1): the
// engine of a data dir this process opened (localBackend), or, when a mount
// holds the data dir, the mount's own files (mountBackend, mountclient.go).
// Both give the same values, so that a command prints the same output,
// --json and exit code either way.
type backend interface {
	// Tasks lists tasks, newest first.
	Tasks(f task.Filter) ([]task.Task, error)
	Task(uid uint64) (task.Task, error)
	Indexes(ctx context.Context) ([]index.Info, error)
	Index(ctx context.Context, name string) (index.Info, error)
	// Submit enqueues r and, unless w.NoWait, waits for it, showing its
	// progress, and reports the outcome (printing it as env.submit does).
	Submit(ctx context.Context, w waitOptions, r task.Request) (task.Task, error)
	// Wait waits for task uid as Submit does.
	Wait(ctx context.Context, w waitOptions, uid uint64) (task.Task, error)
	Cancel(uid uint64) (task.Task, error)
	// Export writes the index's documents as NDJSON.
	Export(ctx context.Context, idx string, w io.Writer) error
	Document(ctx context.Context, idx, id string) (json.RawMessage, error)
	// Snapshots lists the stored snapshots of index idx ("": all).
	Snapshots(idx string) ([]task.StoredSnapshot, error)
	// StoredArchive is storedArchive on the data dir's snapshot store.
	StoredArchive(file string) (string, error)
}

// localBackend is the engine of a data dir this command opened.
type localBackend struct{ e *env }

func (b localBackend) Tasks(f task.Filter) ([]task.Task, error) { return b.e.engine.List(f), nil }
func (b localBackend) Task(uid uint64) (task.Task, error)       { return b.e.engine.Get(uid) }
func (b localBackend) Indexes(ctx context.Context) ([]index.Info, error) {
	return b.e.store.List(ctx)
}
func (b localBackend) Index(ctx context.Context, name string) (index.Info, error) {
	return b.e.store.Get(ctx, name)
}
func (b localBackend) Submit(ctx context.Context, w waitOptions, r task.Request) (task.Task, error) {
	return b.e.submit(ctx, w, r)
}

// Wait runs the queue up to task uid: it returns once uid and every task
// enqueued before it have finished, so that `tasks wait` of the last of
// several --no-wait tasks leaves none of them enqueued when it returns
// (the engine runs tasks of other indexes concurrently, so uid may finish
// first). Through the mount the daemon runs the whole queue anyway.
func (b localBackend) Wait(ctx context.Context, w waitOptions, uid uint64) (task.Task, error) {
	t, err := b.e.wait(ctx, w, uid)
	if err != nil {
		return t, err
	}
	for _, u := range b.e.engine.List(task.Filter{Statuses: []task.Status{task.Enqueued, task.Processing}}) {
		if u.UID < uid {
			if _, err := b.e.engine.Wait(ctx, u.UID); err != nil {
				return t, err
			}
		}
	}
	return t, nil
}
func (b localBackend) Cancel(uid uint64) (task.Task, error) { return b.e.engine.Cancel(uid) }
func (b localBackend) Document(ctx context.Context, idx, id string) (json.RawMessage, error) {
	return b.e.store.Document(ctx, idx, id)
}
func (b localBackend) Snapshots(idx string) ([]task.StoredSnapshot, error) {
	return b.e.engine.Snapshots(idx)
}
func (b localBackend) StoredArchive(file string) (string, error) {
	return storedArchive(b.e.engine.ResolveSnapshot, file)
}
func (b localBackend) Export(ctx context.Context, idx string, w io.Writer) error {
	_, err := b.e.store.Export(ctx, idx, w)
	return err
}

// withBackend runs fn on the data dir: opened here as withEnvMode opens it,
// or, if a mount holds it (its LOCK names the mountpoint), through the
// mount's files. The CLI never serves a mount itself: it is a separate
// process touching the mount, so it cannot deadlock on it.
func withBackend(ctx context.Context, g globalOptions, run, readOnly bool, fn func(backend) error) error {
	err := withEnvMode(ctx, g, run, readOnly, func(e *env) error { return fn(localBackend{e}) })
	le, ok := mountHolding(err)
	if !ok {
		return err
	}
	b, merr := openMountBackend(g, le.Holder.Mountpoint, le.Holder.PID)
	if merr != nil {
		return fmt.Errorf("%w (and its mount cannot be used: %v)", err, merr)
	}
	return fn(b)
}

// withReadBackend is withBackend for commands that only read.
func withReadBackend(ctx context.Context, g globalOptions, fn func(backend) error) error {
	return withBackend(ctx, g, false, true, fn)
}

// mountHolding reports the lock error of a mount: err says a mount holds
// the data dir.
func mountHolding(err error) (*index.LockedError, bool) {
	var le *index.LockedError
	if !errors.As(err, &le) || le.Holder.Mountpoint == "" {
		return nil, false
	}
	return le, true
}

// outcome prints how task t ended, as a waiting command does, and turns its
// failure into an error (the task's own, so that its code gives the exit
// code).
func outcome(g globalOptions, w waitOptions, t task.Task) (task.Task, error) {
	if w.JSON {
		if err := printJSON(w.writer(g), t); err != nil {
			return t, err
		}
	}
	switch t.Status {
	case task.Succeeded:
		if !w.JSON {
			fmt.Fprintln(w.writer(g), summary(t))
		}
		return t, nil
	case task.Canceled:
		return t, canceledError{t.UID}
	}
	if t.Error == nil {
		return t, fmt.Errorf("task %d %s", t.UID, t.Status)
	}
	return t, t.Error
}

// enqueued prints what a --no-wait command prints.
func enqueued(g globalOptions, w waitOptions, t task.Task) (task.Task, error) {
	if w.JSON {
		return t, printJSON(w.writer(g), t)
	}
	fmt.Fprintf(w.writer(g), "enqueued task %d (%s of %q)\n", t.UID, t.Type, t.IndexUID)
	fmt.Fprintf(g.stderr, "It runs while idxfs is mounted on this data dir, or with: idxfs tasks wait %d\n", t.UID)
	return t, nil
}

// showing runs wait with the progress display on, fed by poll, and gone
// before the outcome is printed.
func showing(g globalOptions, w waitOptions, poll progress.Poll, wait func() (task.Task, error)) (task.Task, error) {
	opts := progress.Options{Mode: progress.ModeFor(g.stderr, w.JSON), Out: g.stderr}
	if w.JSON {
		opts.Out = w.writer(g) // with the final object
	}
	d := progress.Start(opts, poll)
	defer d.Stop()
	return wait()
}
