// Package index is the index store: the only owner of a data directory's
// index databases.
//
// A Store opens a data directory (DESIGN §2), creating its layout on first
// use, writing VERSION and holding LOCK for as long as it is open. It keeps the
// index map (uid → database directory) in the meta database and one pebble
// database per index under indexes/<id>. It creates, deletes, lists and
// describes indexes; adds, replaces, deletes, reads and exports documents;
// keeps each index's version counter and updatedAt, advanced atomically with
// every change; and takes checkpoints that record exactly which version they
// hold.
//
// It knows nothing of archives, tasks or FUSE. Other packages that need to
// persist small records in the meta database (the task queue) do so through
// a namespaced Meta handle.
package index
