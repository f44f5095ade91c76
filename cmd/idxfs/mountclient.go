package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/idxfs/idxfs/cmd/idxfs/progress"
	"github.com/idxfs/idxfs/index"
	"github.com/idxfs/idxfs/snapshot"
	"github.com/idxfs/idxfs/task"
)

// mountBackend is a data dir that a mount holds, used through the mount's
// own files (fs/doc.go): the task and status files for reads, mkdir, rmdir
// and rename(2) in indexes/ for the index tasks, rm tasks/UID.json to
// cancel. The mount is the one interface of the running daemon (DESIGN §1).
type mountBackend struct {
	g   globalOptions
	mnt string
	pid int // the mount's, as LOCK records it
}

// pollEvery is how often a waiting command reads its task's file.
const pollEvery = 100 * time.Millisecond

func openMountBackend(g globalOptions, mnt string, pid int) (*mountBackend, error) {
	g.stderr = progress.NewStderr(g.stderr)
	if _, err := os.Stat(filepath.Join(mnt, "tasks")); err != nil {
		return nil, err
	}
	return &mountBackend{g: g, mnt: mnt, pid: pid}, nil
}

func (b *mountBackend) path(elem ...string) string {
	return filepath.Join(append([]string{b.mnt}, elem...)...)
}

// notThroughMountError: what the command line asks for has no file
// equivalent in the mount (README "The CLI while mounted"). Exit code 3, as
// for a data dir in use: the data dir must be unmounted for it.
type notThroughMountError struct {
	what, dataDir, mnt string
	pid                int
}

func (e notThroughMountError) Error() string {
	return fmt.Sprintf("%s: not available while data dir %s is mounted at %s by pid %d (the mount has no file for it); run it with the data dir unmounted",
		e.what, e.dataDir, e.mnt, e.pid)
}

func (b *mountBackend) unsupported(what string) error {
	return notThroughMountError{what, b.g.DataDir, b.mnt, b.pid}
}

// mountCallError is a call on the mount that failed with an errno and no
// task to say why: its code is the errno's, mapped back through fs's table
// (errnoCodes), so that the exit code is the one the engine's error gives.
type mountCallError struct {
	err error // the *os.PathError or *os.LinkError
	te  *task.Error
}

func (e *mountCallError) Error() string { return e.err.Error() }
func (e *mountCallError) Unwrap() error { return e.te }

// errnoCodes maps an errno of the mount back to a code: the inverse of
// fs/errno.go's table where that is one-to-one (TestErrnoCodes); the errnos
// it gives several codes map to the one a call of that kind means (ops
// override ENOENT and EINVAL with what they mean).
var errnoCodes = map[syscall.Errno]string{
	syscall.ENOENT:    task.CodeFileNotFound,
	syscall.EEXIST:    task.CodeIndexAlreadyExists,
	syscall.ENOTEMPTY: task.CodeIndexAlreadyExists, // rename onto an existing index
	syscall.EINVAL:    task.CodeInvalidTaskRequest,
	syscall.EFBIG:     task.CodeSnapshotTooLarge,
	syscall.ENOSPC:    task.CodeNoSpaceLeft,
	syscall.EDQUOT:    task.CodeNoSpaceLeft,
	syscall.EROFS:     task.CodeDatabaseFailed,
	syscall.EINTR:     task.CodeCallerInterrupted,
	syscall.EIO:       task.CodeInternal,
	syscall.EPERM:     task.CodeInvalidTaskRequest, // a tree change the mount refuses
	syscall.ECANCELED: task.CodeTaskCanceled,
	syscall.ESHUTDOWN: task.CodeEngineClosed,
}

// callError turns err of a call on the mount into the error the engine
// would give: an errno gets its code (override first), anything else stays.
func callError(err error, override map[syscall.Errno]string) error {
	var errno syscall.Errno
	if err == nil || !errors.As(err, &errno) {
		return err
	}
	code, ok := override[errno]
	if !ok {
		if code, ok = errnoCodes[errno]; !ok {
			code = task.CodeInternal
		}
	}
	return &mountCallError{err: err, te: &task.Error{Message: err.Error(), Code: code}}
}

func taskFile(uid uint64) string { return fmt.Sprintf("%d.json", uid) }

