package main

import (
	"context"
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

// serviceReady waits until the mount answers a stat through the kernel,
// then tells systemd (READY=1 with a first STATUS=) and the parent of a
// mount started in the background (daemon.go), and starts reporting the
// tasks in flight. The stat runs in its own goroutine, never in a FUSE
// callback: like go-fuse's WaitMount, it is a client of the mount that the
// serving goroutines answer. fs.Mount has already made one round trip (the
// WaitMount poll hack); the stat makes sure of the mountpoint's root itself.
func serviceReady(ctx context.Context, e *env, mnt string) (*service, error) {
	s := &service{e: e, mnt: mnt, on: os.Getenv("NOTIFY_SOCKET") != "", stop: make(chan struct{})}
	answered := make(chan error, 1)
	go func() {
		_, err := os.Stat(mnt)
		answered <- err
	}()
	select {
	case err := <-answered:
		if err != nil {
			return nil, mountError{fmt.Errorf("mounted at %s, but it does not answer: %w", mnt, err)}
		}
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
	s.last = s.status()
	s.notify(daemon.SdNotifyReady + "\nSTATUS=" + s.last)
	tellParentReady()
	if s.on {
		s.done.Add(1)
		go s.report()
	}
	return s, nil
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
