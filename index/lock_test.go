package index

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestSecondOpenInProcess(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	s := openStore(t, dir)
	if err := s.SetMountpoint("/mnt/idx"); err != nil {
		t.Fatal(err)
	}
	_, err := Open(dir, Options{})
	var le *LockedError
	if !errors.Is(err, ErrLocked) || !errors.As(err, &le) {
		t.Fatalf("second Open = %v, want a *LockedError", err)
	}
	if le.Holder.PID != os.Getpid() || le.Holder.Mountpoint != "/mnt/idx" {
		t.Errorf("holder = %+v", le.Holder)
	}
	if want := fmt.Sprintf("pid %d (mounted at /mnt/idx)", os.Getpid()); !strings.Contains(err.Error(), want) {
		// Not matching on text for behaviour, only checking the message a user sees.
		t.Errorf("message %q does not name the holder", err)
	}
	if err := s.SetMountpoint(""); err != nil {
		t.Fatal(err)
	}
	if info, _ := ReadLockInfo(dir); info.Mountpoint != "" || info.PID != os.Getpid() {
		t.Errorf("after clearing: %+v", info)
	}
}

const lockHelperEnv = "IDXFS_INDEX_LOCK_HELPER_DIR"

// TestLockHelperProcess is not a test: run by TestSecondProcess in a child
// process, it holds a data dir until killed.
func TestLockHelperProcess(t *testing.T) {
	dir := os.Getenv(lockHelperEnv)
	if dir == "" {
		t.Skip("helper process only")
	}
	s, err := Open(dir, Options{})
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	if err := s.SetMountpoint("/mnt/idx"); err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	fmt.Println("ready")
	time.Sleep(time.Minute) // killed long before
	os.Exit(2)
}

func TestSecondProcess(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	s := openStore(t, dir)
	mustCreate(t, s, "a", "")
	s.Close()

	cmd := exec.Command(os.Args[0], "-test.run=^TestLockHelperProcess$")
	cmd.Env = append(os.Environ(), lockHelperEnv+"="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, _ := bufio.NewReader(out).ReadString('\n')
	if line != "ready\n" {
		t.Fatalf("helper said %q", line)
	}

	start := time.Now()
	_, err = Open(dir, Options{})
	if elapsed := time.Since(start); elapsed > 2*time.Second {
		t.Errorf("Open took %v; it must fail at once", elapsed)
	}
	var le *LockedError
	if !errors.As(err, &le) || !errors.Is(err, ErrLocked) {
		t.Fatalf("Open while another process holds the dir = %v", err)
	}
	if le.Holder.PID != cmd.Process.Pid || le.Holder.Mountpoint != "/mnt/idx" {
		t.Errorf("holder = %+v, want pid %d", le.Holder, cmd.Process.Pid)
	}
	t.Logf("error: %v", err)
	if !strings.Contains(err.Error(), fmt.Sprint(cmd.Process.Pid)) {
		t.Errorf("message %q does not name pid %d", err, cmd.Process.Pid)
	}

	// The kernel releases the flock when the holder dies.
	cmd.Process.Kill()
	cmd.Wait()
	s2, err := Open(dir, Options{})
	if err != nil {
		t.Fatalf("Open after the holder died: %v", err)
	}
	defer s2.Close()
	if info, _ := ReadLockInfo(dir); info.PID != os.Getpid() {
		t.Errorf("LOCK records %+v after takeover", info)
	}
	if !s2.Exists("a") {
		t.Error("index lost")
	}
}

func TestLockWaitGetsTheLockOnceFreed(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	s := openStore(t, dir)
	waiting := make(chan LockInfo, 1)
	opened := make(chan error, 1)
	go func() {
		s2, err := Open(dir, Options{LockWait: time.Minute, OnLockWait: func(h LockInfo, _ time.Duration) { waiting <- h }})
		if err == nil {
			err = s2.Close()
		}
		opened <- err
	}()
	if h := <-waiting; h.PID != os.Getpid() || h.Command == "" {
		t.Errorf("waiting for holder %+v, want pid %d and its command line", h, os.Getpid())
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-opened; err != nil {
		t.Fatalf("Open waiting for a lock that was freed: %v", err)
	}
}

func TestLockWaitGivesUp(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	openStore(t, dir)
	const wait = 200 * time.Millisecond
	told := 0
	start := time.Now()
	_, err := Open(dir, Options{LockWait: wait, OnLockWait: func(LockInfo, time.Duration) { told++ }})
	var le *LockedError
	if !errors.As(err, &le) {
		t.Fatalf("Open = %v, want a *LockedError", err)
	}
	if took := time.Since(start); took < wait || le.Waited < wait {
		t.Errorf("gave up after %v (Waited %v), want at least %v", took, le.Waited, wait)
	}
	if told != 1 {
		t.Errorf("OnLockWait called %d times, want 1", told)
	}
	if want := fmt.Sprintf("in use by pid %d, running: %s ", os.Getpid(), filepath.Base(os.Args[0])); !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "waited") {
		t.Errorf("message %q does not name the holder's pid and command and the wait", err)
	}
}

func TestLockWaitNotForAMount(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	s := openStore(t, dir)
	if err := s.SetMountpoint("/mnt/idx"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err := Open(dir, Options{LockWait: time.Minute, OnLockWait: func(LockInfo, time.Duration) { t.Error("waited for a mount") }})
	var le *LockedError
	if !errors.As(err, &le) || le.Holder.Mountpoint != "/mnt/idx" {
		t.Fatalf("Open = %v, want a *LockedError naming the mount", err)
	}
	if took := time.Since(start); took > 30*time.Second {
		t.Errorf("Open waited %v for a mounted data dir", took)
	}
}

func TestHeldBy(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	if _, held, err := HeldBy(dir); held || err != nil {
		t.Errorf("HeldBy(no data dir) = %v, %v", held, err)
	}
	s := openStore(t, dir)
	h, held, err := HeldBy(dir)
	if !held || err != nil || h.PID != os.Getpid() {
		t.Errorf("HeldBy(open) = %+v, %v, %v; want held by pid %d", h, held, err, os.Getpid())
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, held, err := HeldBy(dir); held || err != nil {
		t.Errorf("HeldBy(closed) = %v, %v", held, err)
	}
	if _, err := Open(dir, Options{}); err != nil {
		t.Errorf("Open after HeldBy: %v (HeldBy kept the lock)", err)
	}
}
