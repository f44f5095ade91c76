package index

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"syscall"

	"github.com/cockroachdb/pebble/v2"
)

// WriteOptions configure AddDocuments and ReplaceDocuments.
type WriteOptions struct {
	// PrimaryKey, if set and the index has none yet, becomes its primary
	// key. If the index already has a different one: ErrPrimaryKey.
	PrimaryKey string
	// Progress, if set, is called from time to time (about every MiB, and
	// at the end of each pass) with the bytes of the payload read so far in
	// the current pass and the payload's size. Pass 1 validates, pass 2
	// applies.
	Progress func(pass int, done, total int64)
	// Tag, if set, is recorded with the write's result in the batch that
	// completes the write; LastWrite returns them. A caller that records
	// its writes elsewhere (the task queue) tells by it, after a crash,
	// whether a write it started was completed.
	Tag string
}

// DeleteOptions configure DeleteDocuments.
type DeleteOptions struct {
	// Tag: as WriteOptions.Tag.
	Tag string
}

// WriteResult says what a document write did.
type WriteResult struct {
	Received   uint64 `json:"receivedDocuments"` // documents in the payload
	Indexed    uint64 `json:"indexedDocuments"`  // distinct documents written (added or replaced)
	PrimaryKey string `json:"primaryKey"`
	Version    uint64 `json:"version"`                    // the index version after the write
	Deleted    uint64 `json:"deletedDocuments,omitempty"` // DeleteDocuments: documents deleted
}

// AddDocuments adds documents from payload, replacing those with the same
// primary key. The payload is NDJSON or a JSON array of objects (detected
// from its first non-space byte), streamed: it is read twice (pass 1
// validates everything and infers the primary key, pass 2 applies), never
// held in memory whole. A bad document fails the whole write with a
// *DocumentError naming its line (NDJSON) or position (array) and the reason;
// the index is then unchanged. ctx is honoured during pass 1 only: once pass
// 2 starts it runs to the end, so a write is never half-applied by
// cancellation. Pass 2 may commit in several batches for a large payload; the
// version, updatedAt and count advance in its last batch. Re-running the same
// write after a crash in pass 2 yields the same final state. The payload must
// not change between the passes.
//
// An empty payload writes nothing but still advances the version.
//
// Memory: besides one document and the current batch (about 16 MiB), pass 1
// keeps a 64-bit hash of every distinct id to count them (WriteResult.Indexed).
func (s *Store) AddDocuments(ctx context.Context, uid string, payload io.ReadSeeker, opts WriteOptions) (WriteResult, error) {
	return s.writeDocuments(ctx, uid, payload, opts, false)
}

// ReplaceDocuments is AddDocuments after removing every document: when it
// succeeds the index holds exactly the payload's documents (none for an
// empty payload).
func (s *Store) ReplaceDocuments(ctx context.Context, uid string, payload io.ReadSeeker, opts WriteOptions) (WriteResult, error) {
	return s.writeDocuments(ctx, uid, payload, opts, true)
}

func (s *Store) writeDocuments(ctx context.Context, uid string, payload io.ReadSeeker, opts WriteOptions, replace bool) (WriteResult, error) {
	h, err := s.acquire(uid)
	if err != nil {
		return WriteResult{}, err
	}
	defer s.releaseHandle(h)
	db, err := s.writableDB(h)
	if err != nil {
		return WriteResult{}, err
	}
	size, err := payloadSize(payload)
	if err != nil {
		return WriteResult{}, fmt.Errorf("index %q: payload: %w", uid, err)
	}

	// Pass 1, without the writer lock: readers and other work go on.
	st, err := readState(db)
	if err != nil {
		return WriteResult{}, fmt.Errorf("index %q: %w", uid, err)
	}
	v, err := s.validate(ctx, uid, payload, size, st.primaryKey, opts)
	if err != nil {
		return WriteResult{}, err
	}

	h.writeMu.Lock()
	defer h.writeMu.Unlock()
	if st, err = readState(db); err != nil {
		return WriteResult{}, fmt.Errorf("index %q: %w", uid, err)
	}
	if v.setPK && st.primaryKey != "" && st.primaryKey != v.primaryKey {
		// Another writer set the primary key meanwhile: validate again
		// against it, now under the lock.
		if v, err = s.validate(ctx, uid, payload, size, st.primaryKey, opts); err != nil {
			return WriteResult{}, err
		}
	}
	v.setPK = st.primaryKey == ""

	// Pass 2 writes about the payload twice (pebble's WAL, then the
	// tables it flushes to): it starts only if that fits.
	release, err := s.space.reserve(fmt.Sprintf("index %q: write %s of documents", uid, human(size)), 2*size+writeOverhead)
	if err != nil {
		return WriteResult{}, err
	}
	defer release()
	// Pass 2: ctx no longer matters.
	s.applying.Add(1)
	defer s.applying.Add(-1)
	return s.apply(h, db, st, payload, size, v, replace, opts)
}

