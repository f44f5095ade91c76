// Package task is the engine: the persistent task queue, the scheduler, one
// processor per task kind, progress, cancellation, recovery after a crash, and
// the snapshot store on disk (DATA/snapshots).
//
// Tasks are persisted in the meta database of the index store. Tasks of one
// index run in enqueue order; tasks of different indexes run concurrently up
// to a worker limit. The engine calls package index for documents and
// checkpoints and package snapshot for archives; it knows nothing of FUSE.
//
// The kind table in kind.go holds what differs between task kinds: steps,
// validation, the indexes a task holds, its processor, what a crash leaves
// of it. The engine's files follow its concerns: engine.go (options, open,
// close), enqueue.go, scheduler.go (dispatch, start, finish, prune),
// queries.go (get, list, wait, cancel), process.go (the processors),
// rename.go (those of indexRename and indexSwap), reserve.go (the names
// being imported or renamed to) and persist.go (records and recovery).
package task
