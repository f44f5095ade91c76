package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/idxfs/idxfs/index"
	"github.com/idxfs/idxfs/snapshot"
	"github.com/idxfs/idxfs/task"
)

func snapshotCommand(g *globalOptions) *cli.Command {
	return &cli.Command{
		Name:  "snapshot",
		Usage: "create, import, verify, inspect and list single-index snapshots",
		Subcommands: []*cli.Command{
			{
				Name:      "create",
				Usage:     "snapshot an index into the snapshot store (prints the path), or to FILE or - (stdout)",
				ArgsUsage: "INDEX",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "also write the archive to `FILE` (- for stdout)"},
					noWaitFlag, jsonFlag,
				},
				Action: func(c *cli.Context) error {
					a, err := args(c, 1, 1, "INDEX [-o FILE|-]")
					if err != nil {
						return err
					}
					w, output := waitOpts(c), c.String("output")
					return g.later(func(ctx context.Context) error { return runSnapshotCreate(ctx, *g, w, a[0], output) })
				},
			},
			{
				Name:      "import",
				Usage:     "import an archive as an index (named as in the archive, or --as NAME)",
				ArgsUsage: "FILE|-",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "as", Usage: "the new index's `NAME` (default: the archive's index uid)"},
					noWaitFlag, jsonFlag,
				},
				Action: func(c *cli.Context) error {
					a, err := args(c, 1, 1, "FILE|- [--as NAME]")
					if err != nil {
						return err
					}
					w, as := waitOpts(c), c.String("as")
					return g.later(func(ctx context.Context) error { return runSnapshotImport(ctx, *g, w, a[0], as) })
				},
			},
			{
				Name:      "verify",
				Usage:     "read and check a whole archive, writing nothing",
				ArgsUsage: "FILE|-",
				Action: func(c *cli.Context) error {
					a, err := args(c, 1, 1, "FILE|-")
					if err != nil {
						return err
					}
					return g.later(func(ctx context.Context) error { return runSnapshotVerify(ctx, *g, a[0]) })
				},
			},
			{
				Name:      "inspect",
				Usage:     "print an archive's metadata (JSON)",
				ArgsUsage: "FILE|-",
				Action: func(c *cli.Context) error {
					a, err := args(c, 1, 1, "FILE|-")
					if err != nil {
						return err
					}
					return g.later(func(ctx context.Context) error { return runSnapshotInspect(ctx, *g, a[0]) })
				},
			},
			{
				Name:      "list",
				Usage:     "list the snapshots in the snapshot store",
				ArgsUsage: "[INDEX]",
				Flags:     []cli.Flag{jsonFlag},
				Action: func(c *cli.Context) error {
					a, err := args(c, 0, 1, "[INDEX]")
					if err != nil {
						return err
					}
					name := ""
					if len(a) == 1 {
						name = a[0]
					}
					asJSON := c.Bool("json")
					return g.later(func(ctx context.Context) error { return runSnapshotList(ctx, *g, name, asJSON) })
				},
			},
		},
	}
}

func runSnapshotCreate(ctx context.Context, g globalOptions, w waitOptions, idx, output string) error {
	if output != "" && w.NoWait {
		return usageError{"--output needs the snapshot: it cannot go with --no-wait"}
	}
	if !w.NoWait && (output != "" || !w.JSON) {
		// The path (or the archive) is the output; the outcome goes to
		// stderr. With --no-wait, the output is the task uid, as for
		// every other command.
		w.out = g.stderr
	}
	return withEnv(ctx, g, !w.NoWait, func(e *env) error {
		t, err := e.submit(ctx, w, task.Request{Kind: task.SingleIndexSnapshotCreation, IndexUID: idx})
		if err != nil || w.NoWait {
			return err
		}
		var d task.SnapshotCreationDetails
		if err := t.DecodeDetails(&d); err != nil {
			return err
		}
		switch output {
		case "":
			if !w.JSON {
				fmt.Fprintln(g.stdout, d.Path)
			}
			return nil
		case "-":
			return copyTo(g.stdout, d.Path)
		}
		return copyFileAtomic(ctx, d.Path, output)
	})
}

func copyTo(w io.Writer, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(w, f)
	return err
}

