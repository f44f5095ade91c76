package task

// Observer is told what the engine did, for metrics (package task/metrics
// turns it into Prometheus counters). Its methods are called with the
// engine's lock held, in the order things happen: they must be quick and
// must not call the engine.
type Observer interface {
	// TaskFinished is called once t reached its final status.
	TaskFinished(t Task)
	// SnapshotReused is called when a stored snapshot of an index's
	// current version is handed out with no task (Engine.Snapshot, or a
	// caller that found it fresh and says so with SnapshotReused); a
	// snapshot creation task that reuses one says so in its details
	// (SnapshotCreationDetails.Reused) instead.
	SnapshotReused(s StoredSnapshot)
}

// Observe makes o be told what the engine does from now on.
func (e *Engine) Observe(o Observer) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.observers = append(e.observers, o)
}

// SnapshotReused tells the observers that s, a stored snapshot of its
// index's current version, was served instead of creating one: the mount
// calls it when it serves a snapshot.tar.gz it found fresh at lookup.
func (e *Engine) SnapshotReused(s StoredSnapshot) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, o := range e.observers {
		o.SnapshotReused(s)
	}
}
