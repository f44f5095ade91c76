package task

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"
)

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
		idx := ent.kind.holds(ent.task, ent.req)
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

// startLocked starts processing ent, which holds the indexes held.
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
	ent.prog.onStep = func() { e.persistStep(ent) }
	ent.prog.now = e.opts.Now
	e.running++
	e.share.started(ent)
	if err := e.persistLocked(ent, true); err != nil {
		e.log.Warn("persist task start", "task", ent.task.UID, "err", err)
	}
	e.log.Info("task started", "task", ent.task.UID, "type", string(ent.task.Type), "index", ent.task.IndexUID)
	e.wg.Add(1)
	go e.work(ctx, cancel, ent)
}

// work processes ent and records its outcome. It runs in a goroutine of its
// own, which e.wg counts.
func (e *Engine) work(ctx context.Context, cancel context.CancelFunc, ent *entry) {
	defer e.wg.Done()
	defer cancel()
	r := &run{e: e, ent: ent, task: ent.task, req: ent.req, stream: ent.stream, output: ent.output, prog: ent.prog}
	details, err := e.process(ctx, r)
	e.finished(ent, details, err)
}

// persistStep persists the progress of ent, a processing task that moved
// to a new step.
func (e *Engine) persistStep(ent *entry) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if ent.task.Status == Processing {
		if err := e.persistLocked(ent, false); err != nil {
			e.log.Warn("persist task progress", "task", ent.task.UID, "err", err)
		}
	}
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
	e.share.stopped(ent)
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
	case isCancel(err) && e.closing && ent.kind.requeueOnShutdown:
		e.requeueLocked(ent)
	case isCancel(err) && e.closing:
		e.finishLocked(ent, Failed, details, fmt.Errorf("%w: idxfs stopped while the task was processing", ErrInterrupted))
	default:
		e.finishLocked(ent, Failed, details, err)
	}
	e.dispatchLocked()
}

// requeueLocked puts ent, stopped by shutdown in its validation pass (so
// nothing was applied), back in the queue, to run again at the next start.
func (e *Engine) requeueLocked(ent *entry) {
	ent.task.Status = Enqueued
	ent.task.StartedAt = nil
	ent.task.Progress = nil
	e.queue = append(e.queue, ent.task.UID)
	slices.Sort(e.queue)
	if perr := e.persistLocked(ent, true); perr != nil {
		e.log.Warn("persist task", "task", ent.task.UID, "err", perr)
	}
	e.log.Info("task interrupted by shutdown; it runs again at the next start", "task", ent.task.UID)
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
	ent.output = nil
	e.untrackLocked(ent)
	close(ent.done)
	attrs := []any{"task", t.UID, "type", string(t.Type), "index", t.IndexUID, "status", string(st)}
	if t.Error != nil {
		attrs = append(attrs, "err", t.Error.Message, "code", t.Error.Code)
	}
	e.log.Info("task finished", attrs...)
	for _, o := range e.observers {
		o.TaskFinished(*t)
	}
	e.pruneLocked()
}

// finalTask returns t finished at now with status st, details (nil: keep
// t's) and err.
func finalTask(t Task, st Status, details any, err error, now time.Time) Task {
	t.Status = st
	t.FinishedAt = &now
	t.Progress = t.Progress.finished()
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
