package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/idxfs/idxfs/cmd/idxfs/progress"
	"github.com/urfave/cli/v2"

	"github.com/idxfs/idxfs/index"
	"github.com/idxfs/idxfs/snapshot"
	"github.com/idxfs/idxfs/task"
)

// globalOptions are the flags every command takes.
type globalOptions struct {
	DataDir   string
	LogLevel  string
	LogFormat string
	Workers   int
	Keep      int
	Level     int
	BWLimit   string
	LockWait  time.Duration

	stdout io.Writer
	stderr io.Writer
	stdin  io.Reader

	// work is what the command line asks for, set by its action (later).
	work func(context.Context) error
	// daemon: the command is the mount, which shuts down on its own terms
	// (main gives other commands a short grace after a signal).
	daemon bool
	// abort, if set, stops the command with a cause (main sets it): a
	// background error of the data dir's databases calls it.
	abort context.CancelCauseFunc
	// opened is the data dir the command opened, for main's stop
	// (shared by the copies of globalOptions; nil in tests).
	opened *openedStore
}

// openedStore is the store a command opened, if any.
type openedStore struct {
	mu    sync.Mutex
	store *index.Store
}

// applying reports whether a document write is in its second pass.
func (o *openedStore) applying() bool {
	if o == nil {
		return false
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.store != nil && o.store.Applying() > 0
}

func (o *openedStore) set(st *index.Store) {
	if o != nil {
		o.mu.Lock()
		o.store = st
		o.mu.Unlock()
	}
}

// later records the work of the command being parsed; run does it once
// the command line is parsed.
func (g *globalOptions) later(work func(context.Context) error) error {
	g.work = work
	return nil
}

// defaultDataDir is $XDG_DATA_HOME/idxfs, else ~/.local/share/idxfs.
func defaultDataDir() string {
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "idxfs")
	}
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".local", "share", "idxfs")
	}
	return "idxfs-data"
}

// newLogger builds the one slog handler of the process.
func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, usageError{fmt.Sprintf("--log-level %q: want debug, info, warn or error", level)}
	}
	o := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text", "":
		return slog.New(slog.NewTextHandler(w, o)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, o)), nil
	}
	return nil, usageError{fmt.Sprintf("--log-format %q: want text or json", format)}
}

// defaultLockWait is --lock-wait's default: a command started while
// another holds the data dir (cron beside an admin) waits that long.
const defaultLockWait = 5 * time.Second

// checkGlobals refuses a global flag given a value out of its range: a
// value the libraries would silently replace by their default is a usage
// error naming the flag (the defaults themselves stay in task.Options).
func checkGlobals(c *cli.Context, g *globalOptions) error {
	if c.IsSet("workers") && g.Workers < 1 {
		return usageError{fmt.Sprintf("--workers %d: want 1 or more (default: the number of CPUs)", g.Workers)}
	}
	if g.LockWait < 0 {
		return usageError{fmt.Sprintf("--lock-wait %v: want 0 (fail at once) or more (default: %v)", g.LockWait, defaultLockWait)}
	}
	if g.Keep < 1 {
		return usageError{fmt.Sprintf("--snapshot-keep %d: want 1 or more (default: %d)", g.Keep, engineDefaults.SnapshotKeep)}
	}
	return nil
}

// env is an open data dir: the store and its task engine.
type env struct {
	g      globalOptions
	log    *slog.Logger
	store  *index.Store
	engine *task.Engine
}

// openEnv opens the data dir. With run, the scheduler starts: enqueued tasks
// (also those left by earlier --no-wait commands) run while the command
// does.
func openEnv(g globalOptions, run bool) (*env, error) { return openEnvMode(g, run, false) }

// openEnvMode is openEnv; with readOnly (commands that only read), nothing
// in the data dir is written: no recovery, no tmp/ cleanup, no pebble
// flush; a data dir that does not exist is an error (nothing is created),
// one without its layout yet gets it as for any command.
func openEnvMode(g globalOptions, run, readOnly bool) (*env, error) {
	g.stderr = progress.NewStderr(g.stderr) // log lines print above a progress bar
	log, err := newLogger(g.stderr, g.LogLevel, g.LogFormat)
	if err != nil {
		return nil, err
	}
	if !snapshot.ValidLevel(g.Level) {
		return nil, usageError{fmt.Sprintf("--compression-level %d: want 1 (fastest) to 9 (smallest), or -2 (Huffman coding only)", g.Level)}
	}
	if g.DataDir == "" {
		return nil, usageError{"no data dir: give --data-dir or set IDXFS_DATA_DIR"}
	}
	rate, err := parseSize(g.BWLimit)
	if err != nil {
		return nil, usageError{fmt.Sprintf("--snapshot-bwlimit %q: %v", g.BWLimit, err)}
	}
	opts := index.Options{Logger: log, ReadOnly: readOnly, LockWait: g.LockWait, OnLockWait: func(h index.LockInfo, wait time.Duration) {
		dir, _ := filepath.Abs(g.DataDir) // as the error names it
		fmt.Fprintf(g.stderr, "idxfs: %v; waiting up to %v for it (--lock-wait)\n", &index.LockedError{Dir: dir, Holder: h}, wait)
	}}
	if g.abort != nil && !g.daemon {
		opts.OnBackgroundError = func(err error) {
			g.abort(fmt.Errorf("data dir %s: stopped by an error of its database: %w", g.DataDir, err))
		}
	}
	if _, serr := os.Stat(g.DataDir); readOnly && errors.Is(serr, fs.ErrNotExist) {
		return nil, noDataDir(g.DataDir) // a reading command creates none
	}
	st, err := index.Open(g.DataDir, opts)
	if readOnly && errors.Is(err, fs.ErrNotExist) {
		opts.ReadOnly = false
		st, err = index.Open(g.DataDir, opts)
	}
	if err != nil {
		return nil, err
	}
	g.opened.set(st)
	eng, err := task.Open(task.Options{
		Store: st, Logger: log, Workers: g.Workers, SnapshotKeep: g.Keep, Version: version(),
		Archive: snapshot.WriteOptions{Level: g.Level, Concurrency: cores}, SnapshotRateLimit: rate,
		ImportConcurrency: cores,
	})
	if err != nil {
		st.Close()
		return nil, err
	}
	if run {
		eng.Start()
	}
	return &env{g: g, log: log, store: st, engine: eng}, nil
}

