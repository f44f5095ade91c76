package integration

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/idxfs/idxfs/integration/bintest"
)

// progressSource makes index "big" of about 6 MiB of incompressible
// documents, whose snapshot at --snapshot-bwlimit 1M takes seconds.
func progressSource(h *harness) {
	h.t.Helper()
	h.must("index", "create", "big", "--primary-key", "id")
	docs := h.path("big.ndjson")
	bintest.RandomDocs(h.t, docs, 1, 3000)
	h.must("documents", "add", "big", docs)
}

// slowSnapshot is the command line of a snapshot of "big" that takes seconds.
var slowSnapshot = []string{"snapshot", "create", "big", "--snapshot-bwlimit", "1M"}

// TestProgressBarOnTTY: `snapshot create` run on a terminal (a
// pseudo-terminal) draws a bar with the step, a percentage, the bytes, a
// rate and an ETA, then erases it: the summary and the path are printed as
// without a terminal.
func TestProgressBarOnTTY(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	progressSource(h)
	s := runOnTTY(t, h.command(slowSnapshot...))
	frame := regexp.MustCompile(`3/4 writing archive +\[[=> ]+\] +\d+\.\d% [\d.]+ [KM]iB/[\d.]+ MiB [\d.]+ [KM]iB/s ETA \d+s`)
	if !frame.MatchString(s) {
		t.Errorf("no bar with step, percentage, bytes, rate and ETA on the terminal:\n%q", s)
	}
	// The last frame is erased (cursor up one line, erase to the end), and
	// what follows is the output of a run without a terminal.
	summary := regexp.MustCompile(`\n\x1b\[1A\x1b\[Jsnapshot of "big" created: (/\S+), [\d.]+ MiB, 3000 documents, index version \d+ \(task \d+, [\d.]+m?s\)\n(/\S+)\n$`)
	m := summary.FindStringSubmatch(s)
	if m == nil || m[1] != m[2] {
		t.Errorf("the bar is not erased before the summary and the path:\n%q", s[max(len(s)-400, 0):])
	}
}

// TestProgressBarImportOnTTY: `snapshot import -` on a terminal, fed by a
// rate-limited pipe (pv -L), draws a bar in the extracting step with the
// total of the index's files (from the archive's metadata) and a rate.
func TestProgressBarImportOnTTY(t *testing.T) {
	t.Parallel()
	requireTool(t, "pv")
	h := newHarness(t)
	progressSource(h)
	archive := h.path("big.tgz")
	h.must("snapshot", "create", "big", "-o", archive)
	cmd := exec.CommandContext(t.Context(), "bash", "-c", `pv -q -L 1M "$1" | exec "$2" --data-dir "$3" snapshot import - --as copy`,
		"bash", archive, binary, h.data)
	cmd.Env = append(os.Environ(), "IDXFS_DATA_DIR=")
	screen := runOnTTY(t, cmd)
	frame := regexp.MustCompile(`2/4 extracting +\[[=> ]+\] +\d+\.\d% [\d.]+ [KM]iB/[\d.]+ MiB [\d.]+ [KM]iB/s ETA \d+s`)
	if !frame.MatchString(screen) {
		t.Errorf("no bar of the extraction with its total and a rate:\n%q", screen)
	}
	if !regexp.MustCompile(`\n\x1b\[1A\x1b\[Jimported "big" as "copy": 3000 documents, index version \d+ \(task \d+, [\d.]+m?s\)\n$`).MatchString(screen) {
		t.Errorf("the bar is not erased before the summary:\n%q", screen[max(len(screen)-300, 0):])
	}
}

// runOnTTY runs cmd on a pseudo-terminal (bintest.RunOnTTY).
func runOnTTY(t *testing.T, cmd *exec.Cmd) string { return bintest.RunOnTTY(t, cmd) }

