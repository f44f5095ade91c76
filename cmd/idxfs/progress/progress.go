// Package progress is the CLI's display of a task's progress while a
// command waits for it (DESIGN §1: the CLI's progress display under
// cmd/idxfs/).
//
// It is fed by a Poll: a function that returns the task as it is now
// (task.Task, with its progress, rate and time left). When the CLI runs the
// engine itself, that is the engine's Get; when it acts through a mount, it
// will be a read of the task's file — the display knows neither.
//
// Three modes, chosen by ModeFor:
//   - Bar: stderr is a terminal. A one-line bar on stderr with the step,
//     percentage, bytes, rate and time left, redrawn in place and removed
//     when the wait ends, so that the command's output is what it was.
//   - JSON (--json): one status object per line on stdout while the task is
//     enqueued or processing, every Interval, then the command prints its
//     final object as always (restic's --json is the model).
//   - Off: no terminal, no --json. Nothing at all: no control characters in
//     a log or a pipe.
package progress

import (
	"encoding/json"
	"io"
	"os"
	"sync"
	"time"

	"golang.org/x/term"

	"github.com/idxfs/idxfs/task"
)

// Poll returns the task followed, as it is now.
type Poll func() (task.Task, error)

// Mode is how progress is shown.
type Mode int

const (
	Off  Mode = iota // nothing
	Bar              // a bar on a terminal
	JSON             // status lines
)

// IntervalEnv names the environment variable that sets how often a JSON
// status line is written (a Go duration: 100ms, 2s); default
// DefaultJSONInterval.
const IntervalEnv = "IDXFS_PROGRESS_INTERVAL"

// DefaultJSONInterval is how often a JSON status line is written.
const DefaultJSONInterval = time.Second

// barPoll is how often the bar asks for the task's state.
const barPoll = 100 * time.Millisecond

// ModeFor returns the mode of a command that writes its progress to stderr:
// JSON with --json, Bar if stderr is a terminal, else Off.
func ModeFor(stderr io.Writer, asJSON bool) Mode {
	switch {
	case asJSON:
		return JSON
	case IsTerminal(stderr):
		return Bar
	}
	return Off
}

// IsTerminal reports whether w (or the writer a *Stderr wraps) is a
// terminal.
func IsTerminal(w io.Writer) bool {
	w, _ = unwrap(w)
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// Options configure a display.
type Options struct {
	Mode Mode
	// Out is where it goes: the terminal (stderr) for Bar, stdout for JSON.
	Out io.Writer
	// Interval is the time between two JSON status lines, the first one
	// included (a task that ends sooner writes none). Default: the
	// IDXFS_PROGRESS_INTERVAL environment variable, else 1s.
	Interval time.Duration
}

// Status is one JSON status line: message_type as restic spells it, so
// that one filter reads both, then the task's own fields, named as in its
// JSON (progress included: percentage, bytes, bytesPerSecond,
// secondsRemaining).
type Status struct {
	MessageType string         `json:"message_type"` // "status"
	UID         uint64         `json:"uid"`
	IndexUID    string         `json:"indexUid"`
	Type        task.Kind      `json:"type"`
	Status      task.Status    `json:"status"`
	Progress    *task.Progress `json:"progress"`
}

// StatusOf returns the status line of t.
func StatusOf(t task.Task) Status {
	return Status{MessageType: "status", UID: t.UID, IndexUID: t.IndexUID, Type: t.Type, Status: t.Status, Progress: t.Progress}
}

// Display follows one task until Stop.
type Display struct {
	stop chan struct{}
	done chan struct{}
	once sync.Once
}

// Start shows the progress of the task that poll returns, until Stop. With
// mode Off it does nothing.
func Start(opts Options, poll Poll) *Display {
	d := &Display{stop: make(chan struct{}), done: make(chan struct{})}
	switch opts.Mode {
	case JSON:
		go d.jsonLines(opts.Out, interval(opts.Interval), poll)
	case Bar:
		go d.bar(opts.Out, poll)
	default:
		close(d.done)
	}
	return d
}

// Stop ends the display and returns once it wrote its last byte: the bar is
// removed from the terminal; no status line comes after. The caller then
// prints the outcome.
func (d *Display) Stop() {
	d.once.Do(func() { close(d.stop) })
	<-d.done
}

func interval(d time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	if v, err := time.ParseDuration(os.Getenv(IntervalEnv)); err == nil && v > 0 {
		return v
	}
	return DefaultJSONInterval
}

// jsonLines writes a status line every iv while the task is not finished.
func (d *Display) jsonLines(w io.Writer, iv time.Duration, poll Poll) {
	defer close(d.done)
	tick := time.NewTicker(iv)
	defer tick.Stop()
	enc := json.NewEncoder(w) // one line per value
	for {
		select {
		case <-d.stop:
			return
		case <-tick.C:
		}
		t, err := poll()
		if err != nil || t.Status.Finished() {
			continue // the command reports the outcome
		}
		select {
		case <-d.stop: // the wait ended meanwhile: its outcome comes next
			return
		default:
		}
		if enc.Encode(StatusOf(t)) != nil {
			return
		}
	}
}
