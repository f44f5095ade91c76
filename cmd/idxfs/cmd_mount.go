package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/idxfs/idxfs/fs"
	"github.com/idxfs/idxfs/index"
)

// mountOptions are the flags of idxfs mount.
type mountOptions struct {
	Demo          bool
	AllowOther    bool
	ExactStat     bool
	ImportGrace   time.Duration
	ShutdownGrace time.Duration
	DebugFUSE     bool
	MetricsAddr   string
}

// mountLogLevel is the mount's default log level: a daemon says what it
// does. Other commands log at warn (the --log-level flag's default).
const mountLogLevel = "info"

// mountError is a mountpoint that cannot be used.
type mountError struct{ err error }

func (e mountError) Error() string { return e.err.Error() }
func (e mountError) Unwrap() error { return e.err }

func mountCommand(g *globalOptions) *cli.Command {
	return &cli.Command{
		Name:      "mount",
		Usage:     "serve the data dir as a FUSE filesystem in the foreground, until SIGINT/SIGTERM or umount",
		ArgsUsage: "[DATA_DIR] MOUNTPOINT",
		Description: "The mount: status, status.json, indexes/NAME/{snapshot.tar.gz,documents.ndjson,status,status.json},\n" +
			"import/, tasks/UID.json, snapshots/NAME/, backup/NAME.tar.gz. cat or cp indexes/NAME/snapshot.tar.gz\n" +
			"(or backup/NAME.tar.gz) to take a snapshot; cp an archive to import/NAME to import it, to\n" +
			"import/NAME.replace to replace index NAME; mkdir/rmdir in indexes/ to create/delete an index, mv to\n" +
			"rename it; rm snapshots/NAME/FILE deletes that stored snapshot.\n" +
			"Everything is owned by the user running idxfs, with modes that follow the data dir's: a new\n" +
			"data dir is 0700, so the mount is that user's alone; a data dir made 0750 (0755) lets its group\n" +
			"(everyone) list and read, never write. Root mounts directly; a normal user needs fusermount3.\n" +
			"Without DATA_DIR, the data dir is --data-dir's (or IDXFS_DATA_DIR, or the default); with --demo\n" +
			"and neither, a temporary one. The mount logs at info unless --log-level says otherwise (other\n" +
			"commands: warn). Under systemd (NOTIFY_SOCKET set) it reports READY=1 once the mount answers,\n" +
			"its tasks in flight as STATUS= and STOPPING=1 at shutdown (contrib/systemd/idxfs.service).\n" +
			"mount -t fuse.idxfs and fstab run idxfs DATA_DIR MOUNTPOINT -o OPTIONS, which mounts in the\n" +
			"background (options: README, Running as a service).",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "demo", Usage: "mount the embedded demo index (movies); without DATA_DIR, in a temporary data dir removed at exit"},
			&cli.BoolFlag{Name: "allow-other", Usage: "let other users use the mount (FUSE allow_other) as far as its modes allow, which the kernel then enforces (default_permissions): they read what the data dir's mode lets them, and change nothing"},
			&cli.BoolFlag{Name: "exact-stat", Usage: "make stat of a stale snapshot.tar.gz wait for a fresh snapshot (for tar); ls -l then snapshots every index"},
			&cli.DurationFlag{Name: "import-grace", Value: fs.DefaultImportGrace, Usage: "how long a committed import/NAME stays visible for cp -a, mv and rsync to set its attributes"},
			&cli.DurationFlag{Name: "shutdown-grace", Value: 10 * time.Second, Usage: "how long tasks in flight may finish at shutdown before they are canceled"},
			&cli.BoolFlag{Name: "debug-fuse", Usage: "log every FUSE request"},
			metricsFlag,
		},
		Action: func(c *cli.Context) error {
			o := mountOptions{
				Demo: c.Bool("demo"), AllowOther: c.Bool("allow-other"), ExactStat: c.Bool("exact-stat"),
				ImportGrace: c.Duration("import-grace"), ShutdownGrace: c.Duration("shutdown-grace"),
				DebugFUSE: c.Bool("debug-fuse"), MetricsAddr: c.String("metrics-addr"),
			}
			if o.ImportGrace <= 0 {
				return usageError{fmt.Sprintf("--import-grace %v: want a duration above 0 (e.g. 30s)", o.ImportGrace)}
			}
			if o.ShutdownGrace < 0 {
				return usageError{fmt.Sprintf("--shutdown-grace %v: want 0 (cancel tasks in flight at once) or more", o.ShutdownGrace)}
			}
			a, err := args(c, 1, 2, "[DATA_DIR] MOUNTPOINT")
			if err != nil {
				return err
			}
			g.daemon = true
			gg := *g
			if !c.IsSet("log-level") {
				gg.LogLevel = mountLogLevel // a daemon says what it does
			}
			mnt := a[len(a)-1]
			if len(a) == 2 {
				gg.DataDir = a[0]
			}
			// The data dir is DATA_DIR, else --data-dir or IDXFS_DATA_DIR,
			// else the default, as for every command; --demo alone mounts
			// a temporary one.
			if len(a) == 2 || !o.Demo || c.IsSet("data-dir") {
				return g.later(func(ctx context.Context) error { return runMount(ctx, gg, o, mnt) })
			}
			// --demo without a data dir: a temporary one, gone at exit.
			return g.later(func(ctx context.Context) error {
				d, err := os.MkdirTemp("", "idxfs-demo-")
				if err != nil {
					return err
				}
				defer os.RemoveAll(d)
				gg.DataDir = d
				return runMount(ctx, gg, o, mnt)
			})
		},
	}
}