func (b *mountBackend) Task(uid uint64) (task.Task, error) {
	data, err := os.ReadFile(b.path("tasks", taskFile(uid)))
	if errors.Is(err, syscall.ENOENT) {
		return task.Task{}, fmt.Errorf("task %d: %w", uid, task.ErrTaskNotFound)
	}
	if err != nil {
		return task.Task{}, callError(err, nil)
	}
	var t task.Task
	if err := json.Unmarshal(data, &t); err != nil {
		return task.Task{}, fmt.Errorf("%s: %w", b.path("tasks", taskFile(uid)), err)
	}
	if len(t.Details) > 0 { // as the engine holds them (tasks show prints them)
		var c bytes.Buffer
		if json.Compact(&c, t.Details) == nil {
			t.Details = c.Bytes()
		}
	}
	return t, nil
}

// listedUIDs are the uids tasks/ lists (the newest tasks), newest first.
func (b *mountBackend) listedUIDs() ([]uint64, error) {
	ents, err := os.ReadDir(b.path("tasks"))
	if err != nil {
		return nil, callError(err, nil)
	}
	var uids []uint64
	for _, en := range ents {
		if uid, err := task.ParseUID(strings.TrimSuffix(en.Name(), ".json")); err == nil {
			uids = append(uids, uid)
		}
	}
	sort.Slice(uids, func(i, j int) bool { return uids[i] > uids[j] })
	return uids, nil
}

// Tasks reads the tasks that tasks/ lists, then, if f wants more, the older
// ones by uid (tasks/ looks up any task the engine keeps).
func (b *mountBackend) Tasks(f task.Filter) ([]task.Task, error) {
	uids, err := b.listedUIDs()
	if err != nil {
		return nil, err
	}
	if n := len(uids); n > 0 {
		for uid := uids[n-1] - 1; uid > 0; uid-- {
			uids = append(uids, uid)
		}
	}
	var out []task.Task
	for _, uid := range uids {
		t, err := b.Task(uid)
		if errors.Is(err, task.ErrTaskNotFound) {
			continue // pruned, or never kept
		}
		if err != nil {
			return nil, err
		}
		if f.IndexUID != "" && t.IndexUID != f.IndexUID ||
			len(f.Statuses) > 0 && !slices.Contains(f.Statuses, t.Status) ||
			len(f.Types) > 0 && !slices.Contains(f.Types, t.Type) {
			continue
		}
		out = append(out, t)
		if f.Limit > 0 && len(out) == f.Limit {
			break
		}
	}
	return out, nil
}

func (b *mountBackend) Index(ctx context.Context, name string) (index.Info, error) {
	if err := index.ValidateUID(name); err != nil {
		return index.Info{}, err
	}
	data, err := os.ReadFile(b.path("indexes", name, "status.json"))
	if errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.EINVAL) || errors.Is(err, syscall.ENOTDIR) {
		return index.Info{}, fmt.Errorf("index %q: %w", name, index.ErrNotFound)
	}
	if err != nil {
		return index.Info{}, callError(err, nil)
	}
	var in index.Info
	if err := json.Unmarshal(data, &in); err != nil {
		return index.Info{}, fmt.Errorf("%s: %w", b.path("indexes", name, "status.json"), err)
	}
	return in, nil
}

func (b *mountBackend) Indexes(ctx context.Context) ([]index.Info, error) {
	ents, err := os.ReadDir(b.path("indexes"))
	if err != nil {
		return nil, callError(err, nil)
	}
	var out []index.Info
	for _, en := range ents { // ReadDir sorts by name, as the store lists them
		in, err := b.Index(ctx, en.Name())
		if errors.Is(err, index.ErrNotFound) {
			continue // deleted meanwhile
		}
		if err != nil {
			return nil, err
		}
		out = append(out, in)
	}
	return out, nil
}

func (b *mountBackend) Export(ctx context.Context, idx string, w io.Writer) error {
	if err := index.ValidateUID(idx); err != nil {
		return err
	}
	f, err := os.Open(b.path("indexes", idx, "documents.ndjson"))
	if errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ENOTDIR) {
		return fmt.Errorf("index %q: %w", idx, index.ErrNotFound)
	}
	if err != nil {
		return callError(err, nil)
	}
	defer f.Close()
	_, err = io.Copy(w, f)
	return callError(err, nil)
}

// StoredArchive resolves a snapshot id in the mount's snapshots/.
func (b *mountBackend) StoredArchive(file string) (string, error) {
	return storedArchive(func(ref string) (task.StoredFile, error) {
		files, err := mountStoreFiles(b.mnt)
		if err != nil {
			return task.StoredFile{}, err
		}
		return task.FindSnapshot(files, ref)
	}, file)
}

