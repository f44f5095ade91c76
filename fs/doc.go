// Package fs is the FUSE tree of idxfs (DESIGN §3): it turns filesystem
// operations into task-engine calls and task results into errnos, through the
// one errno table in errno.go. It imports go-fuse's fs package as gofs.
//
// # The tree
//
// Every entry is a node type of its own; the files that define them:
//
//	MOUNT/                          rootNode (root.go): the fixed part of the tree, made at mount
//	├── status, status.json         genFile (genfile.go, status.go): daemon summary, generated at open
//	├── indexes/                    indexesDir (indexes.go): mkdir creates an index, rmdir deletes one, rename renames or swaps
//	│   └── NAME/                   indexDir: one inode per index lineage, across renames, swaps and replaces (a re-created NAME is another)
//	│       ├── snapshot.tar.gz     snapshotFile (snapshot.go): a stored snapshot, or one created at open
//	│       ├── documents.ndjson    documentsFile (documents.go): an export at read open; O_TRUNC/O_APPEND writes
//	│       ├── delete-documents    requestFile (deletedocs.go): reads empty; ids written, one a line, deleted at close
//	│       ├── primary-key         requestFile (primarykey.go): reads the key; a key written is set at close (indexUpdate)
//	│       └── status, status.json genFile: the index's summary
//	├── import/                     importDir (import.go): create NAME imports an archive as index NAME (NAME.replace… replaces it)
//	│   └── NAME                    importFile: the bytes streamed to (importstream.go) their import (importentry.go)
//	├── tasks/                      tasksDir (tasks.go): the newest tasks; any task by uid; rm cancels
//	│   └── UID.json                genFile: one task as JSON
//	├── snapshots/                  snapshotsDir (snapshots.go): the snapshot store, as the engine lists it
//	│   └── NAME/                   snapshotsIndexDir: the stored snapshots of NAME (deleted indexes' too); rm deletes one
//	│       └── NAME_<time>.idx.snapshot  storedFile: one stored snapshot, read-only
//	└── backup/                     backupDir (backup.go): every index's current snapshot, flat, for rsync and cp
//	    └── NAME.tar.gz             snapshotFile: the node of indexes/NAME/snapshot.tar.gz (one inode)
//
// Every directory node embeds refusingDir and every file node refusingFile
// (refuse.go), or answers their one call, Setattr, itself (import/ files,
// documents.ndjson, delete-documents, primary-key), so that a change it does not make on purpose gets EPERM
// rather than go-fuse's default. The one built-in entry whose rm acts is a
// stored snapshot in snapshots/NAME/: it deletes it from the store.
// Inode numbers are stable (ino, attr.go): a kind and a key, such as the
// index's database id or the stored file's path, so that tools which compare
// the inode of stat and open (cp) see one file. Modes are nominal modes
// masked by the data dir's permission bits (attr.go).
//
// # Lookup and stat never start work
//
// ls -l, find, tar, rsync and file managers stat everything they see. If a
// stat of snapshot.tar.gz or documents.ndjson started a snapshot or an
// export, `ls -l MOUNT/indexes/*` would snapshot every index. So lookup and
// getattr read state only — the index store, the engine's task list, the
// snapshot store's record of its newest file per index, the export cache —
// and never enqueue a task or write a file: they report the size of a
// complete artefact of the index's current state, or 0 if there is none
// (DESIGN §4). The work starts at open, which blocks until the artefact is
// complete; from then on getattr reports its true size. The one exception
// is Options.ExactStat, for tools that trust lstat: the lookup of a stale
// snapshot.tar.gz then waits for a fresh one (and every stat by path looks
// up again: entries are not cached). Status and task files are generated
// from the current state at lookup, getattr and open: that reads, and
// starts nothing.
//
// # Timeouts
//
// Nothing is cached by the kernel unless a node says so: the mount's entry,
// attribute and negative timeouts are 0. Then, per node:
//
//   - MOUNT/ itself: attributes 1s (it never changes).
//   - indexes/NAME/: entry and attributes dirTimeout (1s); it changes
//     through this mount only (a rename moves the kernel's dentry itself),
//     and a re-created NAME is a new inode.
//   - snapshots/NAME/FILE: entry and attributes dirTimeout; a stored
//     snapshot never changes.
//   - everything else, and in particular snapshot.tar.gz (and backup/NAME.tar.gz), documents.ndjson,
//     the status files and import/ entries: 0. Their size changes at open
//     (DESIGN §4: the kernel must not keep a stale size), and an import
//     entry's with every write.
//
// Files whose content differs between opens of one inode are opened with
// FOPEN_DIRECT_IO (status and task files, documents.ndjson, both for reading
// and for writing, and the request files), so that reads reach the handle whatever size the kernel
// cached. snapshot.tar.gz and stored snapshots are served from their file in
// the store, by FUSE passthrough where the kernel allows (one served file
// per inode: see snapshotFile).
//
// # Interrupts and blocking calls
//
// Some calls wait for a task: the open of snapshot.tar.gz (the snapshot
// creation), mkdir and rmdir in indexes/, the close (flush) of a write of
// documents.ndjson or a request file, the close of a file in import/ or its rename to a final
// name (the import), and, with ExactStat, the lookup of snapshot.tar.gz.
// The wait is task.Engine.Wait (or Engine.Snapshot, which waits the same
// way) with the request's context. When the calling process gets a signal
// (Ctrl-C), the kernel sends FUSE_INTERRUPT for the blocked request; go-fuse
// cancels that request's context; the wait returns ctx.Err(), which the errno
// table maps to EINTR. The task itself is not canceled: an interrupted open
// of snapshot.tar.gz leaves its creation running, and the snapshot lands in
// the store, where the next open finds it (or joins the creation still in
// flight). A task is canceled only by rm tasks/UID.json (and an import by
// rm import/NAME or the expiry of an abandoned entry); a reader waiting for
// a canceled snapshot creation gets ECANCELED. The first open of documents.ndjson for a version
// makes the export under the mount's own context, shared by every opener,
// so it is not interrupted; later openers that join it are.
//
// # Locks
//
// Each lock guards the fields its type documents. Where two are held at
// once, they are taken in this order:
//
//	importEntry.commitMu → importTable.mu → importEntry.mu → importStream.mu
//	importTable.mu → index.Store (Exists, to reserve a name)
//	documentsWriter.mu → exportCache.mu, staging.mu
//
// The engine is called with none of these locks held but the two that
// serialise a commit: importEntry.commitMu (one commit of an import at a
// time) and documentsWriter.mu (one flush of a handle at a time), which stay
// held while the task runs and is waited for. The engine calls back into
// this package only to read a streaming import's bytes and to abort that
// stream (importStream.mu). mountState.dirMu, exportCache.mu,
// snapshotFile.mu, documentsFile.mu, genFile.mu, staging.mu and
// importStream.mu are leaves: nothing but the file system and the log is
// called while one is held (a write waiting for its import asks the engine
// whether the import still runs with importStream.mu released).
//
// # Lifecycle
//
// Mount (mount.go) checks the mountpoint (mountinfo.go), builds the shared
// mountState (state.go) and the root node, and serves in the background;
// Server.Unmount unmounts and then closes the mountState, which stops what
// the mount runs in the background (import expiry timers, the export
// sweeper) and removes staging, parking and export files. The engine and the index
// store belong to the caller.
package fs
