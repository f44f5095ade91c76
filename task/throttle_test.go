package task

import (
	"context"
	"strings"
	"testing"
)

// TestThrottle: while a document write is processing, the snapshot
// writer's compressing goroutines other than the first wait (a canceled
// context shows it: the call returns the context's error instead of nil),
// and one that waits goes on once the write finishes; snapshot creations
// themselves do not count.
func TestThrottle(t *testing.T) {
	t.Parallel()
	e, _ := testEngine(t, Options{})
	entered := make(chan struct{})
	release := make(chan struct{})
	e.hooks.processed = func(ctx context.Context, tk Task) error {
		if tk.Type == DocumentAdditionOrUpdate && tk.IndexUID == "held" {
			close(entered)
			<-release
		}
		return nil
	}
	e.Start()
	createIndex(t, e, "held")
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	waits := func(worker int) bool { return e.throttle(canceled, worker) != nil }
	if waits(1) {
		t.Fatal("goroutine 1 waits with no other task")
	}

	add := enqueue(t, e, Request{Kind: DocumentAdditionOrUpdate, IndexUID: "held", Documents: strings.NewReader(docs(1, 5))})
	<-entered
	if waits(0) {
		t.Error("goroutine 0 waits during a write")
	}
	if !waits(1) || !waits(3) {
		t.Error("goroutines 1 and 3 go on during a write")
	}
	resumed := make(chan error, 1)
	go func() { resumed <- e.throttle(context.Background(), 1) }()
	close(release)
	mustSucceed(t, wait(t, e, add))
	if err := <-resumed; err != nil {
		t.Errorf("waiting goroutine: %v", err)
	}
	if waits(1) {
		t.Error("goroutine 1 waits after the write finished")
	}
	// A snapshot creation is not a task to make room for.
	snapshotOf(t, e, "held")
	if waits(1) {
		t.Error("goroutine 1 waits after a snapshot")
	}
}
