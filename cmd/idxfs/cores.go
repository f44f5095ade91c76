package main

import (
	"os"
	"runtime"
)

// cores is how many goroutines compress or inflate an archive at once: the
// CPUs the Go runtime found at start (GOMAXPROCS, which follows the
// process's CPU affinity and cgroup limit).
var cores = runtime.GOMAXPROCS(0)

// fuseHeadroom is how many more Ps than cores the mount runs with.
const fuseHeadroom = 2

// leaveRoomForRequests lets the goroutines that serve FUSE requests run
// while every core compresses or inflates an archive: with GOMAXPROCS =
// cores, the thread that read a request from /dev/fuse waits for a P
// until the scheduler preempts a worker, and a cp into import/ took
// 1.23-1.31x the time of the same import by the CLI at the same CPU time
// (1.02-1.07x with the headroom; docs/DESIGN-NOTES.md). With headroom Ps
// the kernel shares the cores between the workers and a woken request
// thread at once; the archive workers stay `cores` (env.go). An explicit
// GOMAXPROCS in the environment is left as it is.
func leaveRoomForRequests() {
	if os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(cores + fuseHeadroom)
	}
}
