package main

import (
	"context"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/idxfs/idxfs/index"
	"github.com/idxfs/idxfs/snapshot"
	"github.com/idxfs/idxfs/task"
)

const (
	dataDirVersion = index.DataDirVersion
	archiveVersion = snapshot.FormatVersion
)

var (
	noWaitFlag = &cli.BoolFlag{Name: "no-wait", Usage: "print the task uid and return at once instead of waiting for the task"}
	jsonFlag   = &cli.BoolFlag{Name: "json", Usage: "print JSON"}
)

func waitOpts(c *cli.Context) waitOptions {
	return waitOptions{NoWait: c.Bool("no-wait"), JSON: c.Bool("json")}
}

func indexCommand(g *globalOptions) *cli.Command {
	return &cli.Command{
		Name:  "index",
		Usage: "create, list, show, delete, rename and swap indexes",
		Subcommands: []*cli.Command{
			{
				Name:      "create",
				Usage:     "create an index",
				ArgsUsage: "NAME",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "primary-key", Usage: "the primary key field (default: inferred at the first addition)"},
					noWaitFlag, jsonFlag,
				},
				Action: func(c *cli.Context) error {
					a, err := args(c, 1, 1, "NAME [--primary-key FIELD]")
					if err != nil {
						return err
					}
					w, pk := waitOpts(c), c.String("primary-key")
					return g.later(func(ctx context.Context) error { return runIndexCreate(ctx, *g, w, a[0], pk) })
				},
			},
			{
				Name:  "list",
				Usage: "list the indexes",
				Flags: []cli.Flag{jsonFlag},
				Action: func(c *cli.Context) error {
					if _, err := args(c, 0, 0, "[--json]"); err != nil {
						return err
					}
					asJSON := c.Bool("json")
					return g.later(func(ctx context.Context) error { return runIndexList(ctx, *g, asJSON) })
				},
			},
			{
				Name:      "show",
				Usage:     "show one index",
				ArgsUsage: "NAME",
				Flags:     []cli.Flag{jsonFlag},
				Action: func(c *cli.Context) error {
					a, err := args(c, 1, 1, "NAME")
					if err != nil {
						return err
					}
					asJSON := c.Bool("json")
					return g.later(func(ctx context.Context) error { return runIndexShow(ctx, *g, a[0], asJSON) })
				},
			},
			{
				Name:      "delete",
				Usage:     "delete an index and its documents (its stored snapshots stay)",
				ArgsUsage: "NAME",
				Flags:     []cli.Flag{noWaitFlag, jsonFlag},
				Action: func(c *cli.Context) error {
					a, err := args(c, 1, 1, "NAME")
					if err != nil {
						return err
					}
					w := waitOpts(c)
					return g.later(func(ctx context.Context) error { return runIndexDelete(ctx, *g, w, a[0]) })
				},
			},
			{
				Name:  "rename",
				Usage: "rename an index (NEW must not exist)",
				Description: "Renames in one step: readers of OLD find it until the rename, and NEW right after.\n" +
					"To put an index in place of one that exists, use 'idxfs index swap', then delete the other.",
				ArgsUsage: "OLD NEW",
				Flags:     []cli.Flag{noWaitFlag, jsonFlag},
				Action: func(c *cli.Context) error {
					a, err := args(c, 2, 2, "OLD NEW")
					if err != nil {
						return err
					}
					w := waitOpts(c)
					return g.later(func(ctx context.Context) error { return runIndexRemap(ctx, *g, w, task.IndexRename, a[0], a[1]) })
				},
			},
			{
				Name:  "swap",
				Usage: "exchange the contents of two indexes",
				Description: "Swaps in one step: A then holds what B held and B what A held; readers of either\n" +
					"name never find it missing. To replace an index by an archive, see 'idxfs snapshot import --replace'.",
				ArgsUsage: "A B",
				Flags:     []cli.Flag{noWaitFlag, jsonFlag},
				Action: func(c *cli.Context) error {
					a, err := args(c, 2, 2, "A B")
					if err != nil {
						return err
					}
					w := waitOpts(c)
					return g.later(func(ctx context.Context) error { return runIndexRemap(ctx, *g, w, task.IndexSwap, a[0], a[1]) })
				},
			},
		},
	}
}

func runIndexCreate(ctx context.Context, g globalOptions, w waitOptions, name, pk string) error {
	return withBackend(ctx, g, !w.NoWait, false, func(b backend) error {
		_, err := b.Submit(ctx, w, task.Request{Kind: task.IndexCreation, IndexUID: name, PrimaryKey: pk})
		return err
	})
}

func runIndexDelete(ctx context.Context, g globalOptions, w waitOptions, name string) error {
	return withBackend(ctx, g, !w.NoWait, false, func(b backend) error {
		_, err := b.Submit(ctx, w, task.Request{Kind: task.IndexDeletion, IndexUID: name})
		return err
	})
}

// runIndexRemap runs an indexRename or an indexSwap of a and b.
func runIndexRemap(ctx context.Context, g globalOptions, w waitOptions, kind task.Kind, a, b string) error {
	return withBackend(ctx, g, !w.NoWait, false, func(be backend) error {
		_, err := be.Submit(ctx, w, task.Request{Kind: kind, IndexUID: a, NewIndexUID: b})
		if kind == task.IndexRename && isCode(err, task.CodeIndexAlreadyExists) {
			return fmt.Errorf("%w (to put %q in its place: idxfs index swap %s %s, then idxfs index delete %s)", err, a, a, b, a)
		}
		return err
	})
}

// isCode reports whether err is classified as code.
func isCode(err error, code string) bool {
	return err != nil && task.Classify(err).Code == code
}

func runIndexList(ctx context.Context, g globalOptions, asJSON bool) error {
	return withReadBackend(ctx, g, func(b backend) error {
		ins, err := b.Indexes(ctx)
		if err != nil {
			return err
		}
		if asJSON {
			if ins == nil {
				ins = []index.Info{}
			}
			return printJSON(g.stdout, ins)
		}
		printIndexes(g.stdout, ins)
		return nil
	})
}

func runIndexShow(ctx context.Context, g globalOptions, name string, asJSON bool) error {
	return withReadBackend(ctx, g, func(b backend) error {
		in, err := b.Index(ctx, name)
		if err != nil {
			return err
		}
		if asJSON {
			return printJSON(g.stdout, in)
		}
		printIndex(g.stdout, in)
		return nil
	})
}
