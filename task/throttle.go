package task

import "context"

// cpuShare keeps a snapshot's compression from starving the other tasks
// (issue 10 item 4): while any other task is processing — a document write
// to the very index being archived, typically, since a snapshot creation
// holds its index only for the checkpoint — the archive writer compresses
// on one goroutine instead of Concurrency, leaving the other cores to that
// task. Enqueued tasks do not count: dispatch starts every task that can
// start, so one still enqueued is waiting for something else (its index, a
// worker), not for a core. Guarded by Engine.mu.
type cpuShare struct {
	running int           // processing tasks other than snapshot creations
	idle    chan struct{} // closed and dropped when running drops to 0
}

// compressing reports whether t is a task that the throttle leaves alone.
func compressing(t Task) bool { return t.Type == SingleIndexSnapshotCreation }

func (s *cpuShare) started(ent *entry) {
	if !compressing(ent.task) {
		s.running++
	}
}

func (s *cpuShare) stopped(ent *entry) {
	if compressing(ent.task) {
		return
	}
	if s.running--; s.running == 0 && s.idle != nil {
		close(s.idle)
		s.idle = nil
	}
}

// throttle is the snapshot writer's WriteOptions.Throttle: compressing
// goroutine 0 always goes on, the others wait while another task is
// processing. A waiting goroutine holds no member, so the ones that run are
// not held up.
func (e *Engine) throttle(ctx context.Context, worker int) error {
	if worker == 0 {
		return nil
	}
	e.mu.Lock()
	if e.share.running == 0 {
		e.mu.Unlock()
		return nil
	}
	if e.share.idle == nil {
		e.share.idle = make(chan struct{})
	}
	idle := e.share.idle
	e.mu.Unlock()
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