// Document finds document id in the index's documents.ndjson by its
// primary key (status.json says which field that is).
func (b *mountBackend) Document(ctx context.Context, idx, id string) (json.RawMessage, error) {
	if err := index.ValidateDocumentID(id); err != nil {
		return nil, fmt.Errorf("index %q: %w", idx, err)
	}
	in, err := b.Index(ctx, idx)
	if err != nil {
		return nil, err
	}
	notFound := fmt.Errorf("index %q: document %q: %w", idx, id, index.ErrDocumentNotFound)
	if in.PrimaryKey == "" {
		return nil, notFound // no document yet
	}
	f, err := os.Open(b.path("indexes", idx, "documents.ndjson"))
	if err != nil {
		return nil, callError(err, map[syscall.Errno]string{syscall.ENOENT: task.CodeIndexNotFound})
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<30)
	want := []byte(id)
	for sc.Scan() {
		// An id is [A-Za-z0-9_-], written as is unless the document
		// spelled it with escapes: parse only lines that can hold it.
		if line := sc.Bytes(); !bytes.Contains(line, want) && bytes.IndexByte(line, '\\') < 0 {
			continue
		}
		var doc map[string]json.RawMessage
		if json.Unmarshal(sc.Bytes(), &doc) != nil {
			continue
		}
		key := doc[in.PrimaryKey]
		var s string
		if json.Unmarshal(key, &s) != nil {
			s = string(key) // a number, as written
		}
		if s == id {
			return append(json.RawMessage(nil), sc.Bytes()...), nil
		}
	}
	if err := sc.Err(); err != nil {
		return nil, callError(err, nil)
	}
	return nil, notFound
}

// Snapshots lists the stored snapshots in snapshots/ (of index idx, or
// all), each described by its archive's metadata, read through the mount,
// and named by its path in the data dir, as the engine names it.
func (b *mountBackend) Snapshots(idx string) ([]task.StoredSnapshot, error) {
	files, err := mountStoreFiles(b.mnt)
	if err != nil {
		return nil, callError(err, nil)
	}
	dir, err := filepath.Abs(b.g.DataDir)
	if err != nil {
		return nil, err
	}
	var out []task.StoredSnapshot
	for _, f := range files {
		if idx != "" && f.IndexUID != idx {
			continue
		}
		fd, err := os.Open(f.Path)
		if err != nil {
			continue // deleted meanwhile
		}
		md, err := snapshot.Inspect(fd)
		fd.Close()
		if err != nil {
			fmt.Fprintf(b.g.stderr, "idxfs: unreadable stored snapshot %s: %v\n", f.Path, err)
			continue
		}
		out = append(out, task.StoredSnapshot{ID: f.ID, ShortID: f.ID[:task.ShortIDLen],
			Path: filepath.Join(dir, "snapshots", "indexes", f.IndexUID, f.Name), Size: f.Size,
			IndexUID: md.IndexUID, IndexVersion: md.IndexVersion, IndexUpdatedAt: md.IndexUpdatedAt,
			Documents: md.Documents, CreatedAt: md.CreatedAt})
	}
	return out, nil
}

// Cancel is rm tasks/UID.json.
func (b *mountBackend) Cancel(uid uint64) (task.Task, error) {
	err := os.Remove(b.path("tasks", taskFile(uid)))
	if errors.Is(err, syscall.ENOENT) {
		return task.Task{}, fmt.Errorf("task %d: %w", uid, task.ErrTaskNotFound)
	}
	if errors.Is(err, syscall.EPERM) {
		t, _ := b.Task(uid)
		return t, fmt.Errorf("task %d is %s: %w", uid, t.Status, task.ErrFinished)
	}
	if err != nil {
		return task.Task{}, callError(err, nil)
	}
	return b.Task(uid)
}

// Wait follows tasks/UID.json until the task is finished.
func (b *mountBackend) Wait(ctx context.Context, w waitOptions, uid uint64) (task.Task, error) {
	if _, err := b.Task(uid); err != nil {
		return task.Task{}, err
	}
	t, err := showing(b.g, w, func() (task.Task, error) { return b.Task(uid) }, func() (task.Task, error) {
		tick := time.NewTicker(pollEvery)
		defer tick.Stop()
		for {
			t, err := b.Task(uid)
			if err != nil || t.Status.Finished() {
				return t, err
			}
			select {
			case <-ctx.Done():
				return t, ctx.Err()
			case <-tick.C:
			}
		}
	})
	if err != nil {
		if ctx.Err() != nil {
			b.interrupted(uid)
		}
		return t, err
	}
	return outcome(b.g, w, t)
}

