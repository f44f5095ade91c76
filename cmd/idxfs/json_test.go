package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestJSON: every --json output is one JSON value with the fields a script
// would read.
func TestJSON(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args  []string // run in a data dir from newIndex; SCRATCH/ is a scratch dir
		stdin string
		want  map[string]any // path (dot-separated; numbers index arrays) → value; nil: present
	}{
		{[]string{"index", "create", "other", "--primary-key", "ref", "--json"}, "", map[string]any{
			"uid": nil, "type": "indexCreation", "status": "succeeded", "indexUid": "other",
			"details.primaryKey": "ref", "enqueuedAt": nil, "finishedAt": nil, "error": nil,
		}},
		{[]string{"index", "list", "--json"}, "", map[string]any{
			"0.uid": "films", "0.primaryKey": "id", "0.numberOfDocuments": 3.0, "0.version": nil, "0.updatedAt": nil,
		}},
		{[]string{"index", "show", "films", "--json"}, "", map[string]any{
			"uid": "films", "primaryKey": "id", "numberOfDocuments": 3.0, "version": nil, "sizeOnDisk": nil,
		}},
		{[]string{"index", "delete", "films", "--json"}, "", map[string]any{
			"type": "indexDeletion", "status": "succeeded", "details.deletedDocuments": 3.0,
		}},
		{[]string{"documents", "add", "films", "--json"}, `{"id":3}` + "\n" + `{"id":1,"title":"uno"}` + "\n", map[string]any{
			"type": "documentAdditionOrUpdate", "status": "succeeded", "indexUid": "films",
			"details.receivedDocuments": 2.0, "details.indexedDocuments": 2.0, "details.replaceAll": false,
			"details.primaryKey": "id", "progress.percentage": 100.0,
		}},
		{[]string{"documents", "replace", "films", "--json"}, `[{"id":3}]`, map[string]any{
			"type": "documentAdditionOrUpdate", "status": "succeeded", "details.replaceAll": true, "details.receivedDocuments": 1.0,
		}},
		{[]string{"documents", "delete", "films", "1", "7", "--json"}, "", map[string]any{
			"type": "documentDeletion", "status": "succeeded", "details.providedIds": 2.0, "details.deletedDocuments": 1.0,
		}},
		{[]string{"tasks", "list", "--json"}, "", map[string]any{
			"0.uid": 2.0, "0.type": "documentAdditionOrUpdate", "1.uid": 1.0, "1.type": "indexCreation", "1.status": "succeeded",
		}},
		{[]string{"tasks", "list", "--type", "indexCreation", "--json"}, "", map[string]any{"0.uid": 1.0}},
		{[]string{"tasks", "show", "1", "--json"}, "", map[string]any{"uid": 1.0, "type": "indexCreation", "duration": nil}},
		{[]string{"tasks", "wait", "2", "--json"}, "", map[string]any{"uid": 2.0, "status": "succeeded"}},
		{[]string{"snapshot", "create", "films", "--json"}, "", map[string]any{
			"type": "singleIndexSnapshotCreation", "status": "succeeded", "details.path": nil, "details.numberOfDocuments": 3.0,
		}},
		{[]string{"snapshot", "list", "--json"}, "", nil}, // empty: []
		{[]string{"snapshot", "inspect", "SCRATCH/films.tgz"}, "", map[string]any{
			"indexUid": "films", "numberOfDocuments": 3.0, "primaryKey": "id", "formatVersion": 1.0, "files": nil,
		}},
		{[]string{"snapshot", "import", "SCRATCH/films.tgz", "--as", "copy", "--json"}, "", map[string]any{
			"type": "singleIndexSnapshotImport", "status": "succeeded", "indexUid": "copy",
			"details.indexUid": "films", "details.newIndexUid": "copy", "details.numberOfDocuments": 3.0,
		}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			t.Parallel()
			data, scratch := newIndex(t), t.TempDir()
			if strings.Contains(strings.Join(tt.args, " "), "SCRATCH/films.tgz") {
				// Written from a second data dir, so that the first has no
				// snapshot and the tasks of the fixture only.
				mustIn(t, newIndex(t), nil, "snapshot", "create", "films", "-o", filepath.Join(scratch, "films.tgz"))
			}
			args := make([]string, len(tt.args))
			for i, a := range tt.args {
				args[i] = strings.ReplaceAll(a, "SCRATCH/", scratch+"/")
			}
			r := in(t, data, strings.NewReader(tt.stdin), args...)
			if r.code != 0 {
				t.Fatal(r)
			}
			v := lastJSON(t, r.stdout)
			if tt.want == nil {
				if a, ok := v.([]any); !ok || len(a) != 0 {
					t.Errorf("got %s, want []", r.stdout)
				}
			}
			for path, want := range tt.want {
				got, ok := jsonPath(v, path)
				if !ok {
					t.Errorf("no %s in\n%s", path, r.stdout)
				} else if want != nil && got != want {
					t.Errorf("%s = %#v, want %#v", path, got, want)
				}
			}
			if p, ok := jsonPath(v, "details.path"); ok {
				if _, err := os.Stat(p.(string)); err != nil {
					t.Errorf("details.path: %v", err)
				}
			}
		})
	}
}

