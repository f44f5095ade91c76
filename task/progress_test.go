package task

import (
	"encoding/json"
	"math"
	"sync"
	"testing"
	"time"
)

// fakeClock is a clock that tests move.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// TestProgressRate: the rate is the current step's bytes over the last
// RateWindow (not since the start), the time left is the bytes left at that
// rate, and a stalled step shows a rate of 0 and no time left.
func TestProgressRate(t *testing.T) {
	t.Parallel()
	clk := &fakeClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	p := newLiveProgress(SingleIndexSnapshotCreation)
	p.now = clk.now
	const mib = 1 << 20
	const total = 1000 * mib

	p.at(2, 0, total) // writing archive
	if v := p.view(); v.BytesPerSecond != nil || v.SecondsRemaining != nil {
		t.Errorf("rate at the step's start: %+v", v)
	}
	// 10 MiB/s for 20 s.
	for i := 1; i <= 40; i++ {
		clk.advance(500 * time.Millisecond)
		p.setBytes(int64(i)*5*mib, total)
	}
	v := p.view()
	if v.BytesPerSecond == nil || *v.BytesPerSecond != 10*mib {
		t.Fatalf("rate after 20 s at 10 MiB/s = %v, want %d", v.BytesPerSecond, 10*mib)
	}
	if v.SecondsRemaining == nil || *v.SecondsRemaining != 80 {
		t.Errorf("time left for 800 MiB at 10 MiB/s = %v, want 80", v.SecondsRemaining)
	}
	// Then 2 MiB/s: after one window the rate is that, not the average
	// since the start.
	done := int64(200 * mib)
	for i := 1; i <= 2*int(RateWindow/time.Second); i++ {
		clk.advance(500 * time.Millisecond)
		done += mib
		p.setBytes(done, total)
	}
	v = p.view()
	if v.BytesPerSecond == nil || math.Abs(float64(*v.BytesPerSecond)-2*mib) > 0.05*2*mib {
		t.Fatalf("rate after a window at 2 MiB/s = %v, want about %d", v.BytesPerSecond, 2*mib)
	}
	consistent(t, v)

	// Nothing moves: after a window the rate is 0 and there is no time left.
	clk.advance(RateWindow + time.Second)
	v = p.view()
	if v.BytesPerSecond == nil || *v.BytesPerSecond != 0 || v.SecondsRemaining != nil {
		t.Errorf("stalled: rate %v, left %v; want 0 and none", v.BytesPerSecond, v.SecondsRemaining)
	}

	// A new step starts its own count; a step without bytes has no rate.
	p.at(3, 0, 0)
	clk.advance(5 * time.Second)
	if v := p.view(); v.BytesPerSecond != nil || v.SecondsRemaining != nil {
		t.Errorf("step without bytes: %+v", v)
	}
}

// consistent checks that the time left is the bytes left at the rate.
func consistent(t *testing.T, v *Progress) {
	t.Helper()
	if v.BytesPerSecond == nil || v.SecondsRemaining == nil || *v.BytesPerSecond <= 0 {
		t.Fatalf("no rate or time left: %+v", v)
	}
	want := float64(v.BytesTotal-v.BytesDone) / float64(*v.BytesPerSecond)
	if got := float64(*v.SecondsRemaining); math.Abs(got-want) > 1 {
		t.Errorf("time left %v s, want (%d-%d)/%d = %.1f s", got, v.BytesTotal, v.BytesDone, *v.BytesPerSecond, want)
	}
}

// TestProgressRateJSON: a processing task's JSON carries bytesPerSecond and
// secondsRemaining; a finished one's does not.
func TestProgressRateJSON(t *testing.T) {
	t.Parallel()
	clk := &fakeClock{t: time.Unix(1e9, 0)}
	p := newLiveProgress(SingleIndexSnapshotImport)
	p.now = clk.now
	p.at(1, 0, 1000)
	clk.advance(2 * time.Second)
	p.setBytes(400, 1000)
	b, err := json.Marshal(p.view())
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	json.Unmarshal(b, &m)
	if m["bytesPerSecond"] != 200.0 || m["secondsRemaining"] != 3.0 {
		t.Errorf("processing: %s, want bytesPerSecond 200 and secondsRemaining 3", b)
	}
	b, _ = json.Marshal(finalTask(Task{Progress: p.view()}, Succeeded, nil, nil, clk.now()).Progress)
	m = nil
	json.Unmarshal(b, &m)
	for _, k := range []string{"bytesPerSecond", "secondsRemaining"} {
		if _, ok := m[k]; ok {
			t.Errorf("finished task's progress has %s: %s", k, b)
		}
	}
}
