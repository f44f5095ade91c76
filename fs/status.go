package fs

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/idxfs/idxfs/task"
)

// rootStatus is MOUNT/status.json.
type rootStatus struct {
	Version       string         `json:"version"`
	DataDir       string         `json:"dataDir"`
	StartedAt     time.Time      `json:"startedAt"`
	Indexes       []indexSummary `json:"indexes"`
	Queue         queueSummary   `json:"queue"`
	TasksInFlight []task.Task    `json:"tasksInFlight"`
	Imports       []importStatus `json:"imports"`
	Exports       exportUsage    `json:"exports"`
	RecentErrors  []task.Task    `json:"recentFailures"`
}

// exportUsage is the space that exports of documents.ndjson take in
// DATA/tmp/exports (the current version's, cached, and older ones that a
// reader still has open).
type exportUsage struct {
	Files int   `json:"files"`
	Bytes int64 `json:"bytes"`
}

type indexSummary struct {
	UID        string    `json:"uid"`
	Documents  uint64    `json:"numberOfDocuments"`
	SizeOnDisk int64     `json:"sizeOnDisk"`
	Version    uint64    `json:"version"`
	UpdatedAt  time.Time `json:"updatedAt"`
}

type queueSummary struct {
	Enqueued   int `json:"enqueued"`
	Processing int `json:"processing"`
}

// importStatus is one entry of import/. Size is the bytes written to it
// (the archive, compressed); Progress, while its task processes, is the
// task's: from the moment the archive's metadata is read, its bytes count
// the index's files (uncompressed) out of their total.
type importStatus struct {
	Name     string         `json:"name"`
	Index    string         `json:"index,omitempty"`
	Size     int64          `json:"size"`
	State    string         `json:"state"`
	Task     uint64         `json:"task,omitempty"`
	Error    string         `json:"error,omitempty"`
	Progress *task.Progress `json:"progress,omitempty"`
}

// indexStatus is MOUNT/indexes/NAME/status.json.
type indexStatus struct {
	UID            string          `json:"uid"`
	ID             string          `json:"id"` // the database's, as index show prints it
	PrimaryKey     string          `json:"primaryKey"`
	Documents      uint64          `json:"numberOfDocuments"`
	Version        uint64          `json:"version"`
	CreatedAt      time.Time       `json:"createdAt"`
	UpdatedAt      time.Time       `json:"updatedAt"`
	SizeOnDisk     int64           `json:"sizeOnDisk"`
	ExportBytes    int64           `json:"exportBytes"`
	LatestSnapshot *snapshotStatus `json:"latestSnapshot"`
	TasksInFlight  []task.Task     `json:"tasksInFlight"`
	LastError      *taskError      `json:"lastError"`
}

type snapshotStatus struct {
	task.StoredSnapshot
	Fresh bool `json:"fresh"` // it holds the index's current version
}

type taskError struct {
	Task      uint64    `json:"task"`
	Type      task.Kind `json:"type"`
	At        time.Time `json:"at"`
	Message   string    `json:"message"`
	Code      string    `json:"code"`
	ErrorType string    `json:"errorType"` // the error's type; Type is the task's
}

var inFlight = []task.Status{task.Enqueued, task.Processing}

