package task

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/idxfs/idxfs/index"
)

const crashChildEnv = "IDXFS_TASK_CRASH_CHILD"

func TestMain(m *testing.M) {
	if dir := os.Getenv(crashChildEnv); dir != "" {
		crashChild(dir)
		return
	}
	if spec := os.Getenv(truthChildEnv); spec != "" {
		truthChild(spec)
		return
	}
	os.Exit(m.Run())
}

// crashChild runs in a child process: it leaves a document task and a
// snapshot creation processing and one task enqueued, says "ready" and waits
// to be killed.
func crashChild(dir string) {
	fail := func(err error) {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	st, err := index.Open(dir, index.Options{})
	if err != nil {
		fail(err)
	}
	e, err := Open(Options{Store: st, Workers: 2})
	if err != nil {
		fail(err)
	}
	block := func(ctx context.Context, t Task) error { select {} }
	e.hooks.process = func(ctx context.Context, t Task) error {
		if t.Type == DocumentAdditionOrUpdate && t.IndexUID == "a" {
			return block(ctx, t)
		}
		return nil
	}
	e.hooks.afterCheckpoint = block
	e.Start()
	ctx := context.Background()
	for _, r := range []Request{
		{Kind: IndexCreation, IndexUID: "a", PrimaryKey: "id"},
		{Kind: IndexCreation, IndexUID: "b", PrimaryKey: "id"},
		{Kind: DocumentAdditionOrUpdate, IndexUID: "b", Documents: strings.NewReader(docs(1, 50))},
	} {
		t, err := e.Enqueue(ctx, r)
		if err != nil {
			fail(err)
		}
		if t, _ = e.Wait(ctx, t.UID); t.Status != Succeeded {
			fail(fmt.Errorf("setup task %d %s", t.UID, t.Status))
		}
	}
	add, _ := e.Enqueue(ctx, Request{Kind: DocumentAdditionOrUpdate, IndexUID: "a", Documents: strings.NewReader(docs(1, 100))})
	snap, _ := e.Enqueue(ctx, Request{Kind: SingleIndexSnapshotCreation, IndexUID: "b"})
	later, _ := e.Enqueue(ctx, Request{Kind: IndexDeletion, IndexUID: "a"})
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); {
		ta, _ := e.Get(add.UID)
		ts, _ := e.Get(snap.UID)
		if ta.Status == Processing && ts.Progress != nil && ts.Progress.Steps[0].CurrentStep == "writing archive" {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	fmt.Printf("ready %d %d %d\n", add.UID, snap.UID, later.UID)
	select {}
}

// TestRecoveryAfterKill kills a process in the middle of queued work and
// checks what the next start makes of it.
func TestRecoveryAfterKill(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		cmd.Process.Kill()
		t.Fatalf("child: %v", err)
	}
	var add, snap, later uint64
	if _, err := fmt.Sscanf(line, "ready %d %d %d", &add, &snap, &later); err != nil {
		cmd.Process.Kill()
		t.Fatalf("child said %q", line)
	}
	if tmp, _ := os.ReadDir(dir + "/tmp"); len(tmp) == 0 {
		t.Error("the child's snapshot left nothing in tmp/: the test does not test cleanup")
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()

	e, st := reopen(t, dir)
	if tmp, _ := os.ReadDir(dir + "/tmp"); len(tmp) != 0 {
		t.Errorf("tmp/ after restart holds %v", tmp)
	}
	ta, _ := e.Get(add)
	ts, _ := e.Get(snap)
	tl, _ := e.Get(later)
	if ta.Status != Enqueued {
		t.Errorf("document task after restart: %s, want enqueued (run again)", ta.Status)
	}
	if ts.Status != Failed || ts.Error == nil || ts.Error.Code != CodeInterrupted {
		t.Errorf("snapshot task after restart: %s %+v, want failed/interrupted", ts.Status, ts.Error)
	}
	if ts.Progress == nil || ts.Progress.Steps[0].CurrentStep != "writing archive" {
		t.Errorf("interrupted task's progress = %+v, want the step it was in", ts.Progress)
	}
	if tl.Status != Enqueued {
		t.Errorf("enqueued task after restart: %s", tl.Status)
	}
	if ss, _ := e.Snapshots("b"); len(ss) != 0 {
		t.Errorf("an interrupted snapshot is in the store: %v", ss)
	}
	e.Start()
	mustSucceed(t, wait(t, e, add))
	mustSucceed(t, wait(t, e, later))
	if st.Exists("a") {
		t.Error("index a still exists")
	}
}
