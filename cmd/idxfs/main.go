// Command idxfs owns a data dir of document indexes and exposes them as a
// FUSE filesystem; its subcommands do the same work without a mount.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/idxfs/idxfs/snapshot"
	"github.com/idxfs/idxfs/task"
)

func main() {
	sig, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	ctx, abort := context.WithCancelCause(sig)
	stderr := logStderr(os.Args, daemonStderr(os.Stderr))
	useForStdLog(stderr)
	g, err := parse(ctx, os.Args, os.Stdin, os.Stdout, stderr)
	if err == nil && g.work != nil {
		g.abort = abort
		if !g.daemon {
			go exitAfterGrace(ctx, g.opened, stderr)
		}
		err = g.work(ctx)
	}
	stop()
	if cause := context.Cause(ctx); err != nil && cause != nil && !errors.Is(cause, context.Canceled) {
		err = cause // a background error stopped the command
	}
	report(stderr, err)
	os.Exit(exitCode(err))
}

// A CLI command that SIGINT or SIGTERM (or a background error of its
// databases) stopped has stopGrace to end on its own (cancel its task,
// close the data dir) before the process exits anyway (issue 7: a command
// on a full disk ignored SIGTERM for ten minutes). Everything idxfs writes
// survives being stopped at any point, as after a crash. One exception
// waits longer: a document write in its second pass, which cannot be
// interrupted without leaving part of it applied, is given up to
// applyGrace to finish, unless a second signal comes. The mount has its
// own shutdown (--shutdown-grace).
const (
	stopGrace  = 2 * time.Second
	applyGrace = 60 * time.Second
)

// exitAfterGrace exits the process once ctx ended and the grace is over.
func exitAfterGrace(ctx context.Context, opened *openedStore, stderr io.Writer) {
	<-ctx.Done()
	again := make(chan os.Signal, 1)
	signal.Notify(again, os.Interrupt, syscall.SIGTERM)
	start := time.Now()
	told := false
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-again:
			exitNow(ctx, stderr)
		case <-tick.C:
		}
		waited := time.Since(start)
		if waited < stopGrace {
			continue
		}
		if waited < applyGrace && opened.applying() {
			if !told {
				told = true
				fmt.Fprintln(stderr, "idxfs: finishing the document write in progress (it cannot stop half way); Ctrl-C again to stop at once (it is then run again at the next start)")
			}
			continue
		}
		exitNow(ctx, stderr)
	}
}

func exitNow(ctx context.Context, stderr io.Writer) {
	err := context.Cause(ctx)
	if errors.Is(err, context.Canceled) {
		fmt.Fprintln(stderr, "idxfs: interrupted; stopped without waiting any longer (what was in progress resumes or is cleaned up at the next start)")
		os.Exit(exitInterrupted)
	}
	report(stderr, err)
	os.Exit(exitCode(err))
}

// report writes err, if any, as the one line a user sees on stderr.
// With --log-format json, the line is a JSON object (stderr.go).
func report(w io.Writer, err error) {
	tellParentFailed(err) // a background daemon's helper (daemon.go)
	if j, ok := w.(*jsonLines); ok && err != nil && !wantsJSON(os.Args[1:]) {
		j.logError(withHint(err), exitCode(err))
		return
	}
	reportError(w, err, wantsJSON(os.Args[1:]))
}

// cliMu serializes urfave/cli: on every run, cli v2 writes to its
// package-level help flag and help command, a data race when several
// command lines run at once in one process (as the tests do). Only parsing
// holds it: a command's action returns its work through later, and run does
// that work after cli returns.
var cliMu sync.Mutex

// run runs one command line. Tests call it directly.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	g, err := parse(ctx, args, stdin, stdout, stderr)
	if err != nil || g.work == nil {
		return err
	}
	return g.work(ctx)
}

// parse parses one command line; the work it asks for is g.work (nil for
// --help and the like, which parse already did).
func parse(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) (*globalOptions, error) {
	stderr = logStderr(args, stderr)
	g := &globalOptions{stdin: newCtxStdin(ctx, stdin), stdout: stdout, stderr: stderr, opened: &openedStore{}}
	app := newApp(g)
	app.Writer, app.ErrWriter = stdout, stderr
	args, helper, err := helperArgs(app, args) // idxfs DATA MNT -o OPTS (daemon.go)
	if err != nil {
		return nil, err
	}
	cmdline := args
	if args, err = normalizeArgs(app, args); err != nil {
		return nil, err
	}
	cliMu.Lock()
	err = app.RunContext(ctx, args)
	cliMu.Unlock()
	if err == nil && g.work != nil && helper != nil && !helper.foreground {
		g.work = background(cmdline, helper)
	}
	return g, err
}

// engineDefaults are the task engine's defaults, which the flags that set
// its options show (a flag left unset gives the engine its default).
var engineDefaults = func() task.Options {
	var o task.Options
	o.EnsureDefaults()
	return o
}()

