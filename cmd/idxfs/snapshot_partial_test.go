package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// removeStalePartials removes the partial files of `snapshot create -o`
// whose writer is gone, and keeps those of a writer that runs and anything
// that merely looks alike.
func TestRemoveStalePartials(t *testing.T) {
	dir := t.TempDir()
	gone := exec.Command("true")
	if err := gone.Run(); err != nil {
		t.Fatal(err)
	}
	files := map[string]bool{ // name → removed
		filepath.Base(partialName(filepath.Join(dir, "a.tgz"), gone.Process.Pid)): true,
		filepath.Base(partialName(filepath.Join(dir, "b.tgz"), os.Getppid())):     false, // its writer runs
		filepath.Base(partialName(filepath.Join(dir, "c.tgz"), os.Getpid())):      true,  // ours: a dead one's pid reused
		".d.tgz.x.idxfs-partial": false, // no pid
		"e.tgz.1.idxfs-partial":  false, // not hidden
		"f.tgz":                  false,
	}
	for name := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	var log bytes.Buffer
	removeStalePartials(dir, &log)
	for name, removed := range files {
		_, err := os.Stat(filepath.Join(dir, name))
		if removed != os.IsNotExist(err) {
			t.Errorf("%s: removed %v, want %v (%v)", name, os.IsNotExist(err), removed, err)
		}
	}
	if bytes.Count(log.Bytes(), []byte("removed ")) != 2 {
		t.Errorf("log:\n%s", log.String())
	}
}
