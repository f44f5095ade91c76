package task

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"
)

func TestRateWriter(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	w := newRateWriter(context.Background(), &b, 1<<20) // 1 MiB/s
	start := time.Now()
	for range 4 {
		w.Write(make([]byte, 64<<10))
	}
	// 256 KiB at 1 MiB/s: at least a quarter of a second.
	if d := time.Since(start); d < 240*time.Millisecond {
		t.Errorf("256 KiB at 1 MiB/s took %v", d)
	}
	if b.Len() != 256<<10 {
		t.Errorf("wrote %d bytes", b.Len())
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	w = newRateWriter(ctx, &b, 1)
	if _, err := w.Write(make([]byte, 10)); !errors.Is(err, context.Canceled) {
		t.Errorf("write past the rate with a done ctx: %v", err)
	}
}
