package task

import (
	"context"
	"sync/atomic"
	"testing"
)

// TestConcurrentCreationsOfOneVersion: two creations of one index version
// enqueued together (two `snapshot create --no-wait`) write one archive: the
// second waits for the first and reuses it, so that with SnapshotKeep 2 the
// previous version's snapshot stays.
func TestConcurrentCreationsOfOneVersion(t *testing.T) {
	t.Parallel()
	e, _ := testEngine(t, Options{SnapshotKeep: 2})
	var calls atomic.Int32
	checkpointed := make(chan struct{})
	release := make(chan struct{})
	e.hooks.afterCheckpoint = func(ctx context.Context, tk Task) error {
		// The first creation of the second version: it has released the
		// index and is about to write its archive. (The test releases it
		// as soon as it is there.)
		if tk.IndexUID == "m" && calls.Add(1) == 2 {
			close(checkpointed)
			<-release
		}
		return nil
	}
	e.Start()
	createIndex(t, e, "m")
	addDocs(t, e, "m", docs(1, 100))
	old := snapshotOf(t, e, "m")
	addDocs(t, e, "m", docs(1000, 10))

	a := enqueue(t, e, Request{Kind: SingleIndexSnapshotCreation, IndexUID: "m"})
	b := enqueue(t, e, Request{Kind: SingleIndexSnapshotCreation, IndexUID: "m"})
	<-checkpointed
	close(release)
	var da, db SnapshotCreationDetails
	if err := mustSucceed(t, wait(t, e, a)).DecodeDetails(&da); err != nil {
		t.Fatal(err)
	}
	if err := mustSucceed(t, wait(t, e, b)).DecodeDetails(&db); err != nil {
		t.Fatal(err)
	}
	if da.Reused || !db.Reused || db.Path != da.Path {
		t.Errorf("first %+v, second %+v: want the second to reuse the first's archive", da, db)
	}
	ss, err := e.Snapshots("m")
	if err != nil {
		t.Fatal(err)
	}
	if len(ss) != 2 || ss[0].Path != old.Path || ss[1].Path != da.Path {
		t.Errorf("stored: %v; want the previous version's %s and the new %s", ss, old.Path, da.Path)
	}
}
