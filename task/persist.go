package task

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/idxfs/idxfs/index"
)

// Keys in the "tasks" namespace of the meta database.
var (
	taskPrefix = []byte("t/")
	nextKey    = []byte("next")
)

func taskKey(uid uint64) []byte {
	return binary.BigEndian.AppendUint64(slices.Clip(taskPrefix), uid)
}

// record is a task as persisted.
type record struct {
	Task Task    `json:"task"`
	Req  request `json:"req"`
}

// persistLocked writes ent (with its live progress if it is processing).
// withNext also records the next uid to hand out.
// A processing task whose success is being committed with its effect is not
// written: that record must not be overwritten by an older state.
func (e *Engine) persistLocked(ent *entry, withNext bool) error {
	if ent.committed != nil && ent.task.Status == Processing {
		return nil
	}
	kv, err := e.recordLocked(e.viewLocked(ent), ent.req)
	if err != nil {
		return err
	}
	if withNext {
		next := max(e.nextUID, ent.task.UID+1)
		kv[string(nextKey)] = binary.BigEndian.AppendUint64(nil, next)
	}
	if err := e.meta.Apply(kv); err != nil {
		return fmt.Errorf("task %d: persist: %w", ent.task.UID, err)
	}
	return nil
}

// recordLocked encodes t and req as the key-value of t's record.
func (e *Engine) recordLocked(t Task, req request) (map[string][]byte, error) {
	b, err := json.Marshal(record{Task: t, Req: req})
	if err != nil {
		return nil, fmt.Errorf("task %d: encode: %w", t.UID, err)
	}
	return map[string][]byte{string(taskKey(t.UID)): b}, nil
}

// load reads every persisted task and recovers those a crash left
// processing (see Open).
func (e *Engine) load() error {
	if v, ok, err := e.meta.Get(nextKey); err != nil {
		return fmt.Errorf("task: load: %w", err)
	} else if ok && len(v) == 8 {
		e.nextUID = max(e.nextUID, binary.BigEndian.Uint64(v))
	}
	if err := e.meta.Scan(taskPrefix, e.loadRecord); err != nil {
		return fmt.Errorf("task: load: %w", err)
	}
	slices.Sort(e.uids)
	if e.store.ReadOnly() {
		return nil // a reader shows the tasks as recorded
	}

	e.mu.Lock()
	defer e.mu.Unlock()
	needed := map[string]bool{}
	for _, u := range e.uids {
		ent := e.tasks[u]
		if ent.task.Status.Finished() {
			continue
		}
		e.recoverLocked(ent)
		if !ent.task.Status.Finished() {
			e.queue = append(e.queue, u)
			e.trackLocked(ent)
			if ent.req.Payload != "" {
				needed[ent.req.Payload] = true
			}
		}
	}
	e.pruneLocked()
	return e.removeStrayPayloads(needed)
}

// loadRecord adds the task recorded at key. A record this build cannot read
// (of an unknown kind, say) is kept on disk but not loaded; it must not stop
// the daemon.
func (e *Engine) loadRecord(key, value []byte) error {
	var rec record
	err := json.Unmarshal(value, &rec)
	spec := kindOf(rec.Task.Type)
	if err == nil && spec == nil {
		err = fmt.Errorf("task %d has no type", rec.Task.UID) // unmarshal refuses unknown ones
	}
	if err != nil {
		e.log.Warn("skip unreadable task record", "key", fmt.Sprintf("%x", key), "err", err)
		return nil
	}
	ent := &entry{kind: spec, task: rec.Task, req: rec.Req, done: make(chan struct{}), prog: newLiveProgress(rec.Task.Type)}
	if ent.task.Status.Finished() {
		close(ent.done)
	}
	e.tasks[ent.task.UID] = ent
	e.uids = append(e.uids, ent.task.UID)
	e.nextUID = max(e.nextUID, ent.task.UID+1)
	return nil
}

// recoverLocked decides what becomes of an unfinished task found at start.
// A task found processing is asked first whether it completed, then its
// kind's crash policy applies.
func (e *Engine) recoverLocked(ent *entry) {
	t := &ent.task
	wasProcessing := t.Status == Processing
	if wasProcessing {
		t.Status = Enqueued
		t.StartedAt = nil
	}
	var fail error
	switch {
	case wasProcessing && ent.kind.completed != nil && ent.kind.completed(e, ent):
		return
	case ent.req.Stream:
		fail = fmt.Errorf("%w: idxfs stopped before the archive being written to it was imported", ErrInterrupted)
	case ent.req.Payload != "" && !fileExists(filepath.Join(e.payloadDir, ent.req.Payload)):
		fail = fmt.Errorf("%w: payload file %s is gone", ErrPayloadMissing, ent.req.Payload)
	case wasProcessing && ent.kind.crash == crashReruns && ent.req.Reruns < e.opts.MaxReruns:
		ent.req.Reruns++
		e.log.Warn("document task was processing when idxfs stopped; running it again",
			"task", t.UID, "index", t.IndexUID, "rerun", ent.req.Reruns)
	case wasProcessing:
		fail = fmt.Errorf("%w: idxfs stopped while the task was processing", ErrInterrupted)
	}
	if fail != nil {
		e.finishLocked(ent, Failed, nil, fail)
		return
	}
	if wasProcessing {
		if err := e.persistLocked(ent, false); err != nil {
			e.log.Warn("persist recovered task", "task", t.UID, "err", err)
		}
	}
}

