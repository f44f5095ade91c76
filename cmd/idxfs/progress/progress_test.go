package progress

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/idxfs/idxfs/task"
)

// fakeTask is a task that moves on each poll: percentage up by 5, bytes by
// 1 MiB, until finished at 100.
type fakeTask struct {
	mu sync.Mutex
	n  int
}

func (f *fakeTask) poll() (task.Task, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n++
	t := task.Task{UID: 7, IndexUID: "films", Type: task.SingleIndexSnapshotCreation, Status: task.Processing}
	if f.n == 1 {
		t.Status = task.Enqueued
		return t, nil
	}
	pct := min(float64(f.n)*5, 100)
	rate, left := int64(1<<20), int64(max(20-f.n, 0))
	t.Progress = &task.Progress{
		Steps:      []task.StepProgress{{CurrentStep: "writing archive", Finished: 2, Total: 4}},
		Percentage: pct, BytesDone: int64(f.n) << 20, BytesTotal: 20 << 20,
		BytesPerSecond: &rate, SecondsRemaining: &left,
	}
	if pct == 100 {
		t.Status = task.Succeeded
	}
	return t, nil
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// until polls cond every 10ms for up to 30s.
func until(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// TestJSONLines: with --json, one status object per line while the task is
// in flight, each parsing as JSON, with a rising percentage; none once it
// finished, none after Stop.
func TestJSONLines(t *testing.T) {
	t.Parallel()
	var out syncBuffer
	f := &fakeTask{}
	d := Start(Options{Mode: JSON, Out: &out, Interval: 5 * time.Millisecond}, f.poll)
	until(t, "the task to finish", func() bool { f.mu.Lock(); defer f.mu.Unlock(); return f.n > 25 })
	d.Stop()
	got := out.String()
	d.Stop() // idempotent
	lines := strings.Split(strings.TrimSuffix(got, "\n"), "\n")
	if len(lines) != 19 { // polls 1 (enqueued) to 19; from 20 on it is finished
		t.Errorf("%d lines, want 19:\n%s", len(lines), got)
	}
	last := -1.0
	for i, l := range lines {
		var s struct {
			MessageType string `json:"message_type"`
			UID         uint64 `json:"uid"`
			Status      string `json:"status"`
			Progress    *struct {
				Percentage       float64 `json:"percentage"`
				BytesPerSecond   *int64  `json:"bytesPerSecond"`
				SecondsRemaining *int64  `json:"secondsRemaining"`
			} `json:"progress"`
		}
		if err := json.Unmarshal([]byte(l), &s); err != nil {
			t.Fatalf("line %d is not JSON: %v: %q", i, err, l)
		}
		if s.MessageType != "status" || s.UID != 7 {
			t.Errorf("line %d: %q", i, l)
		}
		if i == 0 {
			if s.Status != "enqueued" || s.Progress != nil {
				t.Errorf("first line: %q, want the task enqueued, no progress", l)
			}
			continue
		}
		if s.Status != "processing" || s.Progress == nil || s.Progress.Percentage <= last || s.Progress.BytesPerSecond == nil {
			t.Errorf("line %d: %q (previous percentage %v)", i, l, last)
		}
		if s.Progress != nil {
			last = s.Progress.Percentage
		}
	}
	if !strings.HasSuffix(got, "\n") {
		t.Errorf("output does not end with a newline: %q", got)
	}
}

// TestOff: no terminal, no --json: nothing is written, whatever the task
// does.
func TestOff(t *testing.T) {
	t.Parallel()
	var out syncBuffer
	f := &fakeTask{}
	if m := ModeFor(&out, false); m != Off {
		t.Fatalf("mode for a buffer = %v, want Off", m)
	}
	d := Start(Options{Mode: ModeFor(&out, false), Out: &out}, f.poll)
	d.Stop()
	if out.String() != "" || f.n != 0 {
		t.Errorf("Off wrote %q and polled %d times", out.String(), f.n)
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	if m := ModeFor(w, false); m != Off {
		t.Errorf("mode for a pipe = %v, want Off", m)
	}
	if m := ModeFor(w, true); m != JSON {
		t.Errorf("mode for --json = %v, want JSON", m)
	}
}

// TestBar: on a terminal the bar shows the step, percentage, bytes, rate
// and ETA, and Stop erases it: the cursor goes back up over its line and
// clears to the end of the screen, so what the command prints next starts
// where the bar was.
func TestBar(t *testing.T) {
	t.Parallel()
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	defer ptmx.Close()
	defer tty.Close()
	if err := pty.Setsize(ptmx, &pty.Winsize{Rows: 24, Cols: 100}); err != nil {
		t.Fatal(err)
	}
	if m := ModeFor(tty, false); m != Bar {
		t.Fatalf("mode for a terminal = %v, want Bar", m)
	}
	var screen syncBuffer
	read := make(chan struct{})
	go func() { io.Copy(&screen, ptmx); close(read) }()

	f := &fakeTask{}
	stderr := NewStderr(tty) // as the command's logger writes
	if m := ModeFor(stderr, false); m != Bar {
		t.Fatalf("mode for a wrapped terminal = %v, want Bar", m)
	}
	d := Start(Options{Mode: Bar, Out: stderr}, func() (task.Task, error) {
		f.mu.Lock()
		f.n = min(f.n, 8) // hold at 45%
		f.mu.Unlock()
		return f.poll()
	})
	frame := regexp.MustCompile(`3/4 writing archive +\[=+>? *\] +45\.0% 9\.0 MiB/20\.0 MiB 1\.0 MiB/s ETA 11s`)
	until(t, "a bar at 45% on the terminal", func() bool { return frame.MatchString(screen.String()) })
	// A log line while the bar shows is printed above it: the redraws that
	// follow go up over the bar's line only.
	fmt.Fprintln(stderr, "level=WARN msg=hello")
	above := regexp.MustCompile(`level=WARN msg=hello\r?\n3/4 writing archive[^\n]*\n\x1b\[1A\x1b\[J3/4 writing archive`)
	until(t, "the log line above a redrawn bar", func() bool { return above.MatchString(screen.String()) })
	d.Stop()
	tty.Write([]byte("after\n"))
	until(t, "the line written after the bar", func() bool { return strings.Contains(screen.String(), "after") })
	s := strings.ReplaceAll(screen.String(), "\r", "")
	if !strings.HasSuffix(s, "\n\x1b[1A\x1b[Jafter\n") {
		t.Errorf("after the last frame, want the bar's line erased, then the next output; got %q", s[max(len(s)-300, 0):])
	}
}
