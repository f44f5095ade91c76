package main

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	sst "github.com/idxfs/idxfs/snapshot/snapshottest"
)

// TestSnapshotVerify: verify accepts what import accepts and says which
// checks it ran; an archive whose metadata lies about its database (issue
// 7, item 14: "numberOfDocuments" changed, every checksum right) is refused
// by verify exactly as by import; nothing is left in --tmp-dir.
func TestSnapshotVerify(t *testing.T) {
	t.Parallel()
	data, scratch, tmp := newIndex(t), t.TempDir(), t.TempDir()
	good := filepath.Join(scratch, "films.tgz")
	mustIn(t, data, nil, "snapshot", "create", "films", "-o", good)

	r := mustIn(t, data, nil, "snapshot", "verify", good, "--tmp-dir", tmp)
	for _, want := range []string{`ok: index "films", 3 documents`, "checked as an import checks it", "opened read-only", tmp, "nothing imported"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("verify output does not say %q:\n%s", want, r.stdout)
		}
	}

	// The metadata says 5000 documents; the database holds 3.
	raw, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	es, err := sst.Unarchive(raw)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(es[0].Data, &m); err != nil {
		t.Fatal(err)
	}
	m["numberOfDocuments"] = 5000
	b, _ := json.Marshal(m)
	es[0] = sst.File("metadata.json", b)
	lying := filepath.Join(scratch, "lying.tgz")
	write(t, lying, sst.Archive(es))

	const reason = "the metadata says 5000 documents, the database holds 3"
	v := in(t, data, nil, "snapshot", "verify", lying, "--tmp-dir", tmp)
	imp := in(t, data, nil, "snapshot", "import", lying, "--as", "films2")
	if v.code != exitInvalid || !strings.Contains(v.stderr, reason) || strings.Contains(v.stdout, "ok") {
		t.Errorf("verify of the lying archive: %s\nwant exit %d saying %q", v, exitInvalid, reason)
	}
	if imp.code != v.code || !strings.Contains(imp.stderr, reason) {
		t.Errorf("import of the lying archive: %s\nwant exit %d saying %q, as verify", imp, v.code, reason)
	}
	if left, _ := os.ReadDir(tmp); len(left) != 0 {
		t.Errorf("verify left %v in --tmp-dir", left)
	}
}

// TestSnapshotVerifyInterrupted: Ctrl-C while verify extracts from stdin
// ends it with exit 130 and leaves nothing in --tmp-dir.
func TestSnapshotVerifyInterrupted(t *testing.T) {
	t.Parallel()
	data, scratch, tmp := newIndex(t), t.TempDir(), t.TempDir()
	archive := filepath.Join(scratch, "films.tgz")
	mustIn(t, data, nil, "snapshot", "create", "films", "-o", archive)
	raw, err := os.ReadFile(archive)
	if err != nil {
		t.Fatal(err)
	}
	// Half the archive, then a stdin that stays open; Ctrl-C once the
	// extraction has made its directory.
	pr, pw := io.Pipe()
	defer pw.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		pw.Write(raw[:len(raw)/2])
		for {
			if ents, _ := os.ReadDir(tmp); len(ents) > 0 {
				break
			}
			runtime.Gosched()
		}
		cancel()
	}()
	r := idxfsCtx(t, ctx, pr, "--data-dir", data, "snapshot", "verify", "-", "--tmp-dir", tmp)
	if r.code != exitInterrupted {
		t.Errorf("verify interrupted: %s\nwant exit %d", r, exitInterrupted)
	}
	if left, _ := os.ReadDir(tmp); len(left) != 0 {
		t.Errorf("an interrupted verify left %v in --tmp-dir", left)
	}
}
