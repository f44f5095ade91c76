package mount

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/idxfs/idxfs/integration/bintest"
)

// The README's install and restore-over recipes, run as a user would paste
// them, with the example paths replaced by the test's own.

// TestInstallRecipe: the install block, in a checkout of the repository,
// installs a binary that runs from PATH and makes the data dir and the
// mountpoint.
func TestInstallRecipe(t *testing.T) {
	requireTool(t, "go")
	root, err := bintest.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	bindir, data, mnt := filepath.Join(dir, "bin"), filepath.Join(dir, "data"), filepath.Join(dir, "mnt")
	script := readmeBlock(t, "install", filepath.Dir(exampleBinary), bindir, exampleDataDir, data, exampleMount, mnt)
	cmd := exec.Command("sh", "-ec", script)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "PATH="+bindir+":"+os.Getenv("PATH"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the README's install block: %v\n%s\n%s", err, script, out)
	}
	if fi, err := os.Stat(filepath.Join(bindir, "idxfs")); err != nil || fi.Mode()&0o111 == 0 {
		t.Errorf("no executable idxfs in %s after the install block: %v", bindir, err)
	}
	if !strings.HasPrefix(string(out), "idxfs ") || !strings.Contains(string(out), "pebble:") {
		t.Errorf("idxfs version after the install block printed:\n%s", out)
	}
	for _, d := range []string{data, mnt} {
		if fi, err := os.Stat(d); err != nil || !fi.IsDir() {
			t.Errorf("%s is not a directory after the install block: %v", d, err)
		}
	}
}

// TestRestoreRecipe: each line of the README's restore block restores an
// index over itself from its backup while readers read it (no read fails,
// each finds the old or the restored index); with a corrupt backup each
// line fails and the index stays as it was. The block as a whole runs too.
func TestRestoreRecipe(t *testing.T) {
	requireTool(t, "rsync")
	e := newEnv(t, map[string]int{"movies": 3000})
	e.mount()
	backup, bad := t.TempDir(), t.TempDir()
	sh(t, readmeBlock(t, "backup", "/mnt/idx", e.mnt, "/srv/backup/idxfs-copy/", t.TempDir()+"/", "/srv/backup/idxfs/", backup+"/"))
	raw, err := os.ReadFile(filepath.Join(backup, "movies.tar.gz"))
	if err != nil {
		t.Fatal(err)
	}
	raw[len(raw)/2] ^= 0xff
	if err := os.WriteFile(filepath.Join(bad, "movies.tar.gz"), raw, 0o644); err != nil {
		t.Fatal(err)
	}
	saved := e.exportOf("movies")
	extra := filepath.Join(t.TempDir(), "extra.ndjson")
	writeDocs(t, extra, 5001, 10)
	path := "PATH=" + filepath.Dir(bin) + ":$PATH\n"
	block := func(from string) string {
		return readmeBlock(t, "restore", "/srv/backup/idxfs/", from+"/", "/mnt/idx", e.mnt, exampleDataDir, e.data)
	}
	var lines []string
	for _, l := range strings.Split(block(backup), "\n") {
		if strings.TrimSpace(l) != "" {
			lines = append(lines, l)
		}
	}
	if len(lines) != 2 {
		t.Fatalf("the restore block has %d lines, want the cp and the CLI's:\n%s", len(lines), block(backup))
	}
	rd := startReaders(e, map[int]bool{3000: true, 3010: true}, "movies")
	for i := range lines {
		e.idxfs("documents", "add", "movies", extra)
		changed := e.exportOf("movies")
		if strings.Count(changed, "\n") != 3010 {
			t.Fatalf("movies after adding 10: %d documents", strings.Count(changed, "\n"))
		}
		rd.await(t, 2)
		badLine := strings.Split(block(bad), "\n")[i]
		if r := run(t, nil, "sh", "-c", path+badLine); r.code == 0 {
			t.Errorf("the restore line %q with a corrupt backup exited 0", badLine)
		}
		if e.exportOf("movies") != changed {
			t.Errorf("the restore line %q with a corrupt backup changed movies", badLine)
		}
		rd.await(t, 2)
		if r := run(t, nil, "sh", "-c", path+lines[i]); r.code != 0 {
			t.Errorf("the restore line %q: %v", lines[i], r)
		}
		rd.await(t, 2)
		if e.exportOf("movies") != saved {
			t.Errorf("after the restore line %q movies does not hold the backup's documents", lines[i])
		}
	}
	e.idxfs("documents", "add", "movies", extra)
	sh(t, path+"set -e\n"+block(backup))
	rd.await(t, 2)
	rd.end(t)
	if e.exportOf("movies") != saved {
		t.Error("after the whole restore block movies does not hold the backup's documents")
	}
	if n := count(e.tasks(), "singleIndexSnapshotImport", "movies"); n < 4 {
		t.Errorf("%d import tasks of movies, want at least the 4 restores", n)
	}
}
