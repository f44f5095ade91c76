package main

import (
	"runtime"
	"testing"
)

// TestLeaveRoomForRequests: the mount runs with more Ps than archive
// workers, unless GOMAXPROCS is given.
func TestLeaveRoomForRequests(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	t.Setenv("GOMAXPROCS", "")
	leaveRoomForRequests()
	if got := runtime.GOMAXPROCS(0); got != cores+fuseHeadroom {
		t.Errorf("GOMAXPROCS %d, want %d cores + %d", got, cores, fuseHeadroom)
	}
	runtime.GOMAXPROCS(1)
	t.Setenv("GOMAXPROCS", "1")
	leaveRoomForRequests()
	if got := runtime.GOMAXPROCS(0); got != 1 {
		t.Errorf("GOMAXPROCS %d with GOMAXPROCS=1 in the environment, want 1", got)
	}
}
