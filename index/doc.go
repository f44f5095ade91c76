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
//
// # Data directory
//
//	DATA/LOCK                flock(LOCK_EX|LOCK_NB) held while a Store is open;
//	                         JSON {pid, mountpoint, since} of the holder
//	DATA/VERSION             "1\n", written atomically (temp file, fsync, rename)
//	DATA/meta/               pebble: index map under "index/<uid>" → JSON {id, createdAt};
//	                         other namespaces (Store.Meta) under "<ns>/"
//	DATA/indexes/<id>/       one pebble database per index; id is 16 random hex digits
//	DATA/snapshots/indexes/  owned by the snapshot store (package task)
//	DATA/tmp/                staging; emptied by Open
//
// Every create, import and delete is atomic on disk: a database is built in
// tmp/, synced and renamed into indexes/ before its map entry is written
// (synced); a delete removes the map entry first. Open removes directories in
// indexes/ that no map entry names, so a crash leaves no half index. Rename,
// Swap and Replace (rename.go) change which database a name stands for in
// one write of the map; databases never move, so a reader in flight keeps
// the one it started with.
//
// # Index database
//
// Everything about an index except its uid lives in its own database, so a
// checkpoint (and an archive of it) carries it:
//
//	m/primaryKey   the primary key field name (absent until known)
//	m/version      uint64 big-endian; 1 at creation, +1 for every successful change
//	m/createdAt    RFC 3339 with nanoseconds, UTC
//	m/updatedAt    RFC 3339 with nanoseconds, UTC
//	m/count        uint64 big-endian: the number of documents
//	m/lastWrite    JSON {tag, result} of the last document write that had a
//	               WriteOptions.Tag, written in the batch that completes it
//	d<encoded id>  a document, stored as the compact JSON object it was given as
//
// version, updatedAt and count are written in the same batch as the change
// they describe.
//
// # Document ids
//
// A document's id is the value of its primary key field: a JSON string, or a
// non-negative JSON integer (no fraction, no exponent). Its canonical form is
// the string itself or the integer in decimal, so "7" and 7 name the same
// document. A canonical id is 1–511 bytes of [A-Za-z0-9_-].
//
// Ids are encoded in keys so that the database's byte order is a sensible
// primary-key order, the order of Export:
//
//	d 0x00 len digits   canonical ids that are all ASCII digits, without a leading
//	                    zero (or "0"), at most 20 digits: sorted numerically
//	d 0x01 id           every other id: sorted bytewise, after all numbers
//
// # Writes
//
// AddDocuments and ReplaceDocuments read their payload (NDJSON or a JSON
// array, told apart by its first non-space byte) twice: pass 1 validates
// every document and infers the primary key without writing; pass 2 applies
// it in batches of about 16 MiB, each committed with sync, and advances the
// version and updatedAt in its last batch. A bad document therefore leaves the
// index unchanged, and a crash during pass 2 leaves a consistent index (the
// document counter always matches) that re-running the write brings to the
// same final state. Within one payload the last occurrence of an id wins.
//
// Documents are strict JSON (checkJSON): valid UTF-8, no lone surrogate
// escape, no duplicate key in any object, at most 10,000 levels deep. A
// document longer than MaxDocumentSize is refused before it is buffered.
//
// Writers to one index are serialized; readers (Document, Export, Get) never
// wait for them.
package index
