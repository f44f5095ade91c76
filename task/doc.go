// Package task is the engine: the persistent task queue, the scheduler, one
// processor per task kind, progress, cancellation, recovery after a crash, and
// the snapshot store on disk (DATA/snapshots).
//
// Tasks are persisted in the meta database of the index store. Tasks of one
// index run in enqueue order; tasks of different indexes run concurrently up
// to a worker limit. The engine calls package index for documents and
// checkpoints and package snapshot for archives; it knows nothing of FUSE.
package task
