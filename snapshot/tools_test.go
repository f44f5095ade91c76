package snapshot

// Archives checked by the tools users have: gzip, GNU tar, sha256sum,
// python's tarfile, pigz, and pebble's own checker. A missing tool skips its
// check with the reason, or fails it when IDXFS_REQUIRE_FUSE=1 (the setting
// that says the machine has every tool).

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// needTool returns the path of a tool, or skips (fails if required).
func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("IDXFS_REQUIRE_FUSE") == "1" {
			t.Fatalf("%s is required (IDXFS_REQUIRE_FUSE=1) but not installed", name)
		}
		t.Skipf("%s not installed: skipping", name)
	}
	return p
}

// run runs a command in dir and returns its output; it fails the test if
// the command fails.
func run(t *testing.T, dir, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

var pebbleTool struct {
	once sync.Once
	dir  string // a temporary GOBIN, removed by TestMain
	path string
	err  error
	out  []byte
}

func TestMain(m *testing.M) {
	code := m.Run()
	if pebbleTool.dir != "" {
		os.RemoveAll(pebbleTool.dir)
	}
	os.Exit(code)
}

// pebbleCLI builds pebble's command-line tool at the version this module
// uses, once per test binary, into a temporary GOBIN (the build cache makes
// later runs fast). It needs the go command and the module proxy.
func pebbleCLI(t *testing.T) string {
	t.Helper()
	goCmd := needTool(t, "go")
	pebbleTool.once.Do(func() {
		version := ""
		if bi, ok := debug.ReadBuildInfo(); ok {
			for _, d := range bi.Deps {
				if d.Path == "github.com/cockroachdb/pebble/v2" {
					version = d.Version
				}
			}
		}
		if version == "" { // test binaries may lack dependency info
			out, err := exec.Command(goCmd, "list", "-m", "-f", "{{.Version}}", "github.com/cockroachdb/pebble/v2").Output()
			if err != nil {
				pebbleTool.err = fmt.Errorf("go list pebble's version: %w", err)
				return
			}
			version = strings.TrimSpace(string(out))
		}
		bin, err := os.MkdirTemp("", "idxfs-pebble-cli")
		if err != nil {
			pebbleTool.err = err
			return
		}
		pebbleTool.dir = bin
		cmd := exec.Command(goCmd, "install", "github.com/cockroachdb/pebble/v2/cmd/pebble@"+version)
		cmd.Env = append(os.Environ(), "GOBIN="+bin, "GOFLAGS=")
		cmd.Dir = bin
		pebbleTool.out, pebbleTool.err = cmd.CombinedOutput()
		pebbleTool.path = filepath.Join(bin, "pebble")
	})
	if pebbleTool.err != nil {
		if os.Getenv("IDXFS_REQUIRE_FUSE") == "1" {
			t.Fatalf("cannot build pebble's CLI: %v\n%s", pebbleTool.err, pebbleTool.out)
		}
		t.Skipf("cannot build pebble's CLI (%v): skipping\n%s", pebbleTool.err, pebbleTool.out)
	}
	return pebbleTool.path
}

// TestRealTools writes a real pebble checkpoint and checks the archive with
// real tools, then re-packs it with GNU tar and reads that back.
func TestRealTools(t *testing.T) {
	for _, docs := range []int{0, 3000} {
		t.Run(map[bool]string{true: "empty database", false: "3000 documents"}[docs == 0], func(t *testing.T) {
			testRealTools(t, docs, false)
		})
	}
	// An archive whose members were copied from a previous one (all of
	// them: the same checkpoint) must satisfy the tools as well.
	t.Run("reused members, 3000 documents", func(t *testing.T) { testRealTools(t, 3000, true) })
}

func testRealTools(t *testing.T, docs int, reuse bool) {
	work := t.TempDir()
	ckpt := filepath.Join(work, "ckpt")
	buildPebble(t, filepath.Join(work, "db"), ckpt, docs)
	meta := Metadata{IndexUID: "movies", Documents: uint64(docs), CreatedAt: time.Date(2026, 11, 3, 4, 5, 6, 0, time.UTC)}
	write := func(name string, opts WriteOptions) (string, WriteResult) {
		arch := filepath.Join(work, name)
		f, err := os.Create(arch)
		if err != nil {
			t.Fatal(err)
		}
		res, err := Write(context.Background(), f, ckpt, meta, opts)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		return arch, res
	}
	arch, res := write("a.tar.gz", WriteOptions{MemberSize: minMemberSize})
	if reuse {
		prev := arch
		arch, res = write("b.tar.gz", WriteOptions{MemberSize: minMemberSize, Reuse: &Reusable{File: mustOpen(t, prev), Index: res.Index}})
		if res.ReusedFiles != len(res.Metadata.Files) {
			t.Fatalf("reused %d of %d files (%s)", res.ReusedFiles, len(res.Metadata.Files), res.ReuseNote)
		}
		a, _ := os.ReadFile(prev)
		b, _ := os.ReadFile(arch)
		if !bytes.Equal(a, b) {
			t.Fatal("the archive with reused members differs from the cold one")
		}
	}
	var want []string
	want = append(want, metadataName, indexDirName)
	for _, fi := range res.Metadata.Files {
		want = append(want, indexDirName+fi.Name)
	}
	want = append(want, sumsName)

	t.Run("gzip -t", func(t *testing.T) {
		run(t, work, needTool(t, "gzip"), "-t", arch)
	})
	t.Run("tar tzf", func(t *testing.T) {
		got := strings.Fields(run(t, work, needTool(t, "tar"), "tzf", arch))
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Fatalf("tar tzf lists %q, want %q", got, want)
		}
	})
	x := filepath.Join(work, "x")
	t.Run("tar xzf and sha256sum -c", func(t *testing.T) {
		tarCmd := needTool(t, "tar")
		sha := needTool(t, "sha256sum")
		os.Mkdir(x, 0o755)
		run(t, x, tarCmd, "xzf", arch)
		out := run(t, x, sha, "-c", "--strict", sumsName)
		if n := strings.Count(out, ": OK"); n != len(res.Metadata.Files) {
			t.Fatalf("sha256sum checked %d files, want %d:\n%s", n, len(res.Metadata.Files), out)
		}
		for _, fi := range res.Metadata.Files {
			a, _ := os.ReadFile(filepath.Join(ckpt, fi.Name))
			b, _ := os.ReadFile(filepath.Join(x, "index", fi.Name))
			if !bytes.Equal(a, b) {
				t.Fatalf("tar extracted %s differently", fi.Name)
			}
		}
	})
	t.Run("python tarfile", func(t *testing.T) {
		py := needTool(t, "python3")
		out := run(t, work, py, "-c", `
import sys, tarfile, json
with tarfile.open(sys.argv[1], "r:gz") as tf:
    names = tf.getnames()
    meta = json.load(tf.extractfile("metadata.json"))
    total = sum(len(tf.extractfile(m).read()) for m in tf.getmembers() if m.isfile())
print(" ".join(names))
print(meta["format"], meta["indexUid"], len(meta["files"]))
`, arch)
		lines := strings.Split(strings.TrimSpace(out), "\n")
		// tarfile drops the slash of directory names.
		if lines[0] != strings.Replace(strings.Join(want, " "), indexDirName+" ", "index ", 1) {
			t.Fatalf("tarfile lists %q, want %q", lines[0], want)
		}
		if lines[1] != FormatName+" movies "+itoa(len(res.Metadata.Files)) {
			t.Fatalf("tarfile reads metadata %q", lines[1])
		}
	})
	t.Run("pebble db check", func(t *testing.T) {
		cli := pebbleCLI(t)
		dst := filepath.Join(work, "extracted")
		m, err := Extract(context.Background(), mustOpen(t, arch), dst, ReadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		out := run(t, work, cli, "db", "check", dst)
		checked := regexp.MustCompile(`checked (\d+) points? and`).FindStringSubmatch(out)
		if checked == nil || checked[1] != itoa(m.Documents) {
			t.Fatalf("pebble db check, want %d points checked:\n%s", m.Documents, out)
		}
		t.Logf("pebble db check: %s", checked[0])
		// And pebble itself opens it and finds every document.
		db, err := pebble.Open(dst, &pebble.Options{Logger: quietLogger{}, ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		it, err := db.NewIter(nil)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for it.First(); it.Valid(); it.Next() {
			n++
		}
		if err := it.Close(); err != nil {
			t.Fatal(err)
		}
		if uint64(n) != m.Documents {
			t.Fatalf("pebble finds %d keys, want %d", n, m.Documents)
		}
	})
	t.Run("GNU tar re-pack", func(t *testing.T) {
		tarCmd := needTool(t, "tar")
		if _, err := os.Stat(filepath.Join(x, sumsName)); err != nil {
			t.Skip("needs the tar xzf step")
		}
		variants := map[string][]string{
			"tar czf":                 {"-c", `tar czf "$1" metadata.json index SHA256SUMS`},
			"tar czf --format=posix":  {"-c", `tar czf "$1" --format=posix metadata.json index SHA256SUMS`},
			"tar cf | pigz -p 2 -1":   {"-c", `tar cf - metadata.json index SHA256SUMS | pigz -p 2 -1 > "$1"`},
			"tar cf | gzip (2 parts)": {"-c", `tar cf - metadata.json index SHA256SUMS > t.tar && head -c 20000 t.tar | gzip > "$1" && tail -c +20001 t.tar | gzip >> "$1" && rm t.tar`},
		}
		for name, script := range variants {
			t.Run(name, func(t *testing.T) {
				if strings.Contains(name, "pigz") {
					needTool(t, "pigz")
				}
				out := filepath.Join(t.TempDir(), "b.tar.gz")
				run(t, x, "bash", append(script, "-", out)...)
				_ = tarCmd
				m, err := Verify(context.Background(), mustOpen(t, out), ReadOptions{})
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				dst := filepath.Join(t.TempDir(), "d")
				if _, err := Extract(context.Background(), mustOpen(t, out), dst, ReadOptions{}); err != nil {
					t.Fatalf("Extract: %v", err)
				}
				for _, fi := range m.Files {
					a, _ := os.ReadFile(filepath.Join(ckpt, fi.Name))
					b, _ := os.ReadFile(filepath.Join(dst, fi.Name))
					if !bytes.Equal(a, b) {
						t.Fatalf("%s differs after re-pack", fi.Name)
					}
				}
			})
		}
	})
}

func mustOpen(t *testing.T, p string) *os.File {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func itoa[T int | uint64](n T) string { return strconv.FormatUint(uint64(n), 10) }
