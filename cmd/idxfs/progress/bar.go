package progress

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/vbauerster/cupwriter"
	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"

	"github.com/idxfs/idxfs/task"
)

// barDelay is how long a wait goes before the bar shows.
const barDelay = 300 * time.Millisecond

// barScale is the bar's total: the percentage in hundredths.
const barScale = 100_00

// tailWidth is the width of the text right of the bar: " 42.0% 1.2
// GiB/3.0 GiB 25.0 MiB/s ETA 1m22s" is 44; with the head, an 80-column
// terminal keeps about 15 columns for the bar.
const tailWidth = 45

// sizedWriter is mpb's terminal writer, except that a terminal that says
// it has no size (a pseudo-terminal nobody sized, as script(1) makes) is
// taken as 80×24 rather than drawn on nothing.
type sizedWriter struct{ *cupwriter.Writer }

func (w sizedWriter) GetTermSize() (width, height int, err error) {
	width, height, err = w.Writer.GetTermSize()
	if err == nil && (width <= 0 || height <= 0) {
		return 80, 24, nil
	}
	return width, height, err
}

// bar draws the task's progress on the terminal w until Stop, then removes
// it. mpb redraws the line in place at its own pace; the decorators read
// the latest state that the poll loop stored.
func (d *Display) bar(w io.Writer, poll Poll) {
	defer close(d.done)
	// Drawn from barDelay on: a command that is done at once shows none.
	select {
	case <-d.stop:
		return
	case <-time.After(barDelay):
	}
	var (
		mu  sync.Mutex
		cur task.Task
	)
	get := func() task.Task {
		mu.Lock()
		defer mu.Unlock()
		return cur
	}
	term, guard := unwrap(w)
	p := mpb.New(mpb.WithConsoleWriter(sizedWriter{cupwriter.New(term, false)}), mpb.WithRefreshRate(barPoll))
	b := p.New(barScale,
		mpb.BarStyle().Lbound("[").Filler("=").Tip(">").Padding(" ").Rbound("]"),
		mpb.BarRemoveOnComplete(),
		mpb.PrependDecorators(decor.Any(func(decor.Statistics) string { return Head(get()) + " " })),
		// A fixed width, so that the bar does not move as the numbers do.
		mpb.AppendDecorators(decor.Any(func(decor.Statistics) string { return " " + Tail(get()) }, decor.WC{W: tailWidth, C: decor.DindentRight})),
	)
	guard.above(p)
	tick := time.NewTicker(barPoll)
	defer tick.Stop()
	for {
		if t, err := poll(); err == nil {
			mu.Lock()
			cur = t
			mu.Unlock()
			if t.Progress != nil {
				// Never the total while waiting: a complete bar is removed.
				b.SetCurrent(min(int64(t.Progress.Percentage*100), barScale-1))
			}
		}
		select {
		case <-d.stop:
			guard.above(nil)
			b.Abort(true) // drop: the bar's line is erased
			p.Wait()
			return
		case <-tick.C:
		}
	}
}

// Stderr is the command's stderr, for its logger and messages: what is
// written to it while a bar is drawn (a log line) is printed above the bar,
// where the bar's next redraw would otherwise erase it.
type Stderr struct {
	w  io.Writer
	mu sync.Mutex
	p  *mpb.Progress // the bar's, while one is drawn
}

// NewStderr wraps w (the process's stderr).
func NewStderr(w io.Writer) *Stderr { return &Stderr{w: w} }

func (s *Stderr) Write(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.p != nil {
		if n, err := s.p.Write(b); err == nil {
			return n, nil
		}
	}
	return s.w.Write(b)
}

// above sends later writes above the bar of p (nil: straight to the
// terminal again). A nil s does nothing.
func (s *Stderr) above(p *mpb.Progress) {
	if s != nil {
		s.mu.Lock()
		s.p = p
		s.mu.Unlock()
	}
}

// unwrap returns the writer under w, if w is a *Stderr, and the *Stderr.
func unwrap(w io.Writer) (io.Writer, *Stderr) {
	if s, ok := w.(*Stderr); ok {
		return s.w, s
	}
	return w, nil
}

// Head is the text left of the bar: the step, "3/4 writing archive" (the
// command line says which task it is).
func Head(t task.Task) string {
	switch p := t.Progress; {
	case t.Status == task.Enqueued:
		return fmt.Sprintf("task %d enqueued", t.UID)
	case p == nil || len(p.Steps) == 0:
		return fmt.Sprintf("task %d %s", t.UID, t.Status)
	default:
		s := p.Steps[len(p.Steps)-1]
		return fmt.Sprintf("%d/%d %s", s.Finished+1, s.Total, s.CurrentStep)
	}
}

// Tail is the text right of the bar: "42.0% 1.2 GiB/3.0 GiB 25.0 MiB/s
// ETA 1m22s" (the bytes when the step counts them, the rate and time left
// when they are known).
func Tail(t task.Task) string {
	p := t.Progress
	if p == nil {
		return "  0.0%"
	}
	parts := []string{fmt.Sprintf("%5.1f%%", p.Percentage)}
	if p.BytesTotal > 0 {
		parts = append(parts, task.HumanBytes(p.BytesDone)+"/"+task.HumanBytes(p.BytesTotal))
	}
	if p.BytesPerSecond != nil {
		parts = append(parts, task.HumanBytes(*p.BytesPerSecond)+"/s")
	}
	if p.SecondsRemaining != nil {
		parts = append(parts, "ETA "+task.HumanSeconds(*p.SecondsRemaining))
	}
	return strings.Join(parts, " ")
}
