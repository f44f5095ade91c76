package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/idxfs/idxfs/task"
)

func tasksCommand(g *globalOptions) *cli.Command {
	uidAction := func(fn func(context.Context, globalOptions, uint64, bool) error) cli.ActionFunc {
		return func(c *cli.Context) error {
			a, err := args(c, 1, 1, "UID")
			if err != nil {
				return err
			}
			// Also the mount's file name, tasks/UID.json, as copied from ls.
			uid, err := task.ParseUID(strings.TrimSuffix(a[0], ".json"))
			if err != nil {
				return usageError{err.Error()}
			}
			asJSON := c.Bool("json")
			return g.later(func(ctx context.Context) error { return fn(ctx, *g, uid, asJSON) })
		}
	}
	return &cli.Command{
		Name:  "tasks",
		Usage: "list, show, cancel and wait for tasks",
		Subcommands: []*cli.Command{
			{
				Name:  "list",
				Usage: "list tasks, newest first",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "index", Usage: "only tasks of this index"},
					&cli.StringSliceFlag{Name: "status", Usage: "only tasks with this status (repeatable)"},
					&cli.StringSliceFlag{Name: "type", Usage: "only tasks of this type (repeatable)"},
					&cli.IntFlag{Name: "limit", Value: 20, Usage: "at most this many (0: all)"},
					jsonFlag,
				},
				Action: func(c *cli.Context) error {
					if _, err := args(c, 0, 0, "[--index NAME] [--status STATUS]... [--type TYPE]... [--limit N] [--json]"); err != nil {
						return err
					}
					f := task.Filter{IndexUID: c.String("index"), Limit: c.Int("limit")}
					for _, s := range c.StringSlice("status") {
						st, err := task.ParseStatus(s)
						if err != nil {
							return usageError{err.Error()}
						}
						f.Statuses = append(f.Statuses, st)
					}
					for _, s := range c.StringSlice("type") {
						k, err := task.ParseKind(s)
						if err != nil {
							return usageError{err.Error()}
						}
						f.Types = append(f.Types, k)
					}
					asJSON := c.Bool("json")
					return g.later(func(ctx context.Context) error { return runTasksList(ctx, *g, f, asJSON) })
				},
			},
			{Name: "show", Usage: "show one task", ArgsUsage: "UID", Flags: []cli.Flag{jsonFlag}, Action: uidAction(runTasksShow)},
			{Name: "cancel", Usage: "cancel an enqueued or processing task", ArgsUsage: "UID", Flags: []cli.Flag{jsonFlag}, Action: uidAction(runTasksCancel)},
			{Name: "wait", Usage: "run the queue until a task and those enqueued before it are finished, then show it", ArgsUsage: "UID", Flags: []cli.Flag{jsonFlag}, Action: uidAction(runTasksWait)},
		},
	}
}

func runTasksList(ctx context.Context, g globalOptions, f task.Filter, asJSON bool) error {
	return withReadBackend(ctx, g, func(b backend) error {
		ts, err := b.Tasks(f)
		if err != nil {
			return err
		}
		if asJSON {
			if ts == nil {
				ts = []task.Task{}
			}
			return printJSON(g.stdout, ts)
		}
		printTasks(g.stdout, ts)
		return nil
	})
}

func runTasksShow(ctx context.Context, g globalOptions, uid uint64, asJSON bool) error {
	return withReadBackend(ctx, g, func(b backend) error {
		t, err := b.Task(uid)
		if err != nil {
			return err
		}
		if asJSON {
			return printJSON(g.stdout, t)
		}
		printTask(g.stdout, t)
		return nil
	})
}

func runTasksCancel(ctx context.Context, g globalOptions, uid uint64, asJSON bool) error {
	return withBackend(ctx, g, false, false, func(b backend) error {
		t, err := b.Cancel(uid)
		if err != nil {
			return err
		}
		if asJSON {
			return printJSON(g.stdout, t)
		}
		fmt.Fprintf(g.stdout, "task %d %s\n", t.UID, t.Status)
		return nil
	})
}

func runTasksWait(ctx context.Context, g globalOptions, uid uint64, asJSON bool) error {
	return withBackend(ctx, g, true, false, func(b backend) error {
		t, err := b.Wait(ctx, waitOptions{JSON: asJSON}, uid)
		if !asJSON && t.UID != 0 && err != nil {
			printTask(g.stderr, t)
		}
		return err
	})
}
