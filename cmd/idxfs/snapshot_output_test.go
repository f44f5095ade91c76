package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/idxfs/idxfs/task"
)

// TestSnapshotCreateOutput: unmounted, `snapshot create -o FILE` writes
// FILE while it makes the archive — FILE is the stored snapshot byte for
// byte and the stored file is not copied afterwards — and copies the stored
// file when the snapshot is reused (the index did not change). No partial
// file is left. Not parallel: it replaces copyStored.
func TestSnapshotCreateOutput(t *testing.T) {
	data := newIndex(t)
	scratch := t.TempDir()
	var copies []string
	orig := copyStored
	copyStored = func(ctx context.Context, src, dst string, rate int64) error {
		copies = append(copies, dst)
		return orig(ctx, src, dst, rate)
	}
	defer func() { copyStored = orig }()

	first := filepath.Join(scratch, "first.tgz")
	mustIn(t, data, nil, "snapshot", "create", "films", "-o", first)
	var list []task.StoredSnapshot
	decode(t, mustIn(t, data, nil, "snapshot", "list", "films", "--json").stdout, &list)
	if len(list) != 1 {
		t.Fatalf("%d stored snapshots, want 1", len(list))
	}
	stored, err := os.ReadFile(list[0].Path)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(first)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, stored) {
		t.Fatalf("-o wrote %d bytes unlike the stored snapshot's %d", len(got), len(stored))
	}
	if len(copies) != 0 {
		t.Errorf("a new snapshot was copied to %v after it was made", copies)
	}

	second := filepath.Join(scratch, "second.tgz")
	r := mustIn(t, data, nil, "snapshot", "create", "films", "-o", second)
	if !strings.Contains(r.stderr, "reused") {
		t.Fatalf("second snapshot not reused: %s", r)
	}
	if got, err := os.ReadFile(second); err != nil || !bytes.Equal(got, stored) {
		t.Errorf("-o of a reused snapshot: %d bytes, %v; want the stored %d", len(got), err, len(stored))
	}
	if len(copies) != 1 || copies[0] != second {
		t.Errorf("copies %v, want one to %s", copies, second)
	}
	ents, _ := os.ReadDir(scratch)
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), partialSuffix) {
			t.Errorf("partial file %s left", e.Name())
		}
	}
}
