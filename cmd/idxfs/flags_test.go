package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// TestFlagsAnywhere: flags before and after the positional arguments, and
// global flags before or after the command, give the same result.
func TestFlagsAnywhere(t *testing.T) {
	t.Parallel()
	noIndex := func(t *testing.T, data, scratch string) {}
	films := func(t *testing.T, data, scratch string) {
		mustIn(t, data, nil, "index", "create", "films", "--primary-key", "id")
		mustIn(t, data, strings.NewReader(threeDocs), "documents", "add", "films")
	}
	archive := func(t *testing.T, data, scratch string) {
		films(t, data, scratch)
		mustIn(t, data, nil, "snapshot", "create", "films", "-o", filepath.Join(scratch, "films.tgz"))
	}
	keyed := `{"id":2,"key":"b"}` + "\n" + `{"id":1,"key":"a"}` + "\n"
	noPK := func(t *testing.T, data, scratch string) {
		mustIn(t, data, nil, "index", "create", "films")
		write(t, filepath.Join(scratch, "docs.ndjson"), []byte(keyed))
	}
	odd := func(t *testing.T, data, scratch string) {
		films(t, data, scratch)
		mustIn(t, data, strings.NewReader(`{"id":"-5"}`+"\n"+`{"id":"--x"}`+"\n"), "documents", "add", "films")
	}
	export := func(idx string) func(t *testing.T, data string, r result) string {
		return func(t *testing.T, data string, r result) string {
			return mustIn(t, data, nil, "documents", "export", idx).stdout
		}
	}
	primaryKeyAndExport := func(t *testing.T, data string, r result) string {
		var in struct{ PrimaryKey string }
		decode(t, mustIn(t, data, nil, "index", "show", "films", "--json").stdout, &in)
		return "primary key " + in.PrimaryKey + "\n" + export("films")(t, data, r)
	}
	indexNames := func(t *testing.T, data string, r result) string {
		var ins []struct{ UID string }
		decode(t, r.stdout, &ins)
		return fmt.Sprint(ins)
	}

	tests := []struct {
		name    string
		fixture func(t *testing.T, data, scratch string)
		stdin   string
		lines   [][]string // DATA is the data dir, SCRATCH/ the scratch dir
		observe func(t *testing.T, data string, r result) string
		want    string
	}{
		{
			name: "index create", fixture: noIndex,
			lines: [][]string{
				{"--data-dir", "DATA", "index", "create", "films", "--primary-key", "id"},
				{"--data-dir", "DATA", "index", "create", "--primary-key", "id", "films"},
				{"index", "create", "--primary-key=id", "films", "--data-dir=DATA"},
				{"index", "-d", "DATA", "create", "films", "--primary-key", "id"},
			},
			observe: primaryKeyAndExport, want: "primary key id\n",
		},
		{
			name: "documents add", fixture: noPK,
			lines: [][]string{
				{"-d", "DATA", "documents", "add", "films", "SCRATCH/docs.ndjson", "--primary-key", "key"},
				{"-d", "DATA", "documents", "add", "--primary-key", "key", "films", "SCRATCH/docs.ndjson"},
				{"-d", "DATA", "documents", "add", "films", "--primary-key", "key", "SCRATCH/docs.ndjson"},
				{"documents", "add", "films", "SCRATCH/docs.ndjson", "-d", "DATA", "--primary-key", "key"},
			},
			observe: primaryKeyAndExport, want: "primary key key\n" + `{"id":1,"key":"a"}` + "\n" + `{"id":2,"key":"b"}` + "\n",
		},
		{
			name: "documents add from stdin", fixture: noPK, stdin: keyed,
			lines: [][]string{
				{"-d", "DATA", "documents", "add", "films", "-", "--primary-key", "key"},
				{"-d", "DATA", "documents", "add", "--primary-key", "key", "films", "-"},
				{"-d", "DATA", "documents", "add", "films", "--primary-key", "key"},
			},
			observe: primaryKeyAndExport, want: "primary key key\n" + `{"id":1,"key":"a"}` + "\n" + `{"id":2,"key":"b"}` + "\n",
		},
		{
			name: "snapshot import", fixture: archive,
			lines: [][]string{
				{"-d", "DATA", "snapshot", "import", "SCRATCH/films.tgz", "--as", "copy"},
				{"-d", "DATA", "snapshot", "import", "--as", "copy", "SCRATCH/films.tgz"},
				{"-d", "DATA", "snapshot", "import", "--as=copy", "SCRATCH/films.tgz"},
				{"snapshot", "import", "SCRATCH/films.tgz", "--data-dir", "DATA", "--as", "copy"},
			},
			observe: export("copy"), want: threeDocs,
		},
		{
			name: "global flags", fixture: films,
			lines: [][]string{
				{"--data-dir", "DATA", "index", "list", "--json"},
				{"index", "list", "--json", "--data-dir", "DATA"},
				{"index", "--data-dir", "DATA", "list", "--json"},
				{"--json", "index", "list", "-d", "DATA"},
			},
			observe: indexNames, want: "[{films}]",
		},
		{
			name: "ids that look like flags", fixture: odd,
			lines: [][]string{
				{"-d", "DATA", "documents", "delete", "films", "--", "-5", "--x"},
				{"-d", "DATA", "documents", "delete", "--", "films", "-5", "--x"},
				{"documents", "delete", "films", "-d", "DATA", "--", "-5", "--x"},
			},
			observe: export("films"), want: threeDocs,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var first string
			for i, line := range tt.lines {
				data, scratch := t.TempDir(), t.TempDir()
				tt.fixture(t, data, scratch)
				args := make([]string, len(line))
				for j, a := range line {
					a = strings.ReplaceAll(a, "SCRATCH/", scratch+"/")
					args[j] = strings.ReplaceAll(a, "DATA", data)
				}
				r := idxfs(t, strings.NewReader(tt.stdin), args...)
				if r.code != exitOK {
					t.Fatalf("idxfs %s: %s", strings.Join(line, " "), r)
				}
				got := tt.observe(t, data, r)
				if !strings.HasPrefix(got, tt.want) {
					t.Errorf("after idxfs %s:\n%s\nwant it to start with\n%s", strings.Join(line, " "), got, tt.want)
				}
				if i == 0 {
					first = got
				} else if got != first {
					t.Errorf("after idxfs %s:\n%s\nafter idxfs %s:\n%s", strings.Join(line, " "), got, strings.Join(tt.lines[0], " "), first)
				}
			}
		})
	}
}

// TestIDsThatLookLikeFlags: after --, an id that starts with - is an id.
func TestIDsThatLookLikeFlags(t *testing.T) {
	t.Parallel()
	data := newIndex(t)
	mustIn(t, data, strings.NewReader(`{"id":"-5","title":"minus five"}`), "documents", "add", "films")
	if r := mustIn(t, data, nil, "documents", "get", "films", "--", "-5"); r.stdout != `{"id":"-5","title":"minus five"}`+"\n" {
		t.Errorf("documents get films -- -5: %s", r)
	}
	// Without --, -5 is an unknown flag.
	if r := in(t, data, nil, "documents", "get", "films", "-5"); r.code != exitUsage {
		t.Errorf("documents get films -5: %s\nwant a usage error", r)
	}
	if r := mustIn(t, data, nil, "documents", "delete", "films", "--", "-5"); !strings.Contains(r.stdout, "deleted 1 of 1") {
		t.Errorf("documents delete films -- -5: %s", r)
	}
	if r := in(t, data, nil, "documents", "get", "films", "--", "-5"); r.code != exitNotFound {
		t.Errorf("after the deletion, documents get films -- -5: %s", r)
	}
}
