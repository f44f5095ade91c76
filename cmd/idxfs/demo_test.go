package main

import (
	"strings"
	"testing"
)

// TestDemo: the demo loads 4,000 movies into the data dir it is given,
// snapshots them, and the commands it suggests work.
func TestDemo(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	r := mustIn(t, data, nil, "demo")
	if !strings.Contains(r.stdout, "data dir: "+data+"\n") {
		t.Errorf("the demo does not name its data dir %s:\n%s", data, r.stdout)
	}
	var in struct {
		UID               string
		PrimaryKey        string
		NumberOfDocuments int
	}
	decode(t, mustIn(t, data, nil, "index", "show", "movies", "--json").stdout, &in)
	if in.NumberOfDocuments != 4000 || in.PrimaryKey != "id" {
		t.Errorf("index movies: %+v, want 4000 documents with primary key id", in)
	}
	var snaps []struct {
		IndexUID          string
		Path              string
		NumberOfDocuments int
	}
	decode(t, mustIn(t, data, nil, "snapshot", "list", "--json").stdout, &snaps)
	if len(snaps) != 1 || snaps[0].IndexUID != "movies" || snaps[0].NumberOfDocuments != 4000 {
		t.Fatalf("stored snapshots: %+v, want one of movies with 4000 documents", snaps)
	}

	// Try next: ...
	for _, line := range strings.Split(r.stdout[strings.Index(r.stdout, "Try next:"):], "\n") {
		line = strings.TrimSpace(line)
		cmd, ok := strings.CutPrefix(line, "idxfs ")
		if !ok {
			continue
		}
		args := strings.Fields(strings.Split(cmd, "|")[0])
		if got := mustIn(t, data, nil, args...); got.stdout == "" {
			t.Errorf("suggested command %q printed nothing", line)
		}
	}
	if got, want := lineCount(mustIn(t, data, nil, "documents", "export", "movies2").stdout), 4000; got != want {
		t.Errorf("movies2, imported as the demo suggests, has %d documents, want %d", got, want)
	}
}

func lineCount(s string) int { return strings.Count(s, "\n") }