// validation is what pass 1 found.
type validation struct {
	primaryKey string
	setPK      bool // the index has no primary key yet: record primaryKey
	received   uint64
	distinct   uint64
}

// validate is pass 1: it reads the whole payload, checks every document and
// settles the primary key. indexPK is the index's primary key ("" if none).
func (s *Store) validate(ctx context.Context, uid string, payload io.ReadSeeker, size int64, indexPK string, opts WriteOptions) (validation, error) {
	v := validation{primaryKey: indexPK}
	if opts.PrimaryKey != "" {
		if indexPK != "" && indexPK != opts.PrimaryKey {
			return v, fmt.Errorf("index %q: primary key is %q, cannot use %q: %w", uid, indexPK, opts.PrimaryKey, ErrPrimaryKey)
		}
		v.primaryKey = opts.PrimaryKey
	}
	v.setPK = indexPK == ""
	if _, err := payload.Seek(0, io.SeekStart); err != nil {
		return v, fmt.Errorf("index %q: payload: %w", uid, err)
	}
	seed := maphash.MakeSeed()
	seen := make(map[uint64]struct{})
	err := s.readPayload(payload, size, 1, opts.Progress, func(doc rawDocument) error {
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		default:
		}
		obj, err := parseDocument(doc.data, doc.position)
		if err != nil {
			return err
		}
		if v.primaryKey == "" {
			if v.primaryKey, err = inferPrimaryKey(obj, doc.position); err != nil {
				return err
			}
		}
		id, err := documentID(obj, v.primaryKey, doc.position)
		if err != nil {
			return err
		}
		v.received++
		seen[maphash.String(seed, id)] = struct{}{}
		return nil
	})
	if err != nil {
		var de *DocumentError
		if errors.As(err, &de) || ctx.Err() != nil {
			return v, fmt.Errorf("index %q: %w", uid, err)
		}
		return v, fmt.Errorf("index %q: read payload: %w", uid, err)
	}
	v.distinct = uint64(len(seen))
	return v, nil
}

// readPayload calls fn for every document of payload (read from its current
// offset), reporting progress about every MiB and at the end.
func (s *Store) readPayload(payload io.ReadSeeker, size int64, pass int, progress func(int, int64, int64), fn func(rawDocument) error) error {
	p, err := newPayloadReader(payload, s.maxDoc)
	if err != nil {
		return err
	}
	var reported int64
	for {
		doc, err := p.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		if err := fn(doc); err != nil {
			return err
		}
		if off := p.offset(); progress != nil && off-reported >= 1<<20 {
			reported = off
			progress(pass, off, size)
		}
	}
	if progress != nil {
		progress(pass, size, size)
	}
	return nil
}

