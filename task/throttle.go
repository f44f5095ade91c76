package task

import "context"

// cpuShare keeps a snapshot's compression from starving the other tasks
// (issue 10 item 4): while any other task is enqueued or processing — a
// document write to the very index being archived, typically, since a
// snapshot creation holds its index only for the checkpoint — the archive
// writer compresses on one goroutine instead of Concurrency, leaving the
// other cores to that task. Guarded by Engine.mu.
type cpuShare struct {
	running int           // processing tasks other than snapshot creations
	change  chan struct{} // closed and replaced when a task finishes
}

// compressing reports whether t is a task that the throttle leaves alone.
func compressing(t Task) bool { return t.Type == SingleIndexSnapshotCreation }

func (s *cpuShare) started(ent *entry) {
	if !compressing(ent.task) {
		s.running++
	}
}

func (s *cpuShare) stopped(ent *entry) {
	if !compressing(ent.task) {
		s.running--
	}
}

// changed wakes the compressing goroutines that wait: a task finished
// (processing or enqueued), so there may be nothing left to make room for.
func (s *cpuShare) changed() {
	if s.change != nil {
		close(s.change)
		s.change = nil
	}
}

// othersLocked reports whether a task other than a snapshot creation is
// processing or enqueued.
func (e *Engine) othersLocked() bool {
	if e.share.running > 0 {
		return true
	}
	for _, u := range e.queue {
		if !compressing(e.tasks[u].task) {
			return true
		}
	}
	return false
}

// throttle is the snapshot writer's WriteOptions.Throttle: compressing
// goroutine 0 always goes on, the others wait while othersLocked. A waiting
// goroutine holds no member, so the ones that run are not held up.
func (e *Engine) throttle(ctx context.Context, worker int) error {
	if worker == 0 {
		return nil
	}
	for {
		e.mu.Lock()
		if !e.othersLocked() {
			e.mu.Unlock()
			return nil
		}
		if e.share.change == nil {
			e.share.change = make(chan struct{})
		}
		ch := e.share.change
		e.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
