package task

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/idxfs/idxfs/index"
	"github.com/idxfs/idxfs/snapshot"
)

// run is one processing of one task: what its processor may read and call.
type run struct {
	e      *Engine
	ent    *entry
	task   Task      // as it was when it started
	req    request   // idem
	stream io.Reader // live import stream, if any
	output io.Writer // Request.Output, if any
	prog   *liveProgress
}

// release lets later tasks of the run's indexes start while this one goes
// on (a snapshot creation, once its checkpoint is taken).
func (r *run) release() {
	r.e.mu.Lock()
	defer r.e.mu.Unlock()
	r.e.releaseLocked(r.ent)
	r.e.dispatchLocked()
}

// succeeded returns the record of the run's task as succeeded with details,
// for the index store to commit in the same batch as the task's effect (an
// index created, deleted or imported): after a crash at any point the record
// then says succeeded exactly when the effect happened (DESIGN §6). The
// record is the one the task finishes with, unless the store refuses the
// change, in which case the task fails as usual.
func (r *run) succeeded(details any) (index.Writes, error) {
	e := r.e
	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.opts.Now().UTC()
	t := e.viewLocked(r.ent)
	t.Progress = r.prog.view()
	t.Progress.Percentage = 100
	kv, err := e.recordLocked(finalTask(t, Succeeded, details, nil, now), r.ent.req)
	if err != nil {
		return index.Writes{}, err
	}
	r.ent.committed = &now
	return e.meta.Writes(kv), nil
}

// note changes the run's request with set and persists it (synced), so
// that recovery knows what the task was about to do.
func (r *run) note(set func(*request)) error {
	r.e.mu.Lock()
	defer r.e.mu.Unlock()
	set(&r.ent.req)
	r.req = r.ent.req
	return r.e.persistLocked(r.ent, false)
}

// process runs the processor of r's kind. It returns the task's final
// details (nil: keep those set at enqueue) and its error.
func (e *Engine) process(ctx context.Context, r *run) (any, error) {
	if h := e.hooks.process; h != nil {
		if err := h(ctx, r.task); err != nil {
			return nil, err
		}
	}
	details, err := r.ent.kind.process(e, ctx, r)
	if h := e.hooks.processed; h != nil && err == nil {
		err = h(ctx, r.task)
	}
	return details, err
}

func (e *Engine) createIndex(ctx context.Context, r *run) (any, error) {
	d := IndexCreationDetails{PrimaryKey: r.req.PrimaryKey}
	done, err := r.succeeded(d)
	if err != nil {
		return nil, err
	}
	if _, err := e.store.Create(ctx, r.task.IndexUID, r.req.PrimaryKey, done); err != nil {
		return nil, err
	}
	return d, nil
}

func (e *Engine) deleteIndex(ctx context.Context, r *run) (any, error) {
	info, err := e.store.Get(ctx, r.task.IndexUID)
	if err != nil {
		return nil, err
	}
	d := IndexDeletionDetails{DeletedDocuments: &info.Documents}
	done, err := r.succeeded(d)
	if err != nil {
		return nil, err
	}
	if err := e.store.Delete(ctx, r.task.IndexUID, done); err != nil {
		return nil, err
	}
	return d, nil
}

func (e *Engine) addDocuments(ctx context.Context, r *run) (any, error) {
	var d DocumentAdditionDetails
	if err := r.task.DecodeDetails(&d); err != nil {
		return nil, err
	}
	f, err := os.Open(filepath.Join(e.payloadDir, r.req.Payload))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrPayloadMissing, err)
	}
	defer f.Close()
	opts := index.WriteOptions{
		PrimaryKey: r.req.PrimaryKey,
		Progress:   func(pass int, done, total int64) { r.prog.at(pass-1, done, total) },
		Tag:        r.req.WriteTag,
	}
	write := e.store.AddDocuments
	if r.req.ReplaceAll {
		write = e.store.ReplaceDocuments
	}
	res, err := write(ctx, r.task.IndexUID, f, opts)
	if err != nil {
		return nil, err
	}
	return additionDetails(d, res), nil
}

