package task

import (
	"math"
	"sync/atomic"
)

// liveProgress is a processing task's progress: atomic counters that the
// processor sets and readers (status files, the persisting ticker) read.
type liveProgress struct {
	steps []Step       // the task's kind's
	step  atomic.Int32 // index into steps
	done  atomic.Int64
	total atomic.Int64

	onStep func() // called when the step changes; set before the task starts
}

func newLiveProgress(k Kind) *liveProgress { return &liveProgress{steps: Steps(k)} }

// setBytes records progress within the current step.
func (p *liveProgress) setBytes(done, total int64) {
	p.total.Store(total)
	p.done.Store(done)
}

// at moves to step i (resetting the counters if it is a new step) and
// records progress within it. A new step is persisted at once (onStep), so
// that a task interrupted by a crash shows the step it was in.
func (p *liveProgress) at(i int, done, total int64) {
	if cur := p.step.Load(); int(cur) != i && p.step.CompareAndSwap(cur, int32(i)) {
		p.done.Store(0)
		p.total.Store(0)
		if p.onStep != nil {
			p.onStep()
		}
	}
	p.setBytes(done, total)
}

// view renders the progress. The percentage is the weight of the finished
// steps plus the current step's weight times its byte fraction.
func (p *liveProgress) view() *Progress {
	st := p.steps
	if len(st) == 0 {
		return nil
	}
	i := min(int(p.step.Load()), len(st)-1)
	done, total := p.done.Load(), p.total.Load()
	var sum, before float64
	for j, s := range st {
		sum += float64(s.Weight)
		if j < i {
			before += float64(s.Weight)
		}
	}
	frac := 0.0
	if total > 0 {
		frac = min(float64(done)/float64(total), 1)
	}
	pct := (before + frac*float64(st[i].Weight)) / sum * 100
	return &Progress{
		Steps:      []StepProgress{{CurrentStep: st[i].Name, Finished: i, Total: len(st)}},
		Percentage: math.Round(pct*100) / 100,
		BytesDone:  done,
		BytesTotal: total,
	}
}
