package mount

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"syscall"
	"testing"
	"time"

	"github.com/idxfs/idxfs/integration/bintest"
)

// progressJSON is a task's progress as the status files show it.
type progressJSON struct {
	Steps []struct {
		CurrentStep string `json:"currentStep"`
	} `json:"steps"`
	Percentage       float64 `json:"percentage"`
	BytesDone        int64   `json:"bytesDone"`
	BytesTotal       int64   `json:"bytesTotal"`
	BytesPerSecond   *int64  `json:"bytesPerSecond"`
	SecondsRemaining *int64  `json:"secondsRemaining"`
}

// statusJSON is the part of status.json (the root's or an index's) that
// the tests of progress read.
type statusJSON struct {
	TasksInFlight []struct {
		UID      uint64        `json:"uid"`
		Type     string        `json:"type"`
		Status   string        `json:"status"`
		Progress *progressJSON `json:"progress"`
	} `json:"tasksInFlight"`
	Imports []importJSON `json:"imports"`
}

// importJSON is an entry of the root status's imports.
type importJSON struct {
	Name     string        `json:"name"`
	Size     int64         `json:"size"`
	Task     uint64        `json:"task"`
	Progress *progressJSON `json:"progress"`
}

// readStatus reads and decodes a status.json.
func readStatus(t *testing.T, path string) statusJSON {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var st statusJSON
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatalf("%s: %v\n%s", path, err, b)
	}
	return st
}

// TestStatusRateAndETA: while a snapshot is being made (slowed down by
// --snapshot-bwlimit), the index's status shows a rate and a time left,
// and status.json has bytesPerSecond and secondsRemaining consistent with
// the bytes left.
func TestStatusRateAndETA(t *testing.T) {
	e := newEnv(t, map[string]int{"big": 10000})
	e.mount("--snapshot-bwlimit", "512K")
	done := make(chan result, 1)
	go func() {
		done <- run(t, nil, "bash", "-c", fmt.Sprintf("cat %q | wc -c", e.path("indexes", "big", "snapshot.tar.gz")))
	}()
	text := regexp.MustCompile(`task \d+ singleIndexSnapshotCreation of "big": processing, writing archive \(step 3 of 4\), [\d.]+%, [\d.]+ [KM]iB of [\d.]+ MiB, [\d.]+ [KM]iB/s, (\d+s|\dm\d\ds) left\n`)
	var seenText string
	until(t, time.Minute, "the status to show a rate and a time left", func() bool {
		b, _ := os.ReadFile(e.path("indexes", "big", "status"))
		seenText = string(b)
		return text.MatchString(seenText)
	})
	var p *progressJSON
	until(t, time.Minute, "status.json to show bytesPerSecond and secondsRemaining", func() bool {
		for _, tk := range readStatus(t, e.path("indexes", "big", "status.json")).TasksInFlight {
			if q := tk.Progress; tk.Type == "singleIndexSnapshotCreation" && tk.Status == "processing" && q != nil &&
				q.BytesPerSecond != nil && *q.BytesPerSecond > 0 && q.SecondsRemaining != nil {
				p = q
				return true
			}
		}
		return false
	})
	want := float64(p.BytesTotal-p.BytesDone) / float64(*p.BytesPerSecond)
	if got := float64(*p.SecondsRemaining); math.Abs(got-want) > 1 {
		t.Errorf("secondsRemaining %v, want about (%d-%d)/%d = %.1f", got, p.BytesTotal, p.BytesDone, *p.BytesPerSecond, want)
	}
	// The limit is on the archive written; the rate counts the index's
	// files read, which pebble compressed already: the same order.
	if r := *p.BytesPerSecond; r < 64<<10 || r > 8<<20 {
		t.Errorf("bytesPerSecond %d at --snapshot-bwlimit 512K", r)
	}
	if r := <-done; r.code != 0 {
		t.Fatalf("cat snapshot.tar.gz: %v", r)
	}
	// Finished: the task keeps its progress, without rate or time left.
	b, err := os.ReadFile(e.path("indexes", "big", "status"))
	if err != nil {
		t.Fatal(err)
	}
	if regexp.MustCompile(`B/s\b| left\b`).Match(b) {
		t.Errorf("after the snapshot the status still shows a rate:\n%s", b)
	}
}