// TestProgressNoTTY: the same command with its output to pipes writes no
// control character (no \x1b, no \r), only what it wrote before bars
// existed: the path on stdout, the summary on stderr.
func TestProgressNoTTY(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	progressSource(h)
	stdout, stderr, code := h.run(slowSnapshot...)
	if code != 0 {
		t.Fatalf("snapshot create: exit %d\n%s", code, stderr)
	}
	for name, s := range map[string]string{"stdout": stdout, "stderr": stderr} {
		if strings.ContainsAny(s, "\x1b\r") {
			t.Errorf("%s has control characters: %q", name, s)
		}
	}
	if !regexp.MustCompile(`^/\S+\.idx\.snapshot\n$`).MatchString(stdout) {
		t.Errorf("stdout = %q, want the path alone", stdout)
	}
	if !regexp.MustCompile(`^snapshot of "big" created: \S+, [\d.]+ MiB, 3000 documents, index version \d+ \(task \d+, [\d.]+m?s\)\n$`).MatchString(stderr) {
		t.Errorf("stderr = %q, want the summary alone", stderr)
	}
}

// TestProgressJSON: with --json, stdout is status lines, one JSON object per
// line with message_type "status" and a rising percentage, some with a rate
// and an ETA consistent with the bytes left, then the final task object as
// before.
func TestProgressJSON(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	progressSource(h)
	cmd := h.command(append(slowSnapshot, "--json")...)
	cmd.Env = append(cmd.Env, "IDXFS_PROGRESS_INTERVAL=200ms")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("snapshot create --json: %v\n%s", err, stderr.String())
	}
	out := stdout.String()
	final := strings.Index(out, "{\n") // the final object, indented as before
	if final < 0 {
		t.Fatalf("no final object:\n%s", out)
	}
	lines := strings.Split(strings.TrimSuffix(out[:final], "\n"), "\n")
	if final == 0 || len(lines) < 3 {
		t.Fatalf("%d status lines, want at least 3 in a snapshot of seconds:\n%s", len(lines), out)
	}
	var uid uint64
	last, rated := -1.0, 0
	for i, l := range lines {
		var s struct {
			MessageType string `json:"message_type"`
			UID         uint64 `json:"uid"`
			Type        string `json:"type"`
			Status      string `json:"status"`
			Progress    *struct {
				Percentage       float64 `json:"percentage"`
				BytesDone        int64   `json:"bytesDone"`
				BytesTotal       int64   `json:"bytesTotal"`
				BytesPerSecond   *int64  `json:"bytesPerSecond"`
				SecondsRemaining *int64  `json:"secondsRemaining"`
			} `json:"progress"`
		}
		if err := json.Unmarshal([]byte(l), &s); err != nil {
			t.Fatalf("status line %d is not JSON: %v: %q", i, err, l)
		}
		if s.MessageType != "status" || s.Type != "singleIndexSnapshotCreation" || (uid != 0 && s.UID != uid) {
			t.Errorf("status line %d: %q", i, l)
		}
		uid = s.UID
		p := s.Progress
		if p == nil {
			continue // enqueued
		}
		if p.Percentage < last {
			t.Errorf("percentage fell from %v at line %d: %q", last, i, l)
		}
		last = p.Percentage
		if p.BytesPerSecond != nil && p.SecondsRemaining != nil && *p.BytesPerSecond > 0 {
			rated++
			want := float64(p.BytesTotal-p.BytesDone) / float64(*p.BytesPerSecond)
			if math.Abs(float64(*p.SecondsRemaining)-want) > 1 {
				t.Errorf("line %d: secondsRemaining %d, want about (%d-%d)/%d = %.1f", i, *p.SecondsRemaining, p.BytesTotal, p.BytesDone, *p.BytesPerSecond, want)
			}
		}
	}
	if last <= 0 || rated == 0 {
		t.Errorf("no status line with progress (last %v%%) or with a rate and ETA (%d):\n%s", last, rated, out)
	}
	var tk map[string]any
	if err := json.Unmarshal([]byte(out[final:]), &tk); err != nil {
		t.Fatalf("the final object does not parse: %v\n%s", err, out[final:])
	}
	if tk["uid"] != float64(uid) || tk["status"] != "succeeded" || tk["details"] == nil {
		t.Errorf("final object: %v", tk)
	}
	if p, _ := tk["progress"].(map[string]any); p["bytesPerSecond"] != nil || p["secondsRemaining"] != nil {
		t.Errorf("a finished task has a rate or an ETA: %v", p)
	}
	if _, err := os.Stat(tk["details"].(map[string]any)["path"].(string)); err != nil {
		t.Error(err)
	}
}