// interrupted cancels task uid after Ctrl-C, as a local wait does, and says
// how it ended.
func (b *mountBackend) interrupted(uid uint64) {
	if _, err := b.Cancel(uid); err != nil && !errors.Is(err, task.ErrFinished) {
		return
	}
	for i := 0; i < 600; i++ { // a minute at most (main's grace ends it sooner)
		if t, err := b.Task(uid); err != nil || t.Status.Finished() {
			fmt.Fprintf(b.g.stderr, "interrupted: task %d %s\n", uid, t.Status)
			return
		}
		time.Sleep(pollEvery)
	}
}

// Submit does r through the mount's call for it, which enqueues the task and
// waits for it; meanwhile the task's file feeds the progress display, and
// its JSON gives the outcome and the real error code.
func (b *mountBackend) Submit(ctx context.Context, w waitOptions, r task.Request) (task.Task, error) {
	for _, name := range []string{r.IndexUID, r.NewIndexUID} {
		if err := index.ValidateUID(name); name != "" && err != nil {
			return task.Task{}, err // refused before any task, as Enqueue does
		}
	}
	var call func() error
	var override map[syscall.Errno]string
	var key string // --no-wait: the primary key the child writes first
	switch r.Kind {
	case task.IndexCreation:
		if r.PrimaryKey != "" {
			return b.createWithKey(ctx, w, r)
		}
		call = func() error { return os.Mkdir(b.path("indexes", r.IndexUID), 0o755) }
		override = map[syscall.Errno]string{syscall.EINVAL: task.CodeInvalidIndexUID}
	case task.IndexDeletion:
		call = func() error { return os.Remove(b.path("indexes", r.IndexUID)) }
		override = map[syscall.Errno]string{syscall.ENOENT: task.CodeIndexNotFound, syscall.EINVAL: task.CodeInvalidIndexUID}
	case task.IndexRename:
		call = func() error { return os.Rename(b.path("indexes", r.IndexUID), b.path("indexes", r.NewIndexUID)) }
		override = map[syscall.Errno]string{syscall.ENOENT: task.CodeIndexNotFound, syscall.EINVAL: task.CodeInvalidIndexUID}
	case task.IndexSwap:
		call = func() error {
			a, c := b.path("indexes", r.IndexUID), b.path("indexes", r.NewIndexUID)
			if err := unix.Renameat2(unix.AT_FDCWD, a, unix.AT_FDCWD, c, unix.RENAME_EXCHANGE); err != nil {
				return &os.LinkError{Op: "renameat2 RENAME_EXCHANGE", Old: a, New: c, Err: err}
			}
			return nil
		}
		override = map[syscall.Errno]string{syscall.ENOENT: task.CodeIndexNotFound, syscall.EINVAL: task.CodeInvalidIndexUID}
	case task.DocumentAdditionOrUpdate:
		t, setKey, err := b.samePrimaryKey(ctx, w, r)
		if err != nil || t.Status == task.Failed {
			return t, err
		}
		if setKey {
			key = r.PrimaryKey
		}
		flag := os.O_WRONLY | os.O_APPEND // >> adds or updates
		if r.ReplaceAll {
			flag = os.O_WRONLY | os.O_TRUNC // > replaces all
		}
		call = func() error {
			return writeThrough(b.path("indexes", r.IndexUID, "documents.ndjson"), flag, r.Documents)
		}
		override = map[syscall.Errno]string{syscall.ENOENT: task.CodeIndexNotFound}
	case task.DocumentDeletion:
		for _, id := range r.IDs {
			if err := index.ValidateDocumentID(id); err != nil {
				return task.Task{}, err // refused before any task, as Enqueue does
			}
		}
		call = func() error {
			return deleteDocuments(b.path("indexes", r.IndexUID, "delete-documents"), r.IDs)
		}
		override = map[syscall.Errno]string{syscall.ENOENT: task.CodeIndexNotFound}
	case task.IndexUpdate:
		call = func() error { return writeKey(b.path("indexes", r.IndexUID, "primary-key"), r.PrimaryKey) }
		override = map[syscall.Errno]string{syscall.ENOENT: task.CodeIndexNotFound}
	case task.SingleIndexSnapshotCreation:
		return b.snapshot(ctx, w, r)
	case task.SingleIndexSnapshotImport:
		return b.importArchive(ctx, w, r)
	default:
		return task.Task{}, b.unsupported(commandOf(r))
	}
	find, err := b.newTask(func(t task.Task) bool {
		return t.Type == r.Kind && (t.IndexUID == r.IndexUID || t.IndexUID == r.NewIndexUID)
	})
	if err != nil {
		return task.Task{}, err
	}
	if w.NoWait {
		c, ok, err := b.detachedCall(r)
		c.Key = key
		if err != nil {
			return task.Task{}, err
		}
		if !ok {
			return task.Task{}, b.unsupported(commandOf(r) + " --no-wait")
		}
		return b.submitDetached(ctx, w, r, c, find, nil, override)
	}
	return b.follow(ctx, w, r, find, nil, nil, call, override)
}