// TestImportShowsTotal: an archive copied into import/ shows its total in
// the status files as soon as its metadata is read, while the rest of it
// has not even been written: the import's task and its import/ entry both
// count the index's files out of the sum of their sizes in metadata.json.
func TestImportShowsTotal(t *testing.T) {
	e := newEnv(t, map[string]int{"src": 5000})
	e.mount()
	raw, err := os.ReadFile(e.path("indexes", "src", "snapshot.tar.gz"))
	if err != nil {
		t.Fatal(err)
	}
	archive := filepath.Join(t.TempDir(), "src.tar.gz")
	if err := os.WriteFile(archive, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	var md struct {
		Files []struct{ Size int64 } `json:"files"`
	}
	if err := json.Unmarshal([]byte(must(t, bin, "snapshot", "inspect", archive)), &md); err != nil {
		t.Fatal(err)
	}
	var total int64
	for _, f := range md.Files {
		total += f.Size
	}
	if total <= 0 {
		t.Fatalf("the archive's metadata lists no file sizes: %+v", md)
	}

	f, err := os.OpenFile(e.path("import", "copy.tar.gz"), os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	head := int64(64 << 10) // the metadata is the first entry, in a member of its own
	if _, err := f.Write(raw[:head]); err != nil {
		t.Fatal(err)
	}
	var st statusJSON
	until(t, time.Minute, fmt.Sprintf("status.json to show the import's total (%d bytes)", total), func() bool {
		st = readStatus(t, e.path("status.json"))
		for _, tk := range st.TasksInFlight {
			if tk.Type == "singleIndexSnapshotImport" && tk.Progress != nil && tk.Progress.BytesTotal == total {
				return true
			}
		}
		return false
	})
	var im *importJSON
	for i := range st.Imports {
		if st.Imports[i].Name == "copy.tar.gz" {
			im = &st.Imports[i]
		}
	}
	if im == nil || im.Progress == nil || im.Progress.BytesTotal != total || im.Size != head {
		t.Errorf("import/ entry in status.json: %+v, want %d bytes written and the task's progress out of %d", im, head, total)
	} else if s := im.Progress.Steps; len(s) != 1 || s[0].CurrentStep != "extracting" {
		t.Errorf("import/ entry's step: %+v, want extracting", s)
	}
	// Read in this process: a child started while import/ is open would
	// close its copy of the descriptor at exec, a flush that commits.
	b, err := os.ReadFile(e.path("status"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	if !regexp.MustCompile(`import/copy\.tar\.gz → copy: writing, 64\.0 KiB, task \d+, extracting \(step 2 of 4\), [\d.]+%, [\d.]+ [KM]?i?B of [\d.]+ MiB`).MatchString(text) {
		t.Errorf("status does not show the import's progress with its total:\n%s", text)
	}

	if _, err := f.Write(raw[head:]); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatalf("close of import/copy.tar.gz: %v", err)
	}
	if got, want := e.exportOf("copy"), e.exportOf("src"); got != want {
		t.Error("the imported index has other documents than the source")
	}
}

// TestProgressBarThroughMountOnTTY: snapshot create and snapshot import
// FILE --as NAME run on a terminal (a pseudo-terminal) while the data dir
// is mounted draw the same bar as unmounted (integration/progress_test.go),
// fed by the task's file in tasks/: step, percentage, bytes, rate and ETA,
// erased before the summary. The import's FILE is a named pipe fed at
// 1 MiB/s (pv -L), so that the import lasts seconds.
func TestProgressBarThroughMountOnTTY(t *testing.T) {
	requireTool(t, "pv")
	e := newEnv(t, nil)
	dir := t.TempDir()
	docs, archive, fifo := filepath.Join(dir, "big.ndjson"), filepath.Join(dir, "big.tgz"), filepath.Join(dir, "big.fifo")
	e.cli("index", "create", "big", "--primary-key", "id")
	bintest.RandomDocs(t, docs, 1, 3000) // about 6 MiB that do not compress
	e.cli("documents", "add", "big", docs)
	e.cli("snapshot", "create", "big", "-o", archive)
	bintest.RandomDocs(t, docs, 3001, 1) // a new version: the next snapshot is made, not reused
	e.cli("documents", "add", "big", docs)
	e.mount("--snapshot-bwlimit", "1M")
	tty := func(args ...string) string {
		cmd := exec.CommandContext(t.Context(), bin, append(args, "--data-dir", e.data)...)
		cmd.Env = append(os.Environ(), "IDXFS_DATA_DIR=")
		return bintest.RunOnTTY(t, cmd)
	}

	s := tty("snapshot", "create", "big")
	if !regexp.MustCompile(`3/4 writing archive +\[[=> ]+\] +\d+\.\d% [\d.]+ [KM]iB/[\d.]+ MiB [\d.]+ [KM]iB/s ETA \d+s`).MatchString(s) {
		t.Errorf("snapshot create through the mount: no bar with step, percentage, bytes, rate and ETA on the terminal:\n%q", s)
	}
	m := regexp.MustCompile(`\n\x1b\[1A\x1b\[Jsnapshot of "big" created(?: \(\d+ files?, [\d.]+ [KMG]?i?B, reused from the previous snapshot\))?: (/\S+), [\d.]+ MiB, 3001 documents, index version \d+ \(task \d+, [\d.]+m?s\)\n(/\S+)\n$`).FindStringSubmatch(s)
	if m == nil || m[1] != m[2] {
		t.Errorf("snapshot create through the mount: the bar is not erased before the summary and the path:\n%q", s[max(len(s)-400, 0):])
	}

	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	feed := exec.CommandContext(t.Context(), "bash", "-c", `exec pv -q -L 1M "$1" > "$2"`, "bash", archive, fifo)
	if err := feed.Start(); err != nil {
		t.Fatal(err)
	}
	s = tty("snapshot", "import", fifo, "--as", "copy")
	if err := feed.Wait(); err != nil {
		t.Errorf("pv into the named pipe: %v", err)
	}
	if !regexp.MustCompile(`2/4 extracting +\[[=> ]+\] +\d+\.\d% [\d.]+ [KM]iB/[\d.]+ MiB [\d.]+ [KM]iB/s ETA \d+s`).MatchString(s) {
		t.Errorf("snapshot import through the mount: no bar of the extraction with its total, a rate and an ETA:\n%q", s)
	}
	if !regexp.MustCompile(`\n\x1b\[1A\x1b\[Jimported "big" as "copy": 3000 documents, index version \d+ \(task \d+, [\d.]+m?s\)\n$`).MatchString(s) {
		t.Errorf("snapshot import through the mount: the bar is not erased before the summary:\n%q", s[max(len(s)-300, 0):])
	}
	if e.exportOf("copy") == "" {
		t.Error("the index imported through the mount is empty")
	}
}
