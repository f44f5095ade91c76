package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/idxfs/idxfs/task"
)

func documentsCommand(g *globalOptions) *cli.Command {
	pkFlag := &cli.StringFlag{Name: "primary-key", Usage: "the primary key, if the index has none yet (default: inferred)"}
	write := func(replace bool) cli.ActionFunc {
		return func(c *cli.Context) error {
			a, err := args(c, 1, 2, "INDEX [FILE|-]")
			if err != nil {
				return err
			}
			file := "-"
			if len(a) == 2 {
				file = a[1]
			}
			w, pk := waitOpts(c), c.String("primary-key")
			return g.later(func(ctx context.Context) error {
				return runDocumentsWrite(ctx, *g, w, a[0], file, pk, replace)
			})
		}
	}
	return &cli.Command{
		Name:  "documents",
		Usage: "add, replace, export and delete documents",
		Subcommands: []*cli.Command{
			{
				Name:      "add",
				Usage:     "add documents, or update those with the same primary key (NDJSON or a JSON array)",
				ArgsUsage: "INDEX [FILE|-]",
				Flags:     []cli.Flag{pkFlag, noWaitFlag, jsonFlag},
				Action:    write(false),
			},
			{
				Name:      "replace",
				Usage:     "replace all documents of an index (NDJSON or a JSON array)",
				ArgsUsage: "INDEX [FILE|-]",
				Flags:     []cli.Flag{pkFlag, noWaitFlag, jsonFlag},
				Action:    write(true),
			},
			{
				Name:      "export",
				Usage:     "write every document as NDJSON to stdout, in primary-key order",
				ArgsUsage: "INDEX",
				Action: func(c *cli.Context) error {
					a, err := args(c, 1, 1, "INDEX")
					if err != nil {
						return err
					}
					return g.later(func(ctx context.Context) error { return runDocumentsExport(ctx, *g, a[0]) })
				},
			},
			{
				Name:      "get",
				Usage:     "print one document",
				ArgsUsage: "INDEX ID",
				Action: func(c *cli.Context) error {
					a, err := args(c, 2, 2, "INDEX ID")
					if err != nil {
						return err
					}
					return g.later(func(ctx context.Context) error { return runDocumentsGet(ctx, *g, a[0], a[1]) })
				},
			},
			{
				Name:      "delete",
				Usage:     "delete documents by id",
				ArgsUsage: "INDEX ID...",
				Flags:     []cli.Flag{noWaitFlag, jsonFlag},
				Action: func(c *cli.Context) error {
					a, err := args(c, 2, -1, "INDEX ID...")
					if err != nil {
						return err
					}
					w := waitOpts(c)
					return g.later(func(ctx context.Context) error { return runDocumentsDelete(ctx, *g, w, a[0], a[1:]) })
				},
			},
		},
	}
}

func runDocumentsWrite(ctx context.Context, g globalOptions, w waitOptions, idx, file, pk string, replace bool) error {
	var src io.Reader = g.stdin
	if file != "-" {
		f, err := os.Open(file)
		if err != nil {
			return err
		}
		defer f.Close()
		src = f
	}
	return withBackend(ctx, g, !w.NoWait, false, func(b backend) error {
		_, err := b.Submit(ctx, w, task.Request{
			Kind: task.DocumentAdditionOrUpdate, IndexUID: idx, PrimaryKey: pk,
			Documents: src, ReplaceAll: replace,
		})
		return err
	})
}

func runDocumentsExport(ctx context.Context, g globalOptions, idx string) error {
	return withReadBackend(ctx, g, func(b backend) error {
		bw := bufio.NewWriterSize(g.stdout, 1<<20)
		if err := b.Export(ctx, idx, bw); err != nil {
			return err
		}
		return bw.Flush()
	})
}

func runDocumentsGet(ctx context.Context, g globalOptions, idx, id string) error {
	return withReadBackend(ctx, g, func(b backend) error {
		doc, err := b.Document(ctx, idx, id)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(g.stdout, "%s\n", doc)
		return err
	})
}

func runDocumentsDelete(ctx context.Context, g globalOptions, w waitOptions, idx string, ids []string) error {
	return withBackend(ctx, g, !w.NoWait, false, func(b backend) error {
		_, err := b.Submit(ctx, w, task.Request{Kind: task.DocumentDeletion, IndexUID: idx, IDs: ids})
		return err
	})
}