// close lets tasks still processing (other indexes' tasks that ran while
// the command waited) finish, then closes the store. If the command was
// interrupted, or a signal comes while close waits, or ten minutes pass,
// they are stopped instead (a document task goes back to the queue, others
// fail as interrupted).
func (e *env) close(cmdCtx context.Context) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if cmdCtx.Err() != nil {
		cancel()
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	if n := len(e.engine.List(task.Filter{Statuses: []task.Status{task.Processing}})); n > 0 && ctx.Err() == nil && !e.store.ReadOnly() {
		fmt.Fprintf(e.g.stderr, "idxfs: waiting for %s in flight to finish (Ctrl-C stops them)\n", task.Count(n, "task"))
	}
	e.engine.Close(ctx)
	return e.store.Close()
}

// withEnv opens the data dir, runs fn and closes the data dir.
func withEnv(ctx context.Context, g globalOptions, run bool, fn func(*env) error) error {
	return withEnvMode(ctx, g, run, false, fn)
}

// withReadEnv is withEnv for commands that only read: the data dir is
// opened read-only (issue 7: a reading command on a full disk must not
// write).
func withReadEnv(ctx context.Context, g globalOptions, fn func(*env) error) error {
	return withEnvMode(ctx, g, false, true, fn)
}

func withEnvMode(ctx context.Context, g globalOptions, run, readOnly bool, fn func(*env) error) error {
	e, err := openEnvMode(g, run, readOnly)
	if err != nil {
		return err
	}
	err = fn(e)
	if cerr := e.close(ctx); err == nil {
		err = cerr
	}
	return err
}

// waitOptions are the flags of commands that enqueue a task.
type waitOptions struct {
	NoWait bool
	JSON   bool
	out    io.Writer // where the outcome goes; default: stdout
}

func (w waitOptions) writer(g globalOptions) io.Writer {
	if w.out != nil {
		return w.out
	}
	return g.stdout
}

// submit enqueues r and, unless NoWait, waits for it and reports how it
// ended. If ctx ends while waiting (Ctrl-C), the task is canceled: a
// foreground command that the user stops should leave nothing running.
func (e *env) submit(ctx context.Context, w waitOptions, r task.Request) (task.Task, error) {
	t, err := e.engine.Enqueue(ctx, r)
	if err != nil {
		return t, err
	}
	if w.NoWait {
		return enqueued(e.g, w, t)
	}
	return e.wait(ctx, w, t.UID)
}

// wait waits for task uid, prints it and turns its failure into an error.
// While it waits, the task's progress shows as a bar on a terminal, or as
// JSON status lines with --json (package progress).
func (e *env) wait(ctx context.Context, w waitOptions, uid uint64) (task.Task, error) {
	t, err := e.waitShowing(ctx, w, uid)
	if err != nil {
		if ctx.Err() != nil {
			if _, cerr := e.engine.Cancel(uid); cerr == nil {
				t, _ = e.engine.Wait(context.Background(), uid)
				fmt.Fprintf(e.g.stderr, "interrupted: task %d %s\n", uid, t.Status)
			}
		}
		return t, err
	}
	return outcome(e.g, w, t)
}

// waitShowing is engine.Wait with the progress display on: fed by the
// engine's live view of the task, and gone before the outcome is printed.
func (e *env) waitShowing(ctx context.Context, w waitOptions, uid uint64) (task.Task, error) {
	return showing(e.g, w, func() (task.Task, error) { return e.engine.Get(uid) },
		func() (task.Task, error) { return e.engine.Wait(ctx, uid) })
}

func itoa(u uint64) string { return strconv.FormatUint(u, 10) }

// parseSize reads a byte count with an optional binary suffix: 512K, 50M,
// 1G (or KiB, MiB, GiB). "" and "0" mean none.
func parseSize(s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	t := strings.TrimSuffix(strings.TrimSuffix(strings.ToUpper(strings.TrimSpace(s)), "B"), "I")
	mult := int64(1)
	if n := len(t); n > 0 {
		switch t[n-1] {
		case 'K':
			mult, t = 1<<10, t[:n-1]
		case 'M':
			mult, t = 1<<20, t[:n-1]
		case 'G':
			mult, t = 1<<30, t[:n-1]
		}
	}
	v, err := strconv.ParseFloat(t, 64)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("want a size like 512K, 50M or 1G")
	}
	return int64(v * float64(mult)), nil
}