// additionDetails are the details of a document addition that wrote res.
func additionDetails(d DocumentAdditionDetails, res index.WriteResult) DocumentAdditionDetails {
	d.PrimaryKey = res.PrimaryKey
	d.ReceivedDocuments = &res.Received
	d.IndexedDocuments = &res.Indexed
	d.IndexVersion = &res.Version
	return d
}

func (e *Engine) deleteDocuments(ctx context.Context, r *run) (any, error) {
	n, err := e.store.DeleteDocuments(ctx, r.task.IndexUID, r.req.IDs, index.DeleteOptions{Tag: r.req.WriteTag})
	if err != nil {
		return nil, err
	}
	return DocumentDeletionDetails{ProvidedIDs: len(r.req.IDs), DeletedDocuments: &n}, nil
}

// createSnapshot: starting → checkpointing → writing archive → finalizing.
// The index is held only until the checkpoint is taken.
func (e *Engine) createSnapshot(ctx context.Context, r *run) (any, error) {
	uid := r.task.IndexUID
	d := SnapshotCreationDetails{IndexUID: uid}
	r.prog.at(0, 0, 0)
	info, err := e.store.Get(ctx, uid)
	if err != nil {
		return d, err
	}
	// A creation of this state already writing its archive (a second
	// `snapshot create --no-wait`, or one that started before the index was
	// released) is waited for, holding the index, and its archive reused.
	held, fresh, done, err := e.snaps.claim(ctx, uid, info.Version, info.UpdatedAt)
	if err != nil {
		return d, err
	}
	if fresh {
		return held.details(true), nil
	}
	defer done()

	// The archive is about the size of the index's files (pebble's tables
	// are compressed already), plus tar and gzip framing.
	release, err := e.store.Reserve(fmt.Sprintf("snapshot of %q", uid), info.SizeOnDisk+info.SizeOnDisk/16+1<<20)
	if err != nil {
		return d, err
	}
	defer release()

	r.prog.at(1, 0, 0)
	ckdir := filepath.Join(e.store.TmpDir(), fmt.Sprintf("checkpoint-%d", r.task.UID))
	defer os.RemoveAll(ckdir)
	cp, err := e.store.Checkpoint(ctx, uid, ckdir)
	r.release()
	if err != nil {
		return d, err
	}

	r.prog.at(2, 0, 0)
	if h := e.hooks.afterCheckpoint; h != nil {
		if err := h(ctx, r.task); err != nil {
			return d, err
		}
	}
	start := e.opts.Now()
	// Readers (an open of snapshot.tar.gz) get the archive once its bytes
	// are complete, before it is synced and stored; if storing it fails
	// after that, the task fails saying so.
	served := false
	defer e.snaps.forget(r.task.UID)
	complete := func(f *os.File, res snapshot.WriteResult) {
		rf, err := os.Open(f.Name())
		if err != nil {
			return // readers wait for the stored file
		}
		st := stored(e.snaps.storedPath(uid, res.Metadata.CreatedAt), res.CompressedSize, res.Metadata)
		st.ReusedFiles, st.ReusedBytes = res.ReusedFiles, res.ReusedBytes
		e.snaps.announce(r.task.UID, rf, st)
		served = true
	}
	storeFailed := func(err error) (any, error) {
		if served {
			e.log.Error("a snapshot archive served to readers once complete was not stored", "index", uid, "task", r.task.UID, "err", err)
			d.StoreError = err.Error()
			return d, fmt.Errorf("%w (the archive was complete and served to readers before this failure; it is not in the store)", err)
		}
		return d, err
	}
	tmp, res, err := e.writeArchive(ctx, r, ckdir, cp, start, complete)
	if err != nil {
		return storeFailed(err)
	}
	ok := false
	defer func() {
		if !ok {
			os.Remove(tmp)
		}
	}()
	archiveTime := Duration(e.opts.Now().Sub(start))

	r.prog.at(3, 0, 0)
	created := res.Metadata.CreatedAt
	if err := r.note(func(q *request) { q.ArchiveCreatedAt = &created }); err != nil {
		return storeFailed(fmt.Errorf("snapshot of %q: %w", uid, err))
	}
	if h := e.hooks.beforeStore; h != nil {
		if err := h(ctx, r.task); err != nil {
			return storeFailed(err)
		}
	}
	ix := res.Index
	ix.DatabaseID = cp.ID
	s, err := e.snaps.add(uid, tmp, res.Metadata, &ix, e.opts.SnapshotKeep)
	if err != nil {
		return storeFailed(fmt.Errorf("snapshot of %q: %w", uid, err))
	}
	ok = true
	d = s.details(false)
	d.ArchiveDuration = &archiveTime
	return d, nil
}

