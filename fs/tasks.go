package fs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"syscall"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/idxfs/idxfs/task"
)

// tasksDir is MOUNT/tasks/: UID.json for the newest tasks (any task still
// kept can be looked up by uid); rm cancels a task.
type tasksDir struct {
	gofs.Inode
	refusingDir
	m *mountState
}

var _ = (gofs.NodeGetattrer)((*tasksDir)(nil))

func (d *tasksDir) Getattr(ctx context.Context, f gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	mtime := d.m.started
	if ts := d.m.engine.List(task.Filter{Limit: 1}); len(ts) == 1 {
		mtime = lastChange(ts[0])
	}
	d.m.dirAttr(&out.Attr, mtime, 2)
	return 0
}

// lastChange is when a task last changed status.
func lastChange(t task.Task) time.Time {
	switch {
	case t.FinishedAt != nil:
		return *t.FinishedAt
	case t.StartedAt != nil:
		return *t.StartedAt
	}
	return t.EnqueuedAt
}

func taskFileName(uid uint64) string { return fmt.Sprintf("%d.json", uid) }

func parseTaskFileName(name string) (uint64, bool) {
	s, ok := strings.CutSuffix(name, ".json")
	if !ok {
		return 0, false
	}
	uid, err := task.ParseUID(s)
	return uid, err == nil && taskFileName(uid) == name
}

var _ = (gofs.NodeReaddirer)((*tasksDir)(nil))

func (d *tasksDir) Readdir(ctx context.Context) (gofs.DirStream, syscall.Errno) {
	ts := d.m.engine.List(task.Filter{Limit: d.m.opts.TaskFiles})
	es := make([]fuse.DirEntry, 0, len(ts))
	for i := len(ts) - 1; i >= 0; i-- { // oldest first, like ls sorts them anyway
		es = append(es, fuse.DirEntry{Name: taskFileName(ts[i].UID), Mode: syscall.S_IFREG, Ino: ino("task", taskFileName(ts[i].UID))})
	}
	return gofs.NewListDirStream(es), 0
}

var _ = (gofs.NodeLookuper)((*tasksDir)(nil))

func (d *tasksDir) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	uid, ok := parseTaskFileName(name)
	if !ok {
		return nil, syscall.ENOENT
	}
	if _, err := d.m.engine.Get(uid); err != nil {
		return nil, toErrno(d.m.log, "lookup", err)
	}
	return d.m.lookupGen(ctx, &d.Inode, d.m.taskJSON(uid), ino("task", name), out)
}

var _ = (gofs.NodeUnlinker)((*tasksDir)(nil))

// Unlink cancels the task: at once if it is enqueued, at its next safe
// point if it is processing. A finished task cannot be removed (EPERM).
func (d *tasksDir) Unlink(ctx context.Context, name string) syscall.Errno {
	uid, ok := parseTaskFileName(name)
	if !ok {
		return syscall.ENOENT
	}
	t, err := d.m.engine.Cancel(uid)
	if err != nil {
		if errors.Is(err, task.ErrFinished) {
			d.m.log.Info("rm of a finished task refused", "task", uid, "status", string(t.Status))
		}
		return toErrno(d.m.log, "unlink", err)
	}
	d.m.log.Info("task canceled through the mount", "task", uid)
	return 0
}

// taskJSON generates tasks/UID.json.
func (m *mountState) taskJSON(uid uint64) func(context.Context) ([]byte, time.Time, error) {
	return func(ctx context.Context) ([]byte, time.Time, error) {
		t, err := m.engine.Get(uid)
		if err != nil {
			return nil, time.Time{}, err
		}
		b, err := json.MarshalIndent(t, "", "  ")
		if err != nil {
			return nil, time.Time{}, err
		}
		return append(b, '\n'), lastChange(t), nil
	}
}