func (m *mountState) rootStatus(ctx context.Context) (rootStatus, error) {
	m.engine.SettleSnapshots("") // a snapshot a reader got is stored, its task finished
	ins, err := m.store.List(ctx)
	if err != nil {
		return rootStatus{}, err
	}
	s := rootStatus{
		Version: m.opts.Version, DataDir: m.store.Dir(), StartedAt: m.started,
		Indexes: []indexSummary{}, TasksInFlight: []task.Task{}, Imports: []importStatus{},
	}
	for _, in := range ins {
		s.Indexes = append(s.Indexes, indexSummary{in.UID, in.Documents, in.SizeOnDisk, in.Version, in.UpdatedAt})
	}
	for _, t := range m.engine.List(task.Filter{Statuses: inFlight}) {
		if t.Status == task.Processing {
			s.Queue.Processing++
		} else {
			s.Queue.Enqueued++
		}
		s.TasksInFlight = append(s.TasksInFlight, t)
	}
	for _, e := range m.imports.list() {
		im := e.status()
		if t, err := m.engine.Get(im.Task); im.Task != 0 && err == nil && t.Status == task.Processing {
			im.Progress = t.Progress
		}
		s.Imports = append(s.Imports, im)
	}
	m.exports.prune()
	s.Exports.Files, s.Exports.Bytes = m.exports.usage("")
	s.RecentErrors = m.engine.List(task.Filter{Statuses: []task.Status{task.Failed}, Limit: 10})
	if s.RecentErrors == nil {
		s.RecentErrors = []task.Task{}
	}
	return s, nil
}

func (m *mountState) rootStatusJSON(ctx context.Context) ([]byte, time.Time, error) {
	s, err := m.rootStatus(ctx)
	if err != nil {
		return nil, time.Time{}, err
	}
	return marshal(s)
}

func (m *mountState) rootStatusText(ctx context.Context) ([]byte, time.Time, error) {
	s, err := m.rootStatus(ctx)
	if err != nil {
		return nil, time.Time{}, err
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "idxfs %s, data dir %s, up since %s\n", s.Version, s.DataDir, s.StartedAt.Format(time.RFC3339))
	fmt.Fprintf(&b, "queue: %d processing, %d enqueued\n", s.Queue.Processing, s.Queue.Enqueued)
	fmt.Fprintf(&b, "\nindexes (%d):\n", len(s.Indexes))
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	for _, in := range s.Indexes {
		fmt.Fprintf(tw, "  %s\t%s\t%s\tversion %d\tupdated %s\n", in.UID, task.Count(in.Documents, "document"), task.HumanBytes(in.SizeOnDisk), in.Version, in.UpdatedAt.Format(time.RFC3339))
	}
	tw.Flush()
	writeTasks(&b, "tasks in flight", s.TasksInFlight)
	fmt.Fprintf(&b, "\nexports of documents.ndjson: %s, %s in DATA/tmp/exports\n", task.Count(s.Exports.Files, "file"), task.HumanBytes(s.Exports.Bytes))
	if len(s.Imports) > 0 {
		fmt.Fprintf(&b, "\nimports:\n")
		for _, im := range s.Imports {
			fmt.Fprintf(&b, "  import/%s → %s: %s, %s", im.Name, im.Index, im.State, task.HumanBytes(im.Size))
			if im.Task != 0 {
				fmt.Fprintf(&b, ", task %d", im.Task)
			}
			if im.Progress != nil {
				fmt.Fprintf(&b, ", %s", im.Progress.Text())
			}
			if im.Error != "" {
				fmt.Fprintf(&b, ": %s", im.Error)
			}
			b.WriteByte('\n')
		}
	}
	if len(s.RecentErrors) > 0 {
		fmt.Fprintf(&b, "\nrecent failures:\n")
		for _, t := range s.RecentErrors {
			fmt.Fprintf(&b, "  task %d %s of %q: %s (%s)\n", t.UID, t.Type, t.IndexUID, t.Error.Message, t.Error.Code)
		}
	}
	return b.Bytes(), time.Now(), nil
}

