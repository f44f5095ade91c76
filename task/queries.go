package task

import (
	"context"
	"fmt"
	"slices"
)

// Get returns task uid, with live progress if it is processing.
func (e *Engine) Get(uid uint64) (Task, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	ent, err := e.entryLocked(uid)
	if err != nil {
		return Task{}, err
	}
	return e.viewLocked(ent), nil
}

// entryLocked returns the entry of task uid, or an error wrapping
// ErrTaskNotFound.
func (e *Engine) entryLocked(uid uint64) (*entry, error) {
	ent, ok := e.tasks[uid]
	if !ok {
		return nil, fmt.Errorf("task %d: %w", uid, ErrTaskNotFound)
	}
	return ent, nil
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
	ent, err := e.entryLocked(uid)
	e.mu.Unlock()
	if err != nil {
		return Task{}, err
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
	ent, err := e.entryLocked(uid)
	if err != nil {
		return Task{}, err
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