// writeArchive writes the archive of checkpoint cp (in ckdir) to a new
// file in DATA/tmp, synced and closed, and returns its path; on failure the
// file is gone. complete is called with the file once the archive's bytes
// are all written, before it is synced.
func (e *Engine) writeArchive(ctx context.Context, r *run, ckdir string, cp index.Checkpoint, start time.Time, complete func(*os.File, snapshot.WriteResult)) (string, snapshot.WriteResult, error) {
	uid := r.task.IndexUID
	tmp, err := os.CreateTemp(e.store.TmpDir(), fmt.Sprintf("snapshot-%d-*.tmp", r.task.UID))
	if err != nil {
		return "", snapshot.WriteResult{}, fmt.Errorf("snapshot of %q: %w", uid, err)
	}
	opts := e.opts.Archive
	opts.Progress = func(p snapshot.Progress) { r.prog.at(2, p.BytesDone, p.BytesTotal) }
	opts.Throttle = e.throttle
	meta := snapshot.Metadata{
		Format:              snapshot.FormatName,
		FormatVersion:       snapshot.FormatVersion,
		IdxfsVersion:        e.opts.Version,
		IndexUID:            uid,
		PrimaryKey:          cp.PrimaryKey,
		Documents:           cp.Documents,
		IndexVersion:        cp.Version,
		IndexUpdatedAt:      cp.UpdatedAt,
		CreatedAt:           start.UTC(),
		PebbleFormatVersion: cp.PebbleFormat,
	}
	// Through a rate limiter (or with a copy to -o's output), reused
	// members are copied by reads and writes through it; else by
	// copy_file_range.
	var out io.Writer = tmp
	if e.opts.SnapshotRateLimit > 0 {
		out = newRateWriter(ctx, tmp, e.opts.SnapshotRateLimit)
	}
	if r.output != nil {
		out = io.MultiWriter(out, &teeWriter{w: r.output})
	}
	prev, why := e.snaps.reusable(uid, cp.ID)
	if prev != nil {
		defer prev.File.Close()
		opts.Reuse = prev
	} else {
		e.log.Debug("snapshot compresses every file", "index", uid, "reason", why)
	}
	stopWriteback := startWriteback(tmp)
	res, err := snapshot.Write(ctx, out, ckdir, meta, opts)
	stopWriteback()
	if err == nil && res.ReuseNote != "" {
		e.log.Info("previous snapshot not reused", "index", uid, "reason", res.ReuseNote)
	}
	if err == nil {
		complete(tmp, res)
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp.Name())
		return "", snapshot.WriteResult{}, fmt.Errorf("snapshot of %q: %w", uid, err)
	}
	return tmp.Name(), res, nil
}