func (m *mountState) indexStatus(ctx context.Context, uid string) (indexStatus, error) {
	m.engine.SettleSnapshots(uid) // a snapshot a reader got is stored, its task finished
	in, err := m.store.Get(ctx, uid)
	if err != nil {
		return indexStatus{}, err
	}
	s := indexStatus{
		UID: in.UID, ID: in.ID, PrimaryKey: in.PrimaryKey, Documents: in.Documents, Version: in.Version,
		CreatedAt: in.CreatedAt, UpdatedAt: in.UpdatedAt, SizeOnDisk: in.SizeOnDisk,
		TasksInFlight: m.engine.List(task.Filter{IndexUID: uid, Statuses: inFlight}),
	}
	m.exports.prune()
	_, s.ExportBytes = m.exports.usage(uid)
	if s.TasksInFlight == nil {
		s.TasksInFlight = []task.Task{}
	}
	if ss, err := m.engine.Snapshots(uid); err == nil && len(ss) > 0 {
		newest := ss[len(ss)-1]
		s.LatestSnapshot = &snapshotStatus{StoredSnapshot: newest, Fresh: newest.Holds(in.Version, in.UpdatedAt)}
	}
	if failed := m.engine.List(task.Filter{IndexUID: uid, Statuses: []task.Status{task.Failed}, Limit: 1}); len(failed) == 1 && failed[0].Error != nil {
		t := failed[0]
		s.LastError = &taskError{Task: t.UID, Type: t.Type, At: lastChange(t), Message: t.Error.Message, Code: t.Error.Code, ErrorType: t.Error.Type}
	}
	return s, nil
}

func (m *mountState) indexStatusJSON(uid string) func(context.Context) ([]byte, time.Time, error) {
	return func(ctx context.Context) ([]byte, time.Time, error) {
		s, err := m.indexStatus(ctx, uid)
		if err != nil {
			return nil, time.Time{}, err
		}
		return marshal(s)
	}
}

func (m *mountState) indexStatusText(uid string) func(context.Context) ([]byte, time.Time, error) {
	return func(ctx context.Context) ([]byte, time.Time, error) {
		s, err := m.indexStatus(ctx, uid)
		if err != nil {
			return nil, time.Time{}, err
		}
		var b bytes.Buffer
		tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
		row := func(k, v string) { fmt.Fprintf(tw, "%s:\t%s\n", k, v) }
		row("uid", s.UID)
		row("primary key", cmp.Or(s.PrimaryKey, "(none yet: inferred at the first addition)"))
		row("documents", fmt.Sprint(s.Documents))
		row("version", fmt.Sprint(s.Version))
		row("created", s.CreatedAt.Format(time.RFC3339))
		row("updated", s.UpdatedAt.Format(time.RFC3339Nano))
		row("size on disk", task.HumanBytes(s.SizeOnDisk))
		row("exports", task.HumanBytes(s.ExportBytes)+" (documents.ndjson, in DATA/tmp/exports)")
		if ls := s.LatestSnapshot; ls != nil {
			fresh := "stale: the index changed since"
			if ls.Fresh {
				fresh = "fresh"
			}
			row("latest snapshot", fmt.Sprintf("%s, %s, version %d, %s (%s)", ls.Path, task.HumanBytes(ls.Size), ls.IndexVersion, ls.CreatedAt.Format(time.RFC3339), fresh))
			row("latest snapshot reuse", fmt.Sprintf("%s of the index (%s) copied from the snapshot before, not compressed again", task.Count(ls.ReusedFiles, "file"), task.HumanBytes(ls.ReusedBytes)))
		} else {
			row("latest snapshot", "none")
		}
		if e := s.LastError; e != nil {
			row("last error", fmt.Sprintf("task %d %s at %s: %s (%s)", e.Task, e.Type, e.At.Format(time.RFC3339), e.Message, e.Code))
		}
		tw.Flush()
		writeTasks(&b, "tasks in flight", s.TasksInFlight)
		return b.Bytes(), time.Now(), nil
	}
}

func writeTasks(b *bytes.Buffer, title string, ts []task.Task) {
	fmt.Fprintf(b, "\n%s (%d):\n", title, len(ts))
	for _, t := range ts {
		fmt.Fprintf(b, "  task %d %s of %q: %s", t.UID, t.Type, t.IndexUID, t.Status)
		if p := t.Progress; p != nil && t.Status == task.Processing {
			fmt.Fprintf(b, ", %s", p.Text())
		}
		b.WriteByte('\n')
	}
}

func marshal(v any) ([]byte, time.Time, error) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return nil, time.Time{}, err
	}
	return append(b, '\n'), time.Now(), nil
}