// documentsAdded is the completed test of a documentAdditionOrUpdate (see
// documentsWritten).
func (e *Engine) documentsAdded(ent *entry) bool {
	return e.documentsWritten(ent, func(res index.WriteResult) (any, bool) {
		var d DocumentAdditionDetails
		if err := ent.task.DecodeDetails(&d); err != nil {
			return nil, false
		}
		return additionDetails(d, res), true
	})
}

// documentsDeleted is the completed test of a documentDeletion (see
// documentsWritten).
func (e *Engine) documentsDeleted(ent *entry) bool {
	return e.documentsWritten(ent, func(res index.WriteResult) (any, bool) {
		return DocumentDeletionDetails{ProvidedIDs: len(ent.req.IDs), DeletedDocuments: &res.Deleted}, true
	})
}

// documentsWritten finishes ent, a document task, as succeeded with the
// details that details returns if the index says its write completed (a
// crash came between the write and the task's record), and reports whether
// it did.
func (e *Engine) documentsWritten(ent *entry, details func(index.WriteResult) (any, bool)) bool {
	t := &ent.task
	if ent.req.WriteTag == "" {
		return false
	}
	tag, res, err := e.store.LastWrite(context.Background(), t.IndexUID)
	if err != nil || tag != ent.req.WriteTag {
		return false
	}
	d, ok := details(res)
	if !ok {
		return false
	}
	e.log.Warn("document task was processing when idxfs stopped; its write had completed",
		"task", t.UID, "index", t.IndexUID)
	if t.Progress != nil {
		t.Progress.Percentage = 100
	}
	e.finishLocked(ent, Succeeded, d, nil)
	return true
}

// archiveStored is the completed test of a snapshot creation: one stopped
// while storing its archive did what it was for if the archive is in the
// store.
func (e *Engine) archiveStored(ent *entry) bool {
	t := &ent.task
	if ent.req.ArchiveCreatedAt == nil {
		return false
	}
	s, ok := e.storedSnapshot(t.IndexUID, *ent.req.ArchiveCreatedAt)
	if !ok {
		return false
	}
	e.log.Warn("snapshot task was storing its archive when idxfs stopped; the archive is stored",
		"task", t.UID, "index", t.IndexUID, "path", s.Path)
	if t.Progress != nil {
		t.Progress.Percentage = 100
	}
	e.finishLocked(ent, Succeeded, s.details(false), nil)
	return true
}

// newWriteTag returns a random tag for a document task's write.
func newWriteTag() string {
	return rand.Text()
}

// storedSnapshot returns the stored snapshot of index uid created at
// createdAt, if there is one.
func (e *Engine) storedSnapshot(uid string, createdAt time.Time) (StoredSnapshot, bool) {
	ss, err := e.snaps.list(uid)
	if err != nil {
		e.log.Warn("list stored snapshots", "index", uid, "err", err)
	}
	for _, s := range ss {
		if s.IndexUID == uid && s.CreatedAt.Equal(createdAt) {
			return s, true
		}
	}
	return StoredSnapshot{}, false
}

// removeStrayPayloads removes payload files that no unfinished task needs
// (left by a crash between copying a payload and persisting its task).
func (e *Engine) removeStrayPayloads(needed map[string]bool) error {
	ents, err := os.ReadDir(e.payloadDir)
	if err != nil {
		return fmt.Errorf("task: %w", err)
	}
	for _, d := range ents {
		if needed[d.Name()] {
			continue
		}
		if err := os.Remove(filepath.Join(e.payloadDir, d.Name())); err != nil {
			e.log.Warn("remove stray payload", "path", d.Name(), "err", err)
		}
	}
	return nil
}

// savePayload copies r into a new file in the data dir's tmp/ and syncs it.
func (e *Engine) savePayload(ctx context.Context, r io.Reader) (path string, n int64, err error) {
	f, err := os.CreateTemp(e.store.TmpDir(), "payload-*")
	if err != nil {
		return "", 0, fmt.Errorf("task: store payload: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	n, err = io.Copy(f, ctxReader{ctx, r})
	if err != nil {
		return "", n, fmt.Errorf("task: store payload: %w", err)
	}
	if err = f.Sync(); err != nil {
		return "", n, fmt.Errorf("task: store payload: %w", err)
	}
	if err = f.Close(); err != nil {
		return "", n, fmt.Errorf("task: store payload: %w", err)
	}
	return f.Name(), n, nil
}

// syncedSize syncs the file at path and returns its size.
func syncedSize(path string) (int64, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return 0, fmt.Errorf("task: payload: %w", err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return 0, fmt.Errorf("task: payload: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		return 0, fmt.Errorf("task: payload: %w", err)
	}
	return st.Size(), nil
}

// NewContextReader returns a reader of r that stops reading when ctx is
// done: every Read then returns ctx's error. (A Read already blocked in r
// is not interrupted.)
func NewContextReader(ctx context.Context, r io.Reader) io.Reader { return ctxReader{ctx, r} }

// ctxReader stops reading when ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// renameSync renames oldpath to newpath and syncs newpath's directory.
func renameSync(oldpath, newpath string) error {
	if err := os.Rename(oldpath, newpath); err != nil {
		return err
	}
	return syncDir(filepath.Dir(newpath))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// ParseUID parses a task uid (a decimal number). A file name such as the
// mount's tasks/UID.json is the caller's to take apart.
func ParseUID(s string) (uint64, error) {
	u, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: task uid %q is not a number", ErrInvalid, s)
	}
	return u, nil
}