// samePrimaryKey lets r's --primary-key through the mount:
// documents.ndjson takes none, so on an index without a primary key it is
// first written to the index's primary-key file (an indexUpdate task, whose
// failed task is returned; with --no-wait, setKey asks the detached child
// to write it before the documents). On an index with that key the engine
// checks it and changes nothing. Another key fails as the engine's
// addition would fail (keyMismatch). An index that is not found is left
// to the open of documents.ndjson.
func (b *mountBackend) samePrimaryKey(ctx context.Context, w waitOptions, r task.Request) (t task.Task, setKey bool, err error) {
	if r.PrimaryKey == "" {
		return task.Task{}, false, nil
	}
	in, err := b.Index(ctx, r.IndexUID)
	if errors.Is(err, index.ErrNotFound) {
		return task.Task{}, false, nil
	}
	if err != nil {
		return task.Task{}, false, err
	}
	switch {
	case in.PrimaryKey == "" && w.NoWait:
		return task.Task{}, true, nil
	case in.PrimaryKey == "":
		quiet := w
		quiet.out = io.Discard // a failure is still returned as an error
		t, err := b.Submit(ctx, quiet, task.Request{Kind: task.IndexUpdate, IndexUID: r.IndexUID, PrimaryKey: r.PrimaryKey})
		return t, false, err
	case in.PrimaryKey != r.PrimaryKey:
		t, err := b.keyMismatch(w, r, in.PrimaryKey)
		return t, false, err
	}
	return task.Task{}, false, nil
}

// keyMismatch is documents add/replace --primary-key K on an index whose
// key is another: the engine's addition reads the payload and fails with
// index_primary_key_mismatch. The mount has no addition that takes a key
// (and the key of an index never changes once set, so the check made here
// is the engine's), so the CLI reads the payload as the engine would and
// reports the same failed task, with uid 0: the mount ran none.
func (b *mountBackend) keyMismatch(w waitOptions, r task.Request, has string) (task.Task, error) {
	var size int64
	if r.Documents != nil {
		n, err := io.Copy(io.Discard, r.Documents)
		if err != nil {
			return task.Task{}, err
		}
		size = n
	}
	d, err := json.Marshal(task.DocumentAdditionDetails{ReplaceAll: r.ReplaceAll, PayloadSize: size, PrimaryKey: r.PrimaryKey})
	if err != nil {
		return task.Task{}, err
	}
	cause := fmt.Errorf("index %q: primary key is %q, cannot use %q: %w", r.IndexUID, has, r.PrimaryKey, index.ErrPrimaryKey)
	te := task.Classify(cause)
	now := time.Now()
	t := task.Task{IndexUID: r.IndexUID, Type: r.Kind, Status: task.Failed, Details: d,
		Error:      &task.Error{Message: cause.Error(), Code: te.Code, Type: te.Type},
		EnqueuedAt: now, StartedAt: &now, FinishedAt: &now}
	return outcome(b.g, w, t)
}

