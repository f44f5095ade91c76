package snapshot_test

import (
	"bytes"
	"context"
	"sync"
	"testing"

	"github.com/idxfs/idxfs/snapshot"
)

// TestWriteThrottle: a Throttle that holds every compressing goroutine but
// the first until its context ends leaves the output unchanged (the first
// compresses every member), is called by each goroutine with its number,
// and does not keep the Write from returning: the context ends once the
// last member is handed out.
func TestWriteThrottle(t *testing.T) {
	t.Parallel()
	dir := makeSource(t, map[string][]byte{
		"000004.sst": randBytes(1, 600<<10),
		"000005.sst": bytes.Repeat([]byte("compressible "), 60000),
	})
	opts := snapshot.WriteOptions{MemberSize: 64 << 10, Concurrency: 3}
	want := writeArchive(t, dir, testMetadata(), opts)

	var mu sync.Mutex
	calls := map[int]int{}
	opts.Throttle = func(ctx context.Context, worker int) error {
		mu.Lock()
		calls[worker]++
		mu.Unlock()
		if worker > 0 {
			<-ctx.Done()
			return ctx.Err()
		}
		return nil
	}
	got := writeArchive(t, dir, testMetadata(), opts)
	if !bytes.Equal(got, want) {
		t.Fatal("a throttled Write differs from an unthrottled one")
	}
	// About 1.4 MB in 64 KiB members: worker 0 took more than 20 of them.
	if calls[0] < 20 || calls[1] != 1 || calls[2] != 1 {
		t.Errorf("Throttle calls by worker: %v; want many by 0, one each by the held 1 and 2", calls)
	}
}

// TestWriteThrottleCancel: canceling a Write whose goroutines wait in
// Throttle ends it with the context's error.
func TestWriteThrottleCancel(t *testing.T) {
	t.Parallel()
	dir := makeSource(t, map[string][]byte{"000004.sst": randBytes(1, 600<<10)})
	ctx, cancel := context.WithCancel(context.Background())
	opts := snapshot.WriteOptions{MemberSize: 64 << 10, Concurrency: 2, Throttle: func(tctx context.Context, worker int) error {
		cancel() // every goroutine waits until the Write ends
		<-tctx.Done()
		return tctx.Err()
	}}
	var buf bytes.Buffer
	if _, err := snapshot.Write(ctx, &buf, dir, testMetadata(), opts); err != context.Canceled {
		t.Fatalf("Write: %v, want context.Canceled", err)
	}
}