// importSnapshot: reading → extracting → verifying → registering. Nothing
// but DATA/tmp is written until the index is registered; any failure
// removes what was extracted. An import that replaces (req.Replace)
// registers the verified database in place of the index of its name in one
// write of the index map (index.Store.Replace), so that a failed import
// leaves that index as it was, and readers of the name find the old index
// or the new one, never none.
func (e *Engine) importSnapshot(ctx context.Context, r *run) (any, error) {
	var d SnapshotImportDetails
	if err := r.task.DecodeDetails(&d); err != nil {
		return nil, err
	}
	newUID := r.req.NewIndexUID
	fail := func(err error) (any, error) { return d, fmt.Errorf("import %q: %w", newUID, err) }

	r.prog.at(0, 0, 0)
	taken := func() bool { return !r.req.Replace && e.store.Exists(newUID) }
	if taken() {
		return fail(index.ErrExists)
	}
	src := r.stream
	if a, ok := src.(StreamAborter); ok {
		stop := context.AfterFunc(ctx, func() { a.Abort(context.Cause(ctx)) })
		defer stop()
		// Whatever the outcome, nothing reads the stream after this: a
		// writer waiting for the import to catch up stops waiting.
		defer a.Abort(errImportEnded)
	}
	if src == nil {
		f, err := os.Open(r.req.SnapshotPath)
		if errors.Is(err, os.ErrNotExist) {
			return fail(fmt.Errorf("%s: %w", r.req.SnapshotPath, ErrSnapshotFileNotFound))
		} else if err != nil {
			return fail(err)
		}
		defer f.Close()
		src = f
	}
	dst := filepath.Join(e.store.TmpDir(), fmt.Sprintf("import-%d", r.task.UID))
	defer os.RemoveAll(dst)
	release := func() {} // the space the extracted files take, once the metadata says
	defer func() { release() }()
	opts := snapshot.ReadOptions{
		MaxExpandedSize: e.opts.MaxImportSize,
		Concurrency:     e.opts.ImportConcurrency,
		Progress:        func(p snapshot.Progress) { r.prog.at(1, p.BytesDone, p.BytesTotal) },
		// Checked again once the metadata is read, before any file is
		// written: an index of that name may have appeared meanwhile.
		OnMetadata: func(m snapshot.Metadata) error {
			if taken() {
				return index.ErrExists
			}
			var total int64
			for _, f := range m.Files {
				total += f.Size
			}
			var err error
			release, err = e.store.Reserve("the extracted index", total)
			if err == nil {
				// The total shows from here, not from the first MiB
				// extracted: a stream written into import/ has no size.
				r.prog.at(1, 0, total)
			}
			return err
		},
	}
	// The checks are VerifyArchive's too (the same function). read counts
	// the archive's bytes: a stream's size is known only once it is read.
	read := &countingReader{r: src}
	md, err := checkArchive(ctx, read, dst, opts, func() { r.prog.at(2, 0, 0) })
	if again := restartable(ctx, src); err != nil && again != nil {
		e.log.Info("import restarts: the writer truncated the archive to nothing and writes it again", "task", r.task.UID, "path", r.req.SnapshotPath)
		release()
		release = func() {}
		os.RemoveAll(dst)
		r.prog.at(0, 0, 0)
		read = &countingReader{r: again}
		md, err = checkArchive(ctx, read, dst, opts, func() { r.prog.at(2, 0, 0) })
	}
	if d.Size == 0 {
		d.Size = read.n
	}
	if md.IndexUID != "" {
		d.IndexUID = md.IndexUID
	}
	if err != nil {
		return fail(err)
	}

	r.prog.at(3, 0, 0)
	d.NumberOfDocuments = md.Documents
	d.IndexVersion = md.IndexVersion
	if r.req.Replace {
		d.Replaced = e.store.Exists(newUID) // the task holds the name: no change until the map write
	}
	done, err := r.succeeded(d)
	if err != nil {
		return fail(err)
	}
	if r.req.Replace {
		_, _, err = e.store.Replace(ctx, newUID, dst, done)
	} else {
		_, err = e.store.Adopt(ctx, newUID, dst, done)
	}
	if err != nil {
		return fail(err)
	}
	return d, nil
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
