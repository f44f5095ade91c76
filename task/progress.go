package task

import (
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// RateWindow is the span over which a processing task's rate
// (Progress.BytesPerSecond) is measured: the bytes of the current step done
// in about the last RateWindow, not since the task started, so that the
// rate and the time left follow a change of speed (a disk that got busy, a
// writer into import/ that slowed down).
const RateWindow = 10 * time.Second

// minRateSpan is the shortest span a rate is computed over: in the first
// moments of a step a few bytes would give wild rates.
const minRateSpan = time.Second

// sampleEvery is the least time between two kept samples: progress is
// reported about every MiB, which at disk speed is far more often than a
// window needs.
const sampleEvery = 100 * time.Millisecond

// liveProgress is a processing task's progress: atomic counters that the
// processor sets and readers (status files, the persisting ticker) read.
type liveProgress struct {
	steps []Step       // the task's kind's
	step  atomic.Int32 // index into steps
	done  atomic.Int64
	total atomic.Int64

	onStep func()           // called when the step changes; set before the task starts
	now    func() time.Time // the engine's clock

	mu      sync.Mutex
	samples []sample // the current step's, oldest first: (time, bytes done)
}

// sample is the bytes done in the current step at a moment.
type sample struct {
	at   time.Time
	done int64
}

// newLiveProgress returns the progress of a task of kind k, on the wall
// clock until the engine sets its own (now) as the task starts.
func newLiveProgress(k Kind) *liveProgress { return &liveProgress{steps: Steps(k), now: time.Now} }

// setBytes records progress within the current step.
func (p *liveProgress) setBytes(done, total int64) {
	p.total.Store(total)
	p.done.Store(done)
	p.record(false, done)
}

// at moves to step i (resetting the counters if it is a new step) and
// records progress within it. A new step is persisted at once (onStep), so
// that a task interrupted by a crash shows the step it was in.
func (p *liveProgress) at(i int, done, total int64) {
	if cur := p.step.Load(); int(cur) != i && p.step.CompareAndSwap(cur, int32(i)) {
		p.done.Store(0)
		p.total.Store(0)
		p.record(true, 0)
		if p.onStep != nil {
			p.onStep()
		}
	}
	p.setBytes(done, total)
}

// record adds a sample of the bytes done (restart: the first of a new
// step). It keeps the samples of about the last RateWindow, plus the newest
// one older than that, which is where the window's rate is measured from.
func (p *liveProgress) record(restart bool, done int64) {
	now := p.now()
	p.mu.Lock()
	defer p.mu.Unlock()
	if restart {
		p.samples = p.samples[:0]
	}
	s := sample{now, done}
	if n := len(p.samples); n >= 2 && now.Sub(p.samples[n-2].at) < sampleEvery {
		p.samples[n-1] = s
	} else {
		p.samples = append(p.samples, s)
	}
	p.samples = p.samples[p.windowStart(now):]
}

// windowStart is the index of the sample the window ending at now is
// measured from: the newest one at least RateWindow old, else the oldest.
func (p *liveProgress) windowStart(now time.Time) int {
	i := 0
	for i+1 < len(p.samples) && !p.samples[i+1].at.After(now.Add(-RateWindow)) {
		i++
	}
	return i
}

// rate returns the bytes per second of the current step over the window
// ending now, and whether there is one (the step counts bytes and has run
// for at least minRateSpan).
func (p *liveProgress) rate(done int64) (float64, bool) {
	now := p.now()
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.samples) == 0 {
		return 0, false
	}
	base := p.samples[p.windowStart(now)]
	span := now.Sub(base.at)
	if span < minRateSpan {
		return 0, false
	}
	return max(float64(done-base.done), 0) / span.Seconds(), true
}

// view renders the progress. The percentage is the weight of the finished
// steps plus the current step's weight times its byte fraction. The rate
// and the time left are the current step's (see Progress).
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
	v := &Progress{
		Steps:      []StepProgress{{CurrentStep: st[i].Name, Finished: i, Total: len(st)}},
		Percentage: math.Round(pct*100) / 100,
		BytesDone:  done,
		BytesTotal: total,
	}
	if r, ok := p.rate(done); ok && total > 0 {
		v.setRate(r)
	}
	return v
}

// setRate sets the rate (bytes per second) and, where it can be known, the
// time left at that rate.
func (v *Progress) setRate(r float64) {
	bps := int64(math.Round(r))
	v.BytesPerSecond = &bps
	if left := v.BytesTotal - v.BytesDone; r > 0 && left >= 0 {
		secs := int64(math.Ceil(float64(left) / r))
		v.SecondsRemaining = &secs
	}
}

// finished is the progress of a task that ended: a copy without rate or
// time left, which only a processing task has.
func (v *Progress) finished() *Progress {
	if v == nil {
		return nil
	}
	c := *v
	c.BytesPerSecond, c.SecondsRemaining = nil, nil
	return &c
}