// lastJSON returns the one JSON value of stdout, after the status lines
// that a waiting command writes while its task is in flight (README,
// Progress): each of those must be one line with "message_type":"status".
func lastJSON(t *testing.T, stdout string) any {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(stdout))
	var vs []any
	for {
		var v any
		if err := dec.Decode(&v); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("stdout is not JSON values: %v\n%s", err, stdout)
		}
		vs = append(vs, v)
	}
	if len(vs) == 0 {
		t.Fatalf("no JSON value on stdout: %q", stdout)
	}
	lines := strings.SplitN(stdout, "\n", len(vs))
	for i, v := range vs[:len(vs)-1] {
		if m, ok := v.(map[string]any); !ok || m["message_type"] != "status" || !json.Valid([]byte(lines[i])) {
			t.Fatalf("stdout is not one JSON value after status lines: value %d of %d is %v\n%s", i+1, len(vs), v, stdout)
		}
	}
	return vs[len(vs)-1]
}

// jsonPath returns the value at path ("a.0.b") in v.
func jsonPath(v any, path string) (any, bool) {
	for _, k := range strings.Split(path, ".") {
		switch x := v.(type) {
		case map[string]any:
			var ok bool
			if v, ok = x[k]; !ok {
				return nil, false
			}
		case []any:
			i, err := strconv.Atoi(k)
			if err != nil || i >= len(x) {
				return nil, false
			}
			v = x[i]
		default:
			return nil, false
		}
	}
	return v, true
}

var enqueuedLine = regexp.MustCompile(`^enqueued task (\d+) `)

// TestNoWait: --no-wait prints the task uid and leaves the task enqueued;
// `tasks wait` runs the queue up to it, in order.
func TestNoWait(t *testing.T) {
	t.Parallel()
	data := newIndex(t)
	var uids []string
	for _, c := range []struct {
		stdin string
		args  []string
	}{
		{`{"id":4,"title":"four"}`, []string{"documents", "add", "films", "--no-wait"}},
		{"", []string{"documents", "delete", "films", "1", "--no-wait"}},
		{"", []string{"index", "create", "other", "--no-wait"}},
		{"", []string{"snapshot", "create", "films", "--no-wait"}},
		{"", []string{"index", "delete", "other", "--no-wait"}},
	} {
		r := mustIn(t, data, strings.NewReader(c.stdin), c.args...)
		m := enqueuedLine.FindStringSubmatch(r.stdout)
		if m == nil {
			t.Fatalf("idxfs %s: %s\nwant \"enqueued task UID ...\"", strings.Join(c.args, " "), r)
		}
		if !strings.Contains(r.stderr, "idxfs tasks wait "+m[1]) {
			t.Errorf("idxfs %s: stderr does not say how to run task %s:\n%s", strings.Join(c.args, " "), m[1], r.stderr)
		}
		uids = append(uids, m[1])
	}
	// Nothing ran.
	for _, uid := range uids {
		if st := taskStatus(t, data, uid); st != "enqueued" {
			t.Errorf("task %s is %s, want enqueued", uid, st)
		}
	}
	if got := mustIn(t, data, nil, "documents", "export", "films").stdout; got != threeDocs {
		t.Errorf("documents changed before the tasks ran:\n%s", got)
	}

	// Waiting for the third runs the first three.
	r := mustIn(t, data, nil, "tasks", "wait", uids[2])
	if !strings.Contains(r.stdout, `"other"`) {
		t.Errorf("tasks wait %s: %s", uids[2], r)
	}
	for i, uid := range uids {
		want := "succeeded"
		if i > 2 {
			want = "enqueued"
		}
		// Tasks of other indexes may have run meanwhile.
		if st := taskStatus(t, data, uid); st != want && !(i > 2 && st == "succeeded") {
			t.Errorf("after tasks wait %s: task %s is %s, want %s", uids[2], uid, st, want)
		}
	}
	want := `{"id":2,"title":"two"}` + "\n" + `{"id":4,"title":"four"}` + "\n" + `{"id":"b","title":"bee"}` + "\n"
	if got := mustIn(t, data, nil, "documents", "export", "films").stdout; got != want {
		t.Errorf("documents after the tasks ran:\n%s\nwant\n%s", got, want)
	}
	mustIn(t, data, nil, "tasks", "wait", uids[4])
	for _, uid := range uids {
		if st := taskStatus(t, data, uid); st != "succeeded" {
			t.Errorf("task %s is %s, want succeeded", uid, st)
		}
	}
	if r := in(t, data, nil, "index", "show", "other"); r.code != exitNotFound {
		t.Errorf("index other should be gone: %s", r)
	}
	var snaps []struct{ IndexUID string }
	decode(t, mustIn(t, data, nil, "snapshot", "list", "--json").stdout, &snaps)
	if fmt.Sprint(snaps) != "[{films}]" {
		t.Errorf("snapshot list: %+v, want one of films", snaps)
	}
}

func taskStatus(t *testing.T, data, uid string) string {
	t.Helper()
	var task struct{ Status string }
	decode(t, mustIn(t, data, nil, "tasks", "show", uid, "--json").stdout, &task)
	return task.Status
}