// createWithKey is index create --primary-key through the mount: mkdir,
// then the key written to the new index's primary-key file. Two tasks, an
// indexCreation and an indexUpdate; it returns the creation's, or the
// update's if that failed. With --no-wait the detached child makes both
// calls, one after the other (mountCall.Key), and the command prints the
// creation's task as soon as it shows.
func (b *mountBackend) createWithKey(ctx context.Context, w waitOptions, r task.Request) (task.Task, error) {
	// Printed as unmounted: the index was created with the key, which
	// the creation task's own details (set at mkdir) do not name.
	withKey := func(t task.Task) task.Task {
		if d, err := json.Marshal(task.IndexCreationDetails{PrimaryKey: r.PrimaryKey}); err == nil {
			t.Details = d
		}
		return t
	}
	if w.NoWait { // the child writes the key after its mkdir
		find, err := b.newTask(func(t task.Task) bool { return t.Type == r.Kind && t.IndexUID == r.IndexUID })
		if err != nil {
			return task.Task{}, err
		}
		created := func() (task.Task, bool) {
			t, ok := find()
			return withKey(t), ok
		}
		c := mountCall{Op: "mkdir", Path: b.path("indexes", r.IndexUID), Key: r.PrimaryKey}
		return b.submitDetached(ctx, w, r, c, created, nil,
			map[syscall.Errno]string{syscall.EINVAL: task.CodeInvalidIndexUID})
	}
	create := r
	create.PrimaryKey = ""
	quiet := w
	quiet.out = io.Discard // a failure is still returned as an error
	t, err := b.Submit(ctx, quiet, create)
	if err != nil || t.Status != task.Succeeded {
		return t, err
	}
	u, err := b.Submit(ctx, quiet, task.Request{Kind: task.IndexUpdate, IndexUID: r.IndexUID, PrimaryKey: r.PrimaryKey})
	if err != nil || u.Status != task.Succeeded {
		return u, err
	}
	return outcome(b.g, w, withKey(t))
}

// deleteDocuments writes ids to an index's delete-documents, one a line;
// the close waits for the deletion task.
func deleteDocuments(path string, ids []string) error {
	return writeThrough(path, os.O_WRONLY|os.O_TRUNC, idLines(ids))
}

// writeKey writes key to an index's primary-key file; the close waits for
// the indexUpdate task.
func writeKey(path, key string) error {
	return writeThrough(path, os.O_WRONLY|os.O_TRUNC, strings.NewReader(key+"\n"))
}

func idLines(ids []string) io.Reader { return strings.NewReader(strings.Join(ids, "\n") + "\n") }

// writeThrough opens path of the mount with flag and copies src into it;
// the close waits for the task the write enqueued.
func writeThrough(path string, flag int, src io.Reader) error {
	f, err := os.OpenFile(path, flag, 0)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, src); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// newTask returns a finder of the task that a call about to be made
// enqueues: the oldest task newer than those listed now for which mine
// holds. Another process doing the same thing to the same index at the
// same moment could be taken for it.
func (b *mountBackend) newTask(mine func(task.Task) bool) (func() (task.Task, bool), error) {
	var before uint64
	if uids, err := b.listedUIDs(); err != nil {
		return nil, err
	} else if len(uids) > 0 {
		before = uids[0]
	}
	return func() (task.Task, bool) {
		uids, err := b.listedUIDs()
		if err != nil {
			return task.Task{}, false
		}
		for i := len(uids) - 1; i >= 0; i-- {
			if uids[i] <= before {
				continue
			}
			if t, err := b.Task(uids[i]); err == nil && mine(t) {
				return t, true
			}
		}
		return task.Task{}, false
	}, nil
}

// snapshot opens indexes/NAME/snapshot.tar.gz, which waits for a creation
// if the index has no fresh snapshot. If it has one, the mount runs no
// task: the outcome is then a task with uid 0 made from the index's
// status.json (latestSnapshot), reused, as the engine's task would say.
func (b *mountBackend) snapshot(ctx context.Context, w waitOptions, r task.Request) (task.Task, error) {
	find, err := b.newTask(func(t task.Task) bool { return t.Type == r.Kind && t.IndexUID == r.IndexUID })
	if err != nil {
		return task.Task{}, err
	}
	call := func() error {
		f, err := os.Open(b.path("indexes", r.IndexUID, "snapshot.tar.gz"))
		if err != nil {
			return err
		}
		f.Close()
		// The open returns once the archive's bytes are complete; the task
		// stores it behind (README, "Incremental snapshots"): wait for it.
		tick := time.NewTicker(pollEvery)
		defer tick.Stop()
		for {
			if t, ok := find(); !ok || t.Status.Finished() {
				return nil
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-tick.C:
			}
		}
	}
	none := func() (task.Task, error) {
		data, err := os.ReadFile(b.path("indexes", r.IndexUID, "status.json"))
		if err != nil {
			return task.Task{}, callError(err, map[syscall.Errno]string{syscall.ENOENT: task.CodeIndexNotFound})
		}
		var st struct {
			Latest *task.StoredSnapshot `json:"latestSnapshot"`
		}
		if err := json.Unmarshal(data, &st); err != nil || st.Latest == nil {
			return task.Task{}, fmt.Errorf("%s: no latestSnapshot after its snapshot.tar.gz was read (%v)", b.path("indexes", r.IndexUID, "status.json"), err)
		}
		s := st.Latest
		d, _ := json.Marshal(task.SnapshotCreationDetails{IndexUID: s.IndexUID, Path: s.Path, Size: s.Size,
			IndexVersion: s.IndexVersion, NumberOfDocuments: s.Documents, Reused: true})
		now := time.Now()
		return task.Task{IndexUID: r.IndexUID, Type: r.Kind, Status: task.Succeeded, Details: d,
			EnqueuedAt: now, StartedAt: &now, FinishedAt: &now}, nil
	}
	override := map[syscall.Errno]string{syscall.ENOENT: task.CodeIndexNotFound}
	if w.NoWait {
		return b.submitDetached(ctx, w, r, mountCall{Op: "open", Path: b.path("indexes", r.IndexUID, "snapshot.tar.gz")}, find, none, override)
	}
	return b.follow(ctx, w, r, find, none, nil, call, override)
}