// apply is pass 2. The caller holds h.writeMu and a space reservation for
// the write. A failure after some batches were committed (the disk filled
// up from elsewhere, a fatal error of pebble, a payload that changed) rolls
// them back from a snapshot of the database taken before the first one, so
// that the index is as before (rollback); only a crash leaves them, for the
// re-run at the next start to complete.
// The last batch also records opts.Tag with the result (setLastWrite), so
// that recovery can tell that the write completed.
func (s *Store) apply(h *handle, db *pebble.DB, st state, payload io.ReadSeeker, size int64, v validation, replace bool, opts WriteOptions) (res WriteResult, err error) {
	progress := opts.Progress
	res = WriteResult{Received: v.received, Indexed: v.distinct, PrimaryKey: v.primaryKey}
	if _, err := payload.Seek(0, io.SeekStart); err != nil {
		return res, fmt.Errorf("index %q: payload: %w", h.uid(), err)
	}
	before := db.NewSnapshot() // what a rollback restores
	defer before.Close()
	count := st.count
	b := db.NewIndexedBatch()
	defer func() { b.Close() }()
	if replace {
		if err := b.DeleteRange(docKeyLower, docKeyUpper, nil); err != nil {
			return res, err
		}
		count = 0
	}
	if v.setPK {
		if err := b.Set(keyPrimaryKey, []byte(v.primaryKey), nil); err != nil {
			return res, err
		}
	}
	batches := 0
	var committedDocs uint64 // documents of the payload in committed batches
	var docs uint64          // documents of the payload read so far
	crashed := false         // a test hook stopped pass 2 as a crash would
	commit := func(b *pebble.Batch) (err error) {
		if hook := s.hooks.beforeCommit; hook != nil {
			if err := hook(batches + 1); err != nil {
				return err
			}
		}
		if s.space.isFull() {
			return fmt.Errorf("%w: the disk filled up during the write", syscall.ENOSPC)
		}
		return commitGuarded(b, h)
	}
	var key []byte
	var value bytes.Buffer
	err = s.readPayload(payload, size, 2, progress, func(doc rawDocument) error {
		// Compacting validates too (pass 1 did; the payload may have changed).
		value.Reset()
		if err := json.Compact(&value, doc.data); err != nil || value.Bytes()[0] != '{' {
			return &DocumentError{Position: doc.position, Reason: "not the JSON object pass 1 read (did the payload change?)", Err: ErrMalformedPayload}
		}
		id, err := documentID(object(value.Bytes()), v.primaryKey, doc.position)
		if err != nil {
			return err
		}
		docs++
		key = appendDocumentKey(key[:0], id)
		_, closer, err := b.Get(key)
		switch {
		case err == nil:
			closer.Close()
		case errors.Is(err, pebble.ErrNotFound):
			count++
		default:
			return err
		}
		if err := b.Set(key, value.Bytes(), nil); err != nil {
			return err
		}
		if b.Len() < s.batchSize {
			return nil
		}
		// Commit this batch: its documents with the counter that matches
		// them, but not the version (the write is not done).
		if _, err := setCountAndVersion(b, st, count, false); err != nil {
			return err
		}
		if err := commit(b); err != nil {
			return err
		}
		b.Close()
		b = db.NewIndexedBatch()
		batches++
		committedDocs = docs
		if hook := s.hooks.afterBatch; hook != nil {
			if err := hook(batches); err != nil {
				crashed = true
				return err
			}
		}
		return nil
	})
	if err == nil {
		if res.Version, err = setCountAndVersion(b, st, count, true); err == nil {
			if err = setLastWrite(b, opts.Tag, res); err == nil {
				err = commit(b)
			}
		}
	}
	if err != nil {
		err = fmt.Errorf("index %q: apply documents: %w", h.uid(), err)
		if batches > 0 && !crashed {
			if rerr := s.rollback(h, db, before, st, payload, committedDocs, v, replace); rerr != nil {
				return res, fmt.Errorf("%w; rolling back its %d committed batches failed, the index holds part of the write: %v", err, batches, rerr)
			}
			s.log.Warn("document write failed; rolled back", "index", h.uid(), "batches", batches, "err", err)
		}
		return res, err
	}
	s.log.Debug("documents written", "index", h.uid(), "documents", res.Received, "replace", replace, "version", res.Version, "bytes", size)
	return res, nil
}