func newApp(g *globalOptions) *cli.App {
	app := &cli.App{
		Name:  "idxfs",
		Usage: "back up, restore and move document indexes with cat, cp, mv, rsync and tar",
		Description: "idxfs owns a data dir of document indexes (one pebble database each).\n" +
			"Its commands work on the data dir directly; flags may come before or after arguments.",
		Version:                version(),
		HideVersion:            true, // --version is a flag of ours, like idxfs version
		UseShortOptionHandling: false,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "data-dir", Aliases: []string{"d"}, EnvVars: []string{"IDXFS_DATA_DIR"},
				Value: defaultDataDir(), Destination: &g.DataDir, Usage: "the data dir"},
			&cli.StringFlag{Name: "log-level", Value: "warn", DefaultText: "warn; mount: " + mountLogLevel, Destination: &g.LogLevel, Usage: "debug, info, warn or error"},
			&cli.StringFlag{Name: "log-format", Value: "text", Destination: &g.LogFormat, Usage: "text or json"},
			&cli.IntFlag{Name: "workers", Destination: &g.Workers, Usage: "tasks of different indexes run at once", DefaultText: "number of CPUs"},
			&cli.IntFlag{Name: "snapshot-keep", Value: engineDefaults.SnapshotKeep, Destination: &g.Keep, Usage: "completed snapshots kept per index"},
			&cli.IntFlag{Name: "compression-level", EnvVars: []string{"IDXFS_COMPRESSION_LEVEL"}, Value: snapshot.DefaultLevel, Destination: &g.Level,
				Usage: "gzip level of new snapshots, 1 (fastest) to 9 (smallest), or -2 (Huffman coding only)"},
			&cli.StringFlag{Name: "snapshot-bwlimit", EnvVars: []string{"IDXFS_SNAPSHOT_BWLIMIT"}, Destination: &g.BWLimit,
				Usage: "write snapshots at most this fast, per second (e.g. 50M), to spare a busy disk (default: no limit)"},
			&cli.DurationFlag{Name: "lock-wait", EnvVars: []string{"IDXFS_LOCK_WAIT"}, Value: defaultLockWait, Destination: &g.LockWait,
				Usage: "how long to wait for a data dir that another command holds (not a mount), then fail (exit 3); 0: fail at once"},
			&cli.BoolFlag{Name: "version", Usage: "print the version, as idxfs version does"},
		},
		Commands: []*cli.Command{
			indexCommand(g),
			documentsCommand(g),
			tasksCommand(g),
			snapshotCommand(g),
			mountCommand(g),
			unmountCommand(g),
			demoCommand(g),
			{
				Name:  "version",
				Usage: "print the version",
				Action: func(c *cli.Context) error {
					if _, err := args(c, 0, 0, ""); err != nil {
						return err
					}
					fmt.Fprintln(g.stdout, versionLine())
					return nil
				},
			},
		},
		// Every command checks these, also those that open no data dir.
		Before: func(c *cli.Context) error {
			if _, err := newLogger(io.Discard, g.LogLevel, g.LogFormat); err != nil {
				return err
			}
			return checkGlobals(c, g)
		},
		// Errors go back to main, which prints them and exits once.
		ExitErrHandler: func(*cli.Context, error) {},
		OnUsageError: func(c *cli.Context, err error, _ bool) error {
			return usageError{err.Error()}
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usageError{fmt.Sprintf("no command %q; see idxfs --help", c.Args().First())}
			}
			if c.Bool("version") {
				fmt.Fprintln(g.stdout, versionLine())
				return nil
			}
			return cli.ShowAppHelp(c)
		},
	}
	setUsageErrors(app.Commands, app.OnUsageError)
	return app
}

// setUsageErrors gives every command the app's usage-error handler (cli v2
// does not inherit it) and hides the help subcommand of leaf commands.
func setUsageErrors(cmds []*cli.Command, h cli.OnUsageErrorFunc) {
	for _, c := range cmds {
		c.OnUsageError = h
		if len(c.Subcommands) == 0 {
			c.HideHelpCommand = true
		} else if c.Action == nil {
			name := c.Name
			c.Action = func(c *cli.Context) error {
				if c.NArg() > 0 {
					return usageError{fmt.Sprintf("no command %q in idxfs %s; see idxfs %s --help", c.Args().First(), name, name)}
				}
				return cli.ShowSubcommandHelp(c)
			}
		}
		setUsageErrors(c.Subcommands, h)
	}
}

// args checks the number of positional arguments.
func args(c *cli.Context, min, max int, usage string) ([]string, error) {
	a := c.Args().Slice()
	if len(a) < min || (max >= 0 && len(a) > max) {
		return nil, usageError{strings.TrimSpace(fmt.Sprintf("usage: idxfs %s %s", commandPath(c), usage))}
	}
	return a, nil
}

// commandPath is the command's name with its parents', e.g. "index show".
func commandPath(c *cli.Context) string {
	var names []string
	for _, l := range c.Lineage() {
		// The app's own root command bears the app's name.
		if l.Command != nil && l.Command.Name != "" && l.Command.Name != c.App.Name {
			names = append([]string{l.Command.Name}, names...)
		}
	}
	return strings.Join(names, " ")
}