func unmountCommand(g *globalOptions) *cli.Command {
	return &cli.Command{
		Name:      "unmount",
		Aliases:   []string{"umount"},
		Usage:     "unmount an idxfs mount; returns once its daemon has let go of the data dir",
		ArgsUsage: "MOUNTPOINT",
		Description: "After the unmount, the daemon lets tasks in flight finish (its --shutdown-grace) and closes\n" +
			"the data dir; idxfs unmount returns once it has, so that the next command can open the data dir.",
		Flags: []cli.Flag{
			&cli.DurationFlag{Name: "wait", Value: unmountWait, Usage: "how long to wait for the daemon to let go of the data dir, then fail (exit 3) naming it"},
		},
		Action: func(c *cli.Context) error {
			a, err := args(c, 1, 1, "MOUNTPOINT")
			if err != nil {
				return err
			}
			wait := c.Duration("wait")
			if wait < 0 {
				return usageError{fmt.Sprintf("--wait %v: want 0 (do not wait) or more", wait)}
			}
			return g.later(func(ctx context.Context) error { return runUnmount(ctx, a[0], wait) })
		},
	}
}

func runMount(ctx context.Context, g globalOptions, o mountOptions, mnt string) error {
	if o.Demo {
		if err := os.MkdirAll(mnt, 0o755); err != nil {
			return mountError{err}
		}
	}
	leaveRoomForRequests()
	// The mountpoint first: a mount that cannot mount must not open the
	// data dir (which empties tmp/) nor run the task queue.
	if g.DataDir != "" {
		if err := fs.CheckMountpoint(mnt, g.DataDir); err != nil {
			return mountError{err}
		}
	}
	e, err := openEnv(g, false)
	if err != nil {
		return err
	}
	defer e.store.Close()
	// stopEngine stops the engine of a start that failed, waiting no longer
	// than a shutdown would.
	stopEngine := func() {
		sctx, cancel := context.WithTimeout(context.Background(), o.ShutdownGrace)
		defer cancel()
		e.engine.Close(sctx)
	}
	stopMetrics, err := startMetrics(o.MetricsAddr, e, g.stdout)
	if err != nil {
		stopEngine()
		return err
	}
	defer stopMetrics()
	if o.Demo && !e.store.Exists(demoIndex) {
		e.engine.Start()
		quiet := *e
		quiet.g.stdout = g.stderr
		if err := loadDemo(ctx, &quiet); err != nil {
			stopEngine()
			return err
		}
	}
	srv, err := fs.Mount(mnt, fs.Options{
		Store: e.store, Engine: e.engine, Logger: e.log, Version: version(),
		AllowOther: o.AllowOther, ExactStat: o.ExactStat, ImportGrace: o.ImportGrace, Debug: o.DebugFUSE,
	})
	if err != nil {
		stopEngine()
		return mountError{mountHint(err)}
	}
	// Tasks run once the mount serves: enqueued ones (also those left by
	// --no-wait commands) and those the mount's users start.
	e.engine.Start()
	m := srv.Mountpoint()
	svc := serviceReady(e, m) // the mount answers once fs.Mount returned
	e.log.Info("serving", "path", m, "dataDir", e.store.Dir())
	fmt.Fprintf(g.stdout, "idxfs: %s mounted at %s (Ctrl-C or idxfs unmount %s to stop)\n", e.store.Dir(), m, m)
	if o.Demo {
		fmt.Fprintf(g.stdout, "\nTry, in another terminal:\n"+
			"  cat %[1]s/status\n"+
			"  cat %[1]s/indexes/movies/status\n"+
			"  cp %[1]s/indexes/movies/snapshot.tar.gz /tmp/movies.tar.gz    # makes a snapshot\n"+
			"  tar tzvf /tmp/movies.tar.gz | head\n"+
			"  cp /tmp/movies.tar.gz %[1]s/import/movies2                    # imports it as movies2\n"+
			"  ls -l %[1]s/indexes/ && head -2 %[1]s/indexes/movies2/documents.ndjson\n"+
			"  ls %[1]s/tasks/ && cat %[1]s/tasks/4.json\n", m)
	}

	served := make(chan struct{})
	go func() { srv.Wait(); close(served) }()
	why := "signal received"
	select {
	case <-ctx.Done():
	case <-served:
		why = "unmounted from outside"
		// LOCK no longer names the mount that is gone: a command started
		// while tasks in flight finish waits for the data dir (--lock-wait)
		// instead of being sent to the mountpoint.
		if err := e.store.SetMountpoint(""); err != nil {
			e.log.Warn("shutting down", "err", err)
		}
	}
	e.log.Info(why+": shutting down", "path", m)
	svc.stopping(why)
	return shutdown(e, srv, o.ShutdownGrace)
}

