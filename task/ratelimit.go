package task

import (
	"context"
	"io"
	"time"
)

// rateWriter writes to w at most rate bytes per second on average, sleeping
// (and honouring ctx) when it is ahead, like rsync's --bwlimit.
type rateWriter struct {
	ctx     context.Context
	w       io.Writer
	rate    int64
	start   time.Time
	written int64
}

func newRateWriter(ctx context.Context, w io.Writer, rate int64) *rateWriter {
	return &rateWriter{ctx: ctx, w: w, rate: rate, start: time.Now()}
}

func (r *rateWriter) Write(p []byte) (int, error) {
	n, err := r.w.Write(p)
	r.written += int64(n)
	due := r.start.Add(time.Duration(float64(r.written) / float64(r.rate) * float64(time.Second)))
	if wait := time.Until(due); wait > 0 && err == nil {
		t := time.NewTimer(wait)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.ctx.Done():
			return n, r.ctx.Err()
		}
	}
	return n, err
}

// NewRateWriter returns w limited to rate bytes per second (rate <= 0: w
// itself), for the CLI's copy of a snapshot to a file, which
// --snapshot-bwlimit caps like the snapshot's own writing.
func NewRateWriter(ctx context.Context, w io.Writer, rate int64) io.Writer {
	if rate <= 0 {
		return w
	}
	return newRateWriter(ctx, w, rate)
}