// copyFileAtomic copies src to dst through a temporary file in dst's
// directory: dst is either the whole archive or untouched.
func copyFileAtomic(ctx context.Context, src, dst string) (err error) {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp, err := os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".*")
	if err != nil {
		return fmt.Errorf("write %s: %w", dst, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err = io.Copy(tmp, ctxReader{ctx, in}); err != nil {
		return fmt.Errorf("write %s: %w", dst, err)
	}
	if err = tmp.Chmod(0o644); err != nil {
		return err
	}
	if err = tmp.Sync(); err != nil {
		return fmt.Errorf("write %s: %w", dst, err)
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", dst, err)
	}
	return os.Rename(tmp.Name(), dst)
}

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

func runSnapshotImport(ctx context.Context, g globalOptions, w waitOptions, file, as string) error {
	r := task.Request{Kind: task.SingleIndexSnapshotImport, NewIndexUID: as, SnapshotPath: file}
	if file == "-" {
		if w.NoWait {
			return usageError{"an import from stdin cannot go with --no-wait: the stream ends with this command"}
		}
		// The archive's own uid is in its first entry: read it, keeping
		// every byte read so that the import reads the stream whole.
		var seen bytes.Buffer
		md, err := snapshot.Inspect(io.TeeReader(g.stdin, &seen))
		if err != nil {
			return fmt.Errorf("import from stdin: %w", orInterrupted(ctx, err))
		}
		r.IndexUID = md.IndexUID
		r.SnapshotPath = "stdin"
		r.Stream = io.MultiReader(&seen, g.stdin)
	}
	return withEnv(ctx, g, !w.NoWait, func(e *env) error {
		_, err := e.submit(ctx, w, r)
		return err
	})
}

func openArchive(g globalOptions, file string) (io.Reader, func(), error) {
	if file == "-" {
		return g.stdin, func() {}, nil
	}
	f, err := os.Open(file)
	if err != nil {
		return nil, nil, err
	}
	return f, func() { f.Close() }, nil
}

// orInterrupted is ctx's error if ctx ended, else err: snapshot reports a
// read that Ctrl-C cut short as a corrupt archive.
func orInterrupted(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

func runSnapshotVerify(ctx context.Context, g globalOptions, file string) error {
	r, closeFn, err := openArchive(g, file)
	if err != nil {
		return err
	}
	defer closeFn()
	start := time.Now()
	md, err := snapshot.Verify(ctx, r, snapshot.ReadOptions{MaxPebbleFormat: index.MaxPebbleFormat()})
	if err != nil {
		return fmt.Errorf("verify %s: %w", file, orInterrupted(ctx, err))
	}
	var total int64
	for _, f := range md.Files {
		total += f.Size
	}
	fmt.Fprintf(g.stdout, "%s: ok: index %q, %d documents, index version %d, %d files, %s (%s)\n",
		file, md.IndexUID, md.Documents, md.IndexVersion, len(md.Files), bytesHuman(total), human(time.Since(start)))
	return nil
}

func runSnapshotInspect(ctx context.Context, g globalOptions, file string) error {
	r, closeFn, err := openArchive(g, file)
	if err != nil {
		return err
	}
	defer closeFn()
	md, err := snapshot.Inspect(r)
	if err != nil {
		return fmt.Errorf("inspect %s: %w", file, orInterrupted(ctx, err))
	}
	return printJSON(g.stdout, md)
}

func runSnapshotList(ctx context.Context, g globalOptions, idx string, asJSON bool) error {
	return withReadEnv(ctx, g, func(e *env) error {
		ss, err := e.engine.Snapshots(idx)
		if err != nil {
			return err
		}
		if asJSON {
			if ss == nil {
				ss = []task.StoredSnapshot{}
			}
			return printJSON(g.stdout, ss)
		}
		tw := tabwriter.NewWriter(g.stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "INDEX\tCREATED\tSIZE\tDOCUMENTS\tVERSION\tPATH")
		for _, s := range ss {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\n", s.IndexUID, s.CreatedAt.Local().Format("2006-01-02 15:04:05"),
				bytesHuman(s.Size), s.Documents, s.IndexVersion, s.Path)
		}
		return tw.Flush()
	})
}
