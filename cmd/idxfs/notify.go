package main

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"

	"github.com/idxfs/idxfs/task"
)

// The mount speaks systemd's notify protocol (sd_notify(3)) when
// NOTIFY_SOCKET is set, as under a Type=notify unit: READY=1 once the mount
// answers, a STATUS= line with the tasks in flight whenever they change
// (checked every statusInterval), and STOPPING=1 when it starts to shut
// down. Without NOTIFY_SOCKET every call is a no-op.
const statusInterval = time.Second

// service is the mount's notifier.
type service struct {
	e    *env
	mnt  string
	on   bool
	stop chan struct{}
	done sync.WaitGroup
	last string
}

// serviceReady tells systemd that the mount is ready (READY=1 with a first
// STATUS=) and the helper that started this daemon in the background, if
// one did (daemon.go); then it reports the tasks in flight. It is called
// once fs.Mount returned, and that is when the mount answers: fs.Mount
// returns after go-fuse's WaitMount, whose poll hack opens a file of the
// new mount through the kernel from the mounting goroutine (never a FUSE
// callback), which the serving goroutines answer like any client's. A stat
// of our own here would add nothing but a hazard: its answer would put the
// root's attributes in the kernel's cache, so that a stat right after the
// daemon is killed would succeed instead of failing with ENOTCONN.
func serviceReady(e *env, mnt string) *service {
	s := &service{e: e, mnt: mnt, on: os.Getenv("NOTIFY_SOCKET") != "", stop: make(chan struct{})}
	s.last = s.status()
	s.notify(daemon.SdNotifyReady + "\nSTATUS=" + s.last)
	tellParentReady()
	if s.on {
		s.done.Add(1)
		go s.report()
	}
	return s
}

// report sends STATUS= when the tasks in flight change.
func (s *service) report() {
	defer s.done.Done()
	tick := time.NewTicker(statusInterval)
	defer tick.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-tick.C:
		}
		if st := s.status(); st != s.last {
			s.last = st
			s.notify("STATUS=" + st)
		}
	}
}

// stopping tells systemd the mount is shutting down.
func (s *service) stopping(why string) {
	close(s.stop)
	s.done.Wait()
	s.notify(daemon.SdNotifyStopping + "\nSTATUS=shutting down (" + why + ")")
}

func (s *service) notify(state string) {
	if !s.on {
		return
	}
	if _, err := daemon.SdNotify(false, state); err != nil {
		s.e.log.Warn("systemd notify", "err", err)
	}
}

// status is one line: the mountpoint and the tasks in flight, e.g.
// "serving /srv/idx: 1 processing (snapshotCreation of movies 40%), 2 enqueued".
func (s *service) status() string {
	processing := s.e.engine.List(task.Filter{Statuses: []task.Status{task.Processing}})
	enqueued := s.e.engine.List(task.Filter{Statuses: []task.Status{task.Enqueued}})
	if len(processing) == 0 && len(enqueued) == 0 {
		return "serving " + s.mnt + ": no tasks in flight"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "serving %s: %d processing", s.mnt, len(processing))
	for i, t := range processing {
		if i == 0 {
			b.WriteString(" (")
		} else {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s of %s", t.Type, t.IndexUID)
		if t.Progress != nil {
			fmt.Fprintf(&b, " %.0f%%", t.Progress.Percentage)
		}
		if i == len(processing)-1 {
			b.WriteString(")")
		}
	}
	fmt.Fprintf(&b, ", %d enqueued", len(enqueued))
	return b.String()
}
