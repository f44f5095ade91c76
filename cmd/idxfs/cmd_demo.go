package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	_ "embed"
	"fmt"
	"io"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/idxfs/idxfs/task"
)

// demoMovies is the demo data set: 4,000 movies as gzipped NDJSON, written
// by scripts/gendemo from a fixed seed.
//
//go:generate go run ../../scripts/gendemo -n 4000 -o demo/movies.ndjson.gz
//go:embed demo/movies.ndjson.gz
var demoMovies []byte

// demoIndex is the name of the demo index.
const demoIndex = "movies"

func demoCommand(g *globalOptions) *cli.Command {
	return &cli.Command{
		Name:  "demo",
		Usage: "load the embedded demo index (4,000 movies) into a fresh data dir and show it",
		Description: "Without --data-dir, the demo uses a new temporary data dir and prints its path,\n" +
			"so that the commands it suggests can be tried on it.",
		Action: func(c *cli.Context) error {
			if _, err := args(c, 0, 0, "[--data-dir DIR]"); err != nil {
				return err
			}
			dir := ""
			if c.IsSet("data-dir") {
				dir = g.DataDir
			}
			return g.later(func(ctx context.Context) error { return runDemo(ctx, *g, dir) })
		},
	}
}

// demoDocuments returns a reader of the demo data set as NDJSON.
func demoDocuments() (*gzip.Reader, error) {
	return gzip.NewReader(bytes.NewReader(demoMovies))
}

// loadDemo creates the demo index in e and loads the demo data into it.
func loadDemo(ctx context.Context, e *env) error {
	return loadDemoInto(ctx, localBackend{e}, e.g.stdout)
}

// loadDemoInto creates the demo index in b and loads the demo data into
// it, printing each outcome to out.
func loadDemoInto(ctx context.Context, b backend, out io.Writer) error {
	w := waitOptions{out: out}
	if _, err := b.Submit(ctx, w, task.Request{Kind: task.IndexCreation, IndexUID: demoIndex, PrimaryKey: "id"}); err != nil {
		return err
	}
	docs, err := demoDocuments()
	if err != nil {
		return err
	}
	_, err = b.Submit(ctx, w, task.Request{Kind: task.DocumentAdditionOrUpdate, IndexUID: demoIndex, Documents: docs})
	return err
}

// runDemo loads the demo into the data dir dir (a new temporary one if
// ""), and shows it. A data dir that is mounted is loaded through the
// mount's files (README "The CLI while mounted"), as every command does.
func runDemo(ctx context.Context, g globalOptions, dir string) error {
	if dir == "" {
		d, err := os.MkdirTemp("", "idxfs-demo-")
		if err != nil {
			return err
		}
		dir = d
	}
	g.DataDir = dir
	out := g.stdout
	fmt.Fprintf(out, "data dir: %s\n\n", dir)
	return withBackend(ctx, g, true, false, func(b backend) error {
		if err := loadDemoInto(ctx, b, out); err != nil {
			return err
		}
		fmt.Fprintln(out)
		in, err := b.Index(ctx, demoIndex)
		if err != nil {
			return err
		}
		printIndex(out, in)

		fmt.Fprintln(out, "\nthe first three documents:")
		bw := bufio.NewWriter(out)
		lw := &lineLimitWriter{w: bw, lines: 3}
		if err := b.Export(ctx, demoIndex, lw); err != nil && err != errEnoughLines {
			return err
		}
		bw.Flush()

		fmt.Fprintln(out, "\na snapshot of it:")
		t, err := b.Submit(ctx, waitOptions{out: out}, task.Request{Kind: task.SingleIndexSnapshotCreation, IndexUID: demoIndex})
		if err != nil {
			return err
		}
		fmt.Fprintln(out, "\nthe tasks:")
		ts, err := b.Tasks(task.Filter{})
		if err != nil {
			return err
		}
		printTasks(out, ts)

		var d task.SnapshotCreationDetails
		_ = t.DecodeDetails(&d)
		fmt.Fprintf(out, "\nTry next:\n"+
			"  export IDXFS_DATA_DIR=%s\n"+
			"  idxfs index show movies\n"+
			"  idxfs documents get movies 42\n"+
			"  idxfs snapshot import %s --as movies2\n"+
			"  idxfs documents export movies2 | head -3\n"+
			"  tar tzvf %s | head\n", dir, d.Path, d.Path)
		return nil
	})
}

// errEnoughLines stops an export after a few lines.
var errEnoughLines = fmt.Errorf("enough lines")

// lineLimitWriter passes on the first lines lines, then fails.
type lineLimitWriter struct {
	w     *bufio.Writer
	lines int
}

func (l *lineLimitWriter) Write(p []byte) (int, error) {
	for i, b := range p {
		if l.lines == 0 {
			return i, errEnoughLines
		}
		l.w.WriteByte(b)
		if b == '\n' {
			l.lines--
		}
	}
	return len(p), nil
}