// importArchive copies the archive into import/NAME (import/NAME.replace
// with --replace), whose close waits for the import. The entry's task is
// the one MOUNT/status.json names for it.
func (b *mountBackend) importArchive(ctx context.Context, w waitOptions, r task.Request) (task.Task, error) {
	src := r.Stream
	if src == nil {
		f, err := os.Open(r.SnapshotPath)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				abs, _ := filepath.Abs(r.SnapshotPath) // as the engine says it
				return task.Task{}, fmt.Errorf("import %q: %w", abs, task.ErrSnapshotFileNotFound)
			}
			return task.Task{}, err
		}
		defer f.Close()
		if r.NewIndexUID == "" { // the archive's own name
			md, err := snapshot.Inspect(f)
			if err != nil {
				return task.Task{}, fmt.Errorf("%s: %w", r.SnapshotPath, err)
			}
			r.NewIndexUID = md.IndexUID
			if _, err := f.Seek(0, io.SeekStart); err != nil {
				return task.Task{}, err
			}
		}
		src = f
	}
	if r.NewIndexUID == "" {
		r.NewIndexUID = r.IndexUID
	}
	if err := index.ValidateUID(r.NewIndexUID); err != nil {
		return task.Task{}, err
	}
	entry := r.NewIndexUID
	if r.Replace {
		entry += ".replace"
	}
	path := b.path("import", entry)
	newer, err := b.newTask(func(t task.Task) bool { return t.Type == r.Kind && t.IndexUID == r.NewIndexUID })
	if err != nil {
		return task.Task{}, err
	}
	find := func() (task.Task, bool) {
		if uid := b.importTask(entry); uid != 0 {
			if t, err := b.Task(uid); err == nil {
				return t, true
			}
		}
		return newer()
	}
	override := map[syscall.Errno]string{syscall.EINVAL: task.CodeInvalidSnapshot}
	if w.NoWait { // not from stdin (runSnapshotImport refuses it)
		abs, err := filepath.Abs(r.SnapshotPath)
		if err != nil {
			return task.Task{}, err
		}
		return b.submitDetached(ctx, w, r, mountCall{Op: "import", Path: path, Src: abs}, find, nil, override)
	}
	call := func() error {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err != nil {
			return err
		}
		if _, err := io.Copy(f, src); err != nil {
			// rm before close: the close of an entry that is still
			// there commits what it holds, a truncated archive (the
			// task would fail invalid_snapshot, not end canceled).
			os.Remove(path) // abandons the import: its task is canceled
			f.Close()
			return err
		}
		return f.Close()
	}
	// Ctrl-C: rm import/NAME abandons the import (the mount cancels its
	// task), before the process exits and its close would commit a
	// truncated archive.
	abort := func() error { return os.Remove(path) }
	t, err := b.follow(ctx, w, r, find, nil, abort, call, override)
	if err == nil && t.Status == task.Succeeded {
		// The entry would linger for the mount's grace period (for tools
		// that stat what they wrote), holding the name: this command
		// needs no grace, and a restore-over right after must work as it
		// does unmounted.
		os.Remove(path)
	}
	return t, err
}