// rollback undoes the batches a failed pass 2 committed: the first n
// documents of the payload (or, for a replace, every document) get back
// the value they had in before, and the counter and primary key theirs.
// It commits in small batches, each only if it fits in the free space (a
// rollback must not be what fills the disk).
func (s *Store) rollback(h *handle, db *pebble.DB, before *pebble.Snapshot, st state, payload io.ReadSeeker, n uint64, v validation, replace bool) (err error) {
	if failed := h.dbErr(); failed != nil {
		return failed // its commit pipeline may be stuck
	}
	// Small batches: a rollback may have only the room the ballast left.
	const chunk = 256 << 10
	b := db.NewBatch()
	defer func() { b.Close() }()
	flush := func(final bool) (err error) {
		if !final && b.Len() < chunk {
			return nil
		}
		if free := s.space.freeBytes(); free < 2*int64(b.Len())+1<<20 {
			return fmt.Errorf("%w: %s free", syscall.ENOSPC, human(free))
		}
		if err := commitGuarded(b, h); err != nil {
			return err
		}
		b.Close()
		b = db.NewBatch()
		return nil
	}
	restore := func(key []byte) error {
		old, closer, err := before.Get(key)
		switch {
		case err == nil:
			err = b.Set(key, old, nil)
			closer.Close()
		case errors.Is(err, pebble.ErrNotFound):
			err = b.Delete(key, nil)
		}
		if err != nil {
			return err
		}
		return flush(false)
	}
	if replace {
		// Every document may have changed: remove them all, put back
		// those of before.
		if err := b.DeleteRange(docKeyLower, docKeyUpper, nil); err != nil {
			return err
		}
		it, err := before.NewIter(&pebble.IterOptions{LowerBound: docKeyLower, UpperBound: docKeyUpper})
		if err != nil {
			return err
		}
		for it.First(); it.Valid() && err == nil; it.Next() {
			var val []byte
			if val, err = it.ValueAndErr(); err == nil {
				if err = b.Set(it.Key(), val, nil); err == nil {
					err = flush(false)
				}
			}
		}
		if cerr := it.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	} else {
		if _, err := payload.Seek(0, io.SeekStart); err != nil {
			return err
		}
		var done uint64
		stop := errors.New("done")
		var key []byte
		err := s.readPayload(payload, 0, 2, nil, func(doc rawDocument) error {
			if done == n {
				return stop
			}
			done++
			obj, err := parseDocument(doc.data, doc.position)
			if err != nil {
				return err
			}
			id, err := documentID(obj, v.primaryKey, doc.position)
			if err != nil {
				return err
			}
			key = appendDocumentKey(key[:0], id)
			return restore(key)
		})
		if err != nil && err != stop {
			return err
		}
	}
	if err := restore(keyPrimaryKey); err != nil {
		return err
	}
	if err := b.Set(keyCount, encodeUint(st.count), nil); err != nil {
		return err
	}
	return flush(true)
}

// commitGuarded commits b to h's database; a fatal error of pebble fails
// the database (catchFatal) instead of the process.
func commitGuarded(b *pebble.Batch, h *handle) (err error) {
	defer catchFatal(&err, h.dbFailed)
	return b.Commit(pebble.Sync)
}

// payloadSize returns the payload's size and rewinds it.
func payloadSize(r io.Seeker) (int64, error) {
	n, err := r.Seek(0, io.SeekEnd)
	if err != nil {
		return 0, err
	}
	_, err = r.Seek(0, io.SeekStart)
	return n, err
}

// DeleteDocuments deletes the documents with the given ids (canonical string
// form) in one batch; ids not present are ignored. It returns how many were
// deleted and advances the version (even when none were).
// ErrInvalidDocumentID if any id is invalid (nothing is then deleted).
func (s *Store) DeleteDocuments(ctx context.Context, uid string, ids []string, opts ...DeleteOptions) (deleted uint64, err error) {
	for _, id := range ids {
		if err := ValidateDocumentID(id); err != nil {
			return 0, fmt.Errorf("index %q: %w", uid, err)
		}
	}
	h, err := s.acquire(uid)
	if err != nil {
		return 0, err
	}
	defer s.releaseHandle(h)
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	db, err := s.writableDB(h)
	if err != nil {
		return 0, err
	}
	// Deleting is how a user makes room: allowed on a full disk as long
	// as the tombstones fit.
	if err := s.space.small(fmt.Sprintf("index %q: delete documents", uid)); err != nil {
		return 0, err
	}
	h.writeMu.Lock()
	defer h.writeMu.Unlock()
	st, err := readState(db)
	if err != nil {
		return 0, fmt.Errorf("index %q: %w", uid, err)
	}
	b := db.NewIndexedBatch()
	defer b.Close()
	for _, id := range ids {
		key := documentKey(id)
		_, closer, err := b.Get(key)
		if errors.Is(err, pebble.ErrNotFound) {
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("index %q: %w", uid, err)
		}
		closer.Close()
		if err := b.Delete(key, nil); err != nil {
			return 0, err
		}
		deleted++
	}
	if deleted > st.count {
		return 0, fmt.Errorf("index %q: deleting %d documents of %d counted: %w", uid, deleted, st.count, ErrCorrupt)
	}
	version, err := setCountAndVersion(b, st, st.count-deleted, true)
	if err != nil {
		return 0, err
	}
	for _, o := range opts {
		if err := setLastWrite(b, o.Tag, WriteResult{Deleted: deleted, PrimaryKey: st.primaryKey, Version: version}); err != nil {
			return 0, err
		}
	}
	if err := commitGuarded(b, h); err != nil {
		return 0, fmt.Errorf("index %q: delete documents: %w", uid, err)
	}
	return deleted, nil
}

