package mount

import (
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// devLog is where syslog(3) and Go's log/syslog send their messages.
const devLog = "/dev/log"

// syslogSink is a unixgram socket at /dev/log made for a test's duration,
// holding every message it receives.
type syslogSink struct {
	mu   sync.Mutex
	msgs []string
}

func (s *syslogSink) has(f func(string) bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range s.msgs {
		if f(m) {
			return true
		}
	}
	return false
}

func (s *syslogSink) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Join(s.msgs, "\n")
}

// listenDevLog makes /dev/log a socket of t's until t ends, then removes it
// (if it is still the one made here). It skips t if /dev/log exists: a
// syslog daemon's, or another test's.
func listenDevLog(t *testing.T) *syslogSink {
	t.Helper()
	if fi, err := os.Lstat(devLog); err == nil {
		// Not a missing tool (IDXFS_REQUIRE_FUSE does not fail it): the
		// machine has a syslog, which this test cannot read.
		t.Skipf("%s exists (%v) and is not this test's: the daemon's lines go to that syslog", devLog, fi.Mode())
	}
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: devLog, Net: "unixgram"})
	if err != nil {
		t.Skipf("cannot make %s (another test's, made meanwhile?): %v", devLog, err)
	}
	fi, err := os.Lstat(devLog)
	if err != nil {
		conn.Close()
		t.Fatal(err)
	}
	ino := fi.Sys().(*syscall.Stat_t).Ino
	s := &syslogSink{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 64<<10)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				return
			}
			s.mu.Lock()
			s.msgs = append(s.msgs, string(buf[:n]))
			s.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		if fi, err := os.Lstat(devLog); err == nil && fi.Sys().(*syscall.Stat_t).Ino == ino {
			os.Remove(devLog)
		}
		conn.Close()
		<-done
	})
	return s
}

// TestHelperLogsToSyslog: the mount helper's form (what mount.fuse3 runs
// for mount -t fuse.idxfs) without log_file= starts a background daemon
// that logs to syslog: its lines arrive at /dev/log as LOG_DAEMON|LOG_INFO
// messages tagged idxfs[PID], from the mount to the unmount. The machine
// has no syslog, so the test listens at /dev/log itself for its duration.
func TestHelperLogsToSyslog(t *testing.T) {
	requireFUSE(t)
	if os.Geteuid() != 0 {
		skip(t, "making %s needs root", devLog)
	}
	s := listenDevLog(t)
	e := newEnv(t, map[string]int{"films": 2})
	r := run(t, nil, bin, e.data, e.mnt, "-o", "rw,dev,suid")
	if r.code != 0 {
		t.Fatalf("%s %s %s -o rw,dev,suid: %v", bin, e.data, e.mnt, r)
	}
	pid := readLock(t, e.data).PID
	if pid == 0 {
		t.Fatal("no daemon pid in LOCK")
	}
	t.Cleanup(func() {
		if isMounted(e.mnt) {
			run(t, nil, "umount", e.mnt)
		}
	})
	// <30>: LOG_DAEMON (3<<3) | LOG_INFO (6).
	prefix := "<30>"
	tag := fmt.Sprintf(" idxfs[%d]: ", pid)
	line := func(words ...string) func(string) bool {
		return func(m string) bool {
			if !strings.HasPrefix(m, prefix) || !strings.Contains(m, tag) {
				return false
			}
			for _, w := range words {
				if !strings.Contains(m, w) {
					return false
				}
			}
			return true
		}
	}
	waitFor := func(what string, f func(string) bool) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for !s.has(f) {
			if time.Now().After(deadline) {
				t.Fatalf("no syslog message of the daemon with %s; %s received:\n%s", what, devLog, s)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitFor("msg=mounted", line("level=INFO", "msg=mounted", "path="+e.mnt))
	if r := run(t, nil, "umount", e.mnt); r.code != 0 {
		t.Fatalf("umount: %v", r)
	}
	until(t, time.Minute, "the daemon to exit after umount", func() bool { return gone(pid) })
	waitFor("msg=unmounted", line("msg=unmounted"))
	waitFor(`msg="data dir closed"`, line(`msg="data dir closed"`, "path="+e.data))
}