// importTask is the task of entry import/NAME, as MOUNT/status.json lists
// it (0 while it has none).
func (b *mountBackend) importTask(name string) uint64 {
	data, err := os.ReadFile(b.path("status.json"))
	if err != nil {
		return 0
	}
	var st struct {
		Imports []struct {
			Name string `json:"name"`
			Task uint64 `json:"task"`
		} `json:"imports"`
	}
	if json.Unmarshal(data, &st) != nil {
		return 0
	}
	for _, im := range st.Imports {
		if im.Name == name {
			return im.Task
		}
	}
	return 0
}

// follow runs call, the mount's blocking call that enqueues a task and
// waits for it, while find's task feeds the progress display; then it
// reports find's task as a waiting command does. If the call succeeded
// with no task (the mount had nothing to do), none gives the outcome.
func (b *mountBackend) follow(ctx context.Context, w waitOptions, r task.Request, find func() (task.Task, bool), none func() (task.Task, error), abort, call func() error, override map[syscall.Errno]string) (task.Task, error) {
	done := make(chan error, 1)
	go func() { done <- call() }()
	poll := func() (task.Task, error) {
		if t, ok := find(); ok {
			return t, nil
		}
		return task.Task{}, errNoTaskYet // the display skips it
	}
	var callErr error
	_, err := showing(b.g, w, poll, func() (task.Task, error) {
		select {
		case callErr = <-done:
			return task.Task{}, nil
		case <-ctx.Done():
			return task.Task{}, ctx.Err()
		}
	})
	if err != nil { // Ctrl-C: cancel the task, as a local wait does
		t, ok := find()
		if ok {
			b.Cancel(t.UID) // interrupted says how it ended
		}
		if abort != nil {
			abort() // a streaming import waits for bytes: end its stream
		}
		if ok {
			b.interrupted(t.UID)
			t, _ = b.Task(t.UID)
			return t, err
		}
		return task.Task{}, err
	}
	t, ok := find()
	if !ok {
		return b.noTask(w, r, callErr, none, override)
	}
	if !t.Status.Finished() && callErr != nil {
		return t, callError(callErr, override)
	}
	return outcome(b.g, w, t)
}

// indexError words a refusal that the kernel made before any task (it
// knows whether the entry exists) as the task would have failed, with the
// engine's words (index/rename.go), so that the message and exit code are
// those of the same command unmounted. A rename onto an existing index is
// refused before a task by both.
func (b *mountBackend) indexError(r task.Request, err error) error {
	failed := func(format string, a ...any) error {
		te := task.Classify(err)
		return &task.Error{Message: fmt.Sprintf(format, a...), Code: te.Code, Type: task.TypeInvalidRequest}
	}
	switch task.Classify(err).Code {
	case task.CodeIndexAlreadyExists:
		switch r.Kind {
		case task.IndexRename, task.SingleIndexSnapshotImport:
			return fmt.Errorf("index %q: %w", r.NewIndexUID, index.ErrExists)
		}
		return failed("index %q: already exists", r.IndexUID)
	case task.CodeIndexNotFound:
		missing := r.IndexUID
		if _, serr := os.Stat(b.path("indexes", missing)); serr == nil && r.NewIndexUID != "" {
			missing = r.NewIndexUID
		}
		switch r.Kind {
		case task.IndexRename:
			return failed("rename index %q to %q: index %q: not found", r.IndexUID, r.NewIndexUID, missing)
		case task.IndexSwap:
			return failed("swap indexes %q and %q: index %q: not found", r.IndexUID, r.NewIndexUID, missing)
		}
		return failed("index %q: not found", missing)
	}
	return err
}

var errNoTaskYet = errors.New("the call has no task yet")

// commandOf names the command that makes request r, for messages.
func commandOf(r task.Request) string {
	switch r.Kind {
	case task.IndexCreation:
		return "idxfs index create"
	case task.IndexDeletion:
		return "idxfs index delete"
	case task.IndexRename:
		return "idxfs index rename"
	case task.IndexSwap:
		return "idxfs index swap"
	case task.DocumentAdditionOrUpdate:
		if r.ReplaceAll {
			return "idxfs documents replace"
		}
		return "idxfs documents add"
	case task.DocumentDeletion:
		return "idxfs documents delete"
	case task.SingleIndexSnapshotCreation:
		return "idxfs snapshot create"
	case task.SingleIndexSnapshotImport:
		return "idxfs snapshot import"
	}
	return "idxfs " + string(r.Kind)
}