// LastWrite returns the tag and result of the last document write on index
// uid that had a tag ("" if none). ErrNotFound.
func (s *Store) LastWrite(ctx context.Context, uid string) (tag string, res WriteResult, err error) {
	h, err := s.acquire(uid)
	if err != nil {
		return "", res, err
	}
	defer s.releaseHandle(h)
	db, err := s.database(h)
	if err != nil {
		return "", res, err
	}
	v, closer, err := db.Get(keyLastWrite)
	if errors.Is(err, pebble.ErrNotFound) {
		return "", res, nil
	}
	if err != nil {
		return "", res, fmt.Errorf("index %q: %w", uid, err)
	}
	defer closer.Close()
	var lw lastWrite
	if err := json.Unmarshal(v, &lw); err != nil {
		return "", res, fmt.Errorf("index %q: %s holds %q: %v: %w", uid, keyLastWrite, clip(string(v)), err, ErrCorrupt)
	}
	return lw.Tag, lw.Result, nil
}

// Document returns one document as stored (compact JSON).
// ErrNotFound, ErrDocumentNotFound, ErrInvalidDocumentID.
func (s *Store) Document(ctx context.Context, uid, id string) (json.RawMessage, error) {
	if err := ValidateDocumentID(id); err != nil {
		return nil, fmt.Errorf("index %q: %w", uid, err)
	}
	h, err := s.acquire(uid)
	if err != nil {
		return nil, err
	}
	defer s.releaseHandle(h)
	db, err := s.database(h)
	if err != nil {
		return nil, err
	}
	v, closer, err := db.Get(documentKey(id))
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, fmt.Errorf("index %q: document %q: %w", uid, id, ErrDocumentNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("index %q: document %q: %w", uid, id, err)
	}
	defer closer.Close()
	return append(json.RawMessage(nil), v...), nil
}

// Export writes every document of index uid to w as NDJSON (one compact
// JSON object and "\n" per document) in primary-key order (see the package
// doc), from one consistent point in time. It returns the number of
// documents written.
func (s *Store) Export(ctx context.Context, uid string, w io.Writer) (int64, error) {
	h, err := s.acquire(uid)
	if err != nil {
		return 0, err
	}
	defer s.releaseHandle(h)
	db, err := s.database(h)
	if err != nil {
		return 0, err
	}
	// An iterator reads one consistent state of the database.
	it, err := db.NewIter(&pebble.IterOptions{LowerBound: docKeyLower, UpperBound: docKeyUpper})
	if err != nil {
		return 0, fmt.Errorf("index %q: %w", uid, err)
	}
	defer it.Close()
	bw := bufio.NewWriterSize(w, 256<<10)
	var n int64
	for it.First(); it.Valid(); it.Next() {
		if n%1000 == 0 {
			if err := ctx.Err(); err != nil {
				return n, err
			}
		}
		v, err := it.ValueAndErr()
		if err != nil {
			return n, fmt.Errorf("index %q: export: %w", uid, err)
		}
		bw.Write(v)
		if err := bw.WriteByte('\n'); err != nil {
			return n, err
		}
		n++
	}
	if err := it.Error(); err != nil {
		return n, fmt.Errorf("index %q: export: %w", uid, err)
	}
	return n, bw.Flush()
}