// shutdown lets tasks in flight finish for grace (cancelling them after,
// which also ends opens blocked on a snapshot), unmounts, and leaves the
// store for the caller to close.
func shutdown(e *env, srv *fs.Server, grace time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	e.engine.Close(ctx)
	if err := srv.Unmount(); err != nil {
		return err
	}
	e.log.Info("unmounted", "path", srv.Mountpoint())
	return nil
}

// mountHint adds what to do to a mount error a user can fix.
func mountHint(err error) error {
	if os.Geteuid() != 0 {
		if st, serr := os.Stat("/dev/fuse"); serr == nil && st.Mode().Perm()&0o006 != 0o006 {
			return fmt.Errorf("%w (/dev/fuse is mode %04o here: a normal user can mount only if it is 0666, as the fuse3 package's udev rule makes it; as root: chmod 0666 /dev/fuse)", err, st.Mode().Perm())
		}
	}
	if errors.Is(err, exec.ErrNotFound) || errors.Is(err, os.ErrNotExist) && os.Geteuid() != 0 {
		return fmt.Errorf("%w (mounting as a normal user needs fusermount3: apt-get install fuse3)", err)
	}
	if errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EACCES) {
		return fmt.Errorf("%w (is /dev/fuse usable by this user? fusermount3 from the fuse3 package mounts as a normal user)", err)
	}
	return err
}

// unmountWait is how long idxfs unmount waits by default for the daemon to
// let go of the data dir: longer than the mount's default --shutdown-grace
// (10s) and the close that follows it.
const unmountWait = 30 * time.Second

// runUnmount unmounts mnt, then waits up to wait for the daemon to release
// the data dir (issue 9: idxfs unmount M && idxfs index list found it in
// use for ~0.35 s).
func runUnmount(ctx context.Context, mnt string, wait time.Duration) error {
	abs, err := filepath.Abs(mnt)
	if err != nil {
		return err
	}
	// Which data dir and daemon, before the mount is gone: the mount's
	// source names the data dir, whose LOCK names the daemon.
	var daemon index.LockInfo
	dataDir := ""
	if src, _ := fs.MountSource(abs); strings.HasPrefix(src, "idxfs:") && wait > 0 {
		dataDir = strings.TrimPrefix(src, "idxfs:")
		daemon, _, _ = index.HeldBy(dataDir)
	}
	if err := unmount(abs); err != nil || dataDir == "" {
		return err
	}
	if err := waitReleased(ctx, dataDir, daemon, wait); err != nil {
		return fmt.Errorf("unmount %s: %w", abs, err)
	}
	return nil
}

// waitReleased waits until no process holds dataDir's LOCK, or another one
// than daemon does (a command took it the moment the daemon let go).
func waitReleased(ctx context.Context, dataDir string, daemon index.LockInfo, wait time.Duration) error {
	deadline := time.Now().Add(wait)
	for {
		holder, held, err := index.HeldBy(dataDir)
		if err != nil || !held || daemon.PID != 0 && holder.PID != 0 && holder.PID != daemon.PID {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("unmounted, but the daemon has not let go of the data dir after %v (tasks in flight may take its --shutdown-grace; idxfs unmount --wait waits longer): %w",
				wait, &index.LockedError{Dir: dataDir, Holder: holder})
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// unmount does the kernel's unmount of the idxfs mount at abs.
func unmount(abs string) error {
	if os.Geteuid() != 0 {
		// Without fusermount3 a normal user unmounts nothing: say so
		// first, whatever the path is.
		if _, err := exec.LookPath("fusermount3"); err != nil {
			return noFusermount(abs, err)
		}
	}
	if err := checkIdxfsMount(abs); err != nil {
		return err
	}
	if os.Geteuid() == 0 {
		if err := syscall.Unmount(abs, 0); err != nil {
			if errors.Is(err, syscall.EBUSY) {
				return mountError{fmt.Errorf("unmount %s: busy (a process has a file or directory of it open); umount -l %s detaches it anyway", abs, abs)}
			}
			return mountError{fmt.Errorf("unmount %s: %w", abs, err)}
		}
		return nil
	}
	out, err := exec.Command("fusermount3", "-u", abs).CombinedOutput()
	if errors.Is(err, exec.ErrNotFound) {
		return noFusermount(abs, err)
	}
	if err != nil {
		return mountError{fmt.Errorf("unmount %s: fusermount3: %s", abs, bytesTrim(out))}
	}
	return nil
}

func noFusermount(abs string, err error) error {
	return mountError{fmt.Errorf("unmount %s: %w (a normal user unmounts with fusermount3: apt-get install fuse3)", abs, err)}
}

func bytesTrim(b []byte) string {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == ' ') {
		b = b[:len(b)-1]
	}
	return string(b)
}
