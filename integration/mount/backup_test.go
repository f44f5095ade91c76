package mount

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// readmeBlock returns the sh block of README.md that follows the marker
// "<!-- tested: NAME", with the README's example paths replaced by the
// test's (old, new pairs, in the order given): the README's recipes are
// what these tests run.
func readmeBlock(t *testing.T, name string, oldnew ...string) string {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)<!-- tested: " + regexp.QuoteMeta(name) + "\\b[^>]*-->\\s*```sh\\n(.*?)```").FindSubmatch(b)
	if m == nil {
		t.Fatalf("README.md has no sh block marked %q", name)
	}
	return strings.NewReplacer(oldnew...).Replace(string(m[1]))
}

// lsNames lists a directory, as ls does.
func lsNames(t *testing.T, dir string) []string { return strings.Fields(must(t, "ls", dir)) }

// TestBackupView: the README's backup recipe, rsync -a of MOUNT/backup/ and
// cp MOUNT/backup/*.tar.gz, copies one verified archive per index and
// nothing else; a second rsync of the unchanged data dir sends nothing and
// makes no snapshot (rsync's quick check: size and mtime match); after a
// change to one index, the next run sends that index only.
func TestBackupView(t *testing.T) {
	requireTool(t, "rsync")
	e := newEnv(t, map[string]int{"a": 3000, "b": 2000})
	e.mount()
	dest, cpDest := t.TempDir(), t.TempDir()
	sh(t, readmeBlock(t, "backup", "/mnt/idx", e.mnt, "/srv/backup/idxfs-copy/", cpDest+"/", "/srv/backup/idxfs/", dest+"/"))
	want := []string{"a.tar.gz", "b.tar.gz"}
	for _, d := range []string{dest, cpDest} {
		if got := lsNames(t, d); !slices.Equal(got, want) {
			t.Errorf("backup in %s holds %v, want %v", d, got, want)
		}
	}
	for _, n := range want {
		if r := run(t, nil, bin, "snapshot", "verify", filepath.Join(dest, n)); r.code != 0 {
			t.Errorf("rsync's %s does not verify: %v", n, r)
		}
		if fileSum(t, filepath.Join(dest, n)) != fileSum(t, filepath.Join(cpDest, n)) {
			t.Errorf("cp and rsync copied different %s", n)
		}
	}
	creations := count(e.tasks(), "singleIndexSnapshotCreation", "")
	if creations != 2 {
		t.Errorf("%d snapshot creations for 2 indexes", creations)
	}

	rsync := func() (string, []string) {
		out := must(t, "rsync", "-a", "-i", "--stats", e.path("backup")+"/", dest+"/")
		var sent []string
		for _, l := range strings.Split(out, "\n") {
			if strings.HasPrefix(l, ">f") {
				sent = append(sent, strings.Fields(l)[1])
			}
		}
		return out, sent
	}
	out, sent := rsync()
	if len(sent) != 0 || !strings.Contains(out, "Number of regular files transferred: 0") {
		t.Errorf("second rsync of an unchanged data dir sent %v:\n%s", sent, out)
	}
	if n := count(e.tasks(), "singleIndexSnapshotCreation", ""); n != creations {
		t.Errorf("the second rsync made %d snapshot tasks", n-creations)
	}

	sh(t, `echo '{"id": 99999, "title": "new"}' >> `+e.path("indexes", "a", "documents.ndjson"))
	out, sent = rsync()
	if !slices.Equal(sent, []string{"a.tar.gz"}) || !strings.Contains(out, "Number of regular files transferred: 1") {
		t.Errorf("after a change to a, rsync sent %v, want [a.tar.gz]:\n%s", sent, out)
	}
	if r := run(t, nil, bin, "snapshot", "verify", filepath.Join(dest, "a.tar.gz")); r.code != 0 || !strings.Contains(r.stdout, "3001 documents") {
		t.Errorf("the new a.tar.gz: %v", r)
	}
}

// TestCronRecipe: the README's nightly job runs beside the mount: rsync of
// backup/, then prune through the mount, which removes what no rule keeps,
// per index, a deleted index's snapshots judged by the same rules; rm of a
// file in snapshots/NAME/ and `snapshot delete ID` delete from the store.
func TestCronRecipe(t *testing.T) {
	requireTool(t, "rsync")
	e := newEnv(t, map[string]int{"a": 100, "gone": 50})
	store := filepath.Join(e.data, "snapshots", "indexes")
	aNew := strings.TrimSpace(e.cli("snapshot", "create", "a"))
	goneNew := strings.TrimSpace(e.cli("snapshot", "create", "gone"))
	e.cli("index", "delete", "gone")
	// Older snapshots, as a store of years ago would hold them (the store
	// dates a snapshot by its name).
	old := func(uid, stamp string) string {
		p := filepath.Join(store, uid, uid+"_"+stamp+".idx.snapshot")
		src := aNew
		if uid == "gone" {
			src = goneNew
		}
		sh(t, "cp "+src+" "+p+" && chmod 0400 "+p)
		return p
	}
	aOld := []string{old("a", "20200101T000000.000000Z"), old("a", "20200102T000000.000000Z"), old("a", "20200103T000000.000000Z")}
	goneOld := old("gone", "20200101T000000.000000Z")
	e.mount()

	dest := t.TempDir()
	script := readmeBlock(t, "cron", "/var/lib/idxfs", e.data, "/mnt/idx", e.mnt, "/srv/backup/idxfs/", dest+"/")
	out := sh(t, "PATH="+filepath.Dir(bin)+":$PATH\n"+script)
	if got := lsNames(t, dest); !slices.Equal(got, []string{"a.tar.gz"}) {
		t.Errorf("backup holds %v, want [a.tar.gz]", got)
	}
	// a: the newest three are kept (the newest also by --keep-within 7d);
	// the oldest goes. gone: both kept (the last 3 of its own).
	for p, keep := range map[string]bool{aNew: true, aOld[2]: true, aOld[1]: true, aOld[0]: false, goneNew: true, goneOld: true} {
		if exists(p) != keep {
			t.Errorf("%s: exists %v after prune, want %v\n%s", filepath.Base(p), exists(p), keep, out)
		}
	}
	if !strings.Contains(out, "gone (deleted)") || !regexp.MustCompile(`(?m)^remove\s`).MatchString(out) {
		t.Errorf("prune output:\n%s", out)
	}

	// rm in snapshots/NAME/ deletes that stored snapshot.
	must(t, "rm", e.path("snapshots", "gone", filepath.Base(goneOld)))
	if exists(goneOld) {
		t.Error("rm of snapshots/gone/FILE left the stored file")
	}
	// snapshot delete by id, through the mount.
	sum := sha256.Sum256([]byte(filepath.Base(aOld[1]))) // the id: the SHA-256 of the file name
	id := hex.EncodeToString(sum[:])[:8]
	r := run(t, nil, bin, "snapshot", "delete", id, "--data-dir", e.data)
	if r.code != 0 || exists(aOld[1]) {
		t.Errorf("snapshot delete %s while mounted: %v", id, r)
	}
	if r := run(t, nil, bin, "snapshot", "prune", "--data-dir", e.data); r.code != 2 || !strings.Contains(r.stderr, "needs a rule") {
		t.Errorf("prune with no rule: %v, want exit 2", r)
	}
}
