package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"

	"github.com/idxfs/idxfs/snapshot"
	"github.com/idxfs/idxfs/task"
)

func snapshotCommand(g *globalOptions) *cli.Command {
	cmd := &cli.Command{
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
				Usage:     "import an archive (or a stored snapshot, by id) as an index (named as in the archive, or --as NAME)",
				ArgsUsage: "FILE|ID|-",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "as", Usage: "the new index's `NAME` (default: the archive's index uid)"},
					&cli.BoolFlag{Name: "replace", Usage: "replace the index of that name if it exists, in one step once the archive is verified (a bad archive leaves it as it was)"},
					noWaitFlag, jsonFlag,
				},
				Action: func(c *cli.Context) error {
					a, err := args(c, 1, 1, "FILE|- [--as NAME] [--replace]")
					if err != nil {
						return err
					}
					w, as, replace := waitOpts(c), c.String("as"), c.Bool("replace")
					return g.later(func(ctx context.Context) error { return runSnapshotImport(ctx, *g, w, a[0], as, replace) })
				},
			},
			{
				Name:  "verify",
				Usage: "run every check of an import, without importing anything",
				Description: "Runs the checks of 'snapshot import', by the same code, except registering the index:\n" +
					"the archive's format, entries, sizes and SHA-256 sums; then it extracts the database into a\n" +
					"new directory under --tmp-dir, opens it read-only and compares it with the metadata\n" +
					"(documents, version, primary key). The directory is removed at the end, also on Ctrl-C.",
				ArgsUsage: "FILE|-",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "tmp-dir", Usage: "extract into a new directory under `DIR` (default: $TMPDIR, else /tmp)"},
				},
				Action: func(c *cli.Context) error {
					a, err := args(c, 1, 1, "FILE|- [--tmp-dir DIR]")
					if err != nil {
						return err
					}
					tmp := c.String("tmp-dir")
					return g.later(func(ctx context.Context) error { return runSnapshotVerify(ctx, *g, a[0], tmp) })
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
	cmd.Subcommands = append(cmd.Subcommands, snapshotStoreCommands(g)...)
	return cmd
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
	if output != "" && output != "-" {
		removeStalePartials(filepath.Dir(output), g.stderr)
	}
	return withBackend(ctx, g, !w.NoWait, false, func(b backend) error {
		r := task.Request{Kind: task.SingleIndexSnapshotCreation, IndexUID: idx}
		// Unmounted, the engine runs here: it writes FILE while it
		// makes the archive (one write instead of a copy afterwards).
		// Through a mount, FILE is copied from the stored snapshot.
		var tee *archiveOutput
		if _, local := b.(localBackend); local && output != "" && output != "-" {
			var err error
			if tee, err = createArchiveOutput(output); err != nil {
				return err
			}
			defer tee.discard()
			r.Output = tee
		}
		t, err := b.Submit(ctx, w, r)
		if err != nil || w.NoWait {
			return err
		}
		var d task.SnapshotCreationDetails
		if err := t.DecodeDetails(&d); err != nil {
			return err
		}
		if tee != nil {
			if done, err := tee.commit(d); done || err != nil {
				return err
			}
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
		rate, err := parseSize(g.BWLimit)
		if err != nil {
			return err
		}
		return copyStored(ctx, d.Path, output, rate)
	})
}

func copyTo(w io.Writer, path string) error {
	f, err := task.OpenStored(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(w, f)
	return err
}

// partialSuffix ends the temporary name under which `snapshot create -o
// FILE` writes FILE: .FILE.<pid>.idxfs-partial, in FILE's directory. The pid
// tells a later run whether the writer is gone (killed: SIGKILL leaves no
// chance to clean up), and then the file is removed.
const partialSuffix = ".idxfs-partial"

func partialName(dst string, pid int) string {
	return filepath.Join(filepath.Dir(dst), fmt.Sprintf(".%s.%d%s", filepath.Base(dst), pid, partialSuffix))
}

// removeStalePartials removes the partial files in dir whose writer no longer
// runs, saying so on w. Errors are ignored: it is housekeeping.
func removeStalePartials(dir string, w io.Writer) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		name := e.Name()
		if !e.Type().IsRegular() || !strings.HasPrefix(name, ".") || !strings.HasSuffix(name, partialSuffix) {
			continue
		}
		rest := strings.TrimSuffix(name, partialSuffix)
		i := strings.LastIndexByte(rest, '.')
		if i < 1 {
			continue
		}
		pid, err := strconv.Atoi(rest[i+1:])
		if err != nil || pid <= 0 || pid != os.Getpid() && processRuns(pid) {
			continue
		}
		if os.Remove(filepath.Join(dir, name)) == nil {
			fmt.Fprintf(w, "idxfs: removed %s, left by an interrupted snapshot create -o (pid %d)\n", filepath.Join(dir, name), pid)
		}
	}
}

// processRuns reports whether a process pid exists (of any user).
func processRuns(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// archiveOutput is FILE of `snapshot create -o FILE` written as the engine
// writes the archive (task.Request.Output): a partial file in FILE's
// directory, renamed to FILE once the task succeeded with exactly these
// bytes, as copyFileAtomic would have left it.
type archiveOutput struct {
	dst, name string
	f         *os.File
	n         int64
	flushed   int64 // bytes handed to writeback so far
	err       error
}

// outputWriteback is how many written bytes archiveOutput lets pile up
// before it starts their writeback (sync_file_range), so that the fsync at
// the end finds little left to write instead of the whole archive.
const outputWriteback = 8 << 20

func createArchiveOutput(dst string) (*archiveOutput, error) {
	name := partialName(dst, os.Getpid())
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o666)
	if err != nil {
		return nil, fmt.Errorf("write %s: %w", dst, err)
	}
	return &archiveOutput{dst: dst, name: name, f: f}, nil
}

func (o *archiveOutput) Write(p []byte) (int, error) {
	if o.err != nil {
		return 0, o.err
	}
	n, err := o.f.Write(p)
	o.n += int64(n)
	o.err = err
	if o.n-o.flushed >= outputWriteback {
		// Best effort: fsync in commit is what makes FILE durable.
		_ = unix.SyncFileRange(int(o.f.Fd()), o.flushed, o.n-o.flushed, unix.SYNC_FILE_RANGE_WRITE)
		o.flushed = o.n
	}
	return n, err
}

// commit makes the partial file FILE if it holds the archive of d: done is
// false if it does not (a reused snapshot, whose archive the task did not
// write) and the partial file is gone, so that the caller copies the stored
// file instead.
func (o *archiveOutput) commit(d task.SnapshotCreationDetails) (done bool, err error) {
	if o.err != nil {
		return false, fmt.Errorf("write %s: %w", o.dst, o.err)
	}
	if d.Reused || o.n != d.Size || d.Size == 0 {
		o.discard()
		return false, nil
	}
	f := o.f
	o.f = nil
	if err = f.Sync(); err == nil {
		err = f.Close()
	} else {
		f.Close()
	}
	if err == nil {
		err = os.Rename(o.name, o.dst)
	}
	if err != nil {
		os.Remove(o.name)
		return false, fmt.Errorf("write %s: %w", o.dst, err)
	}
	return true, nil
}

// discard removes the partial file unless commit renamed it.
func (o *archiveOutput) discard() {
	if o.f != nil {
		o.f.Close()
		o.f = nil
		os.Remove(o.name)
	}
}

// copyStored is copyFileAtomic; tests count its calls.
var copyStored = copyFileAtomic

// copyFileAtomic copies the stored snapshot src to dst through a partial
// file in dst's directory (at most rate bytes per second if rate > 0): dst
// is either the whole archive or untouched. dst gets the mode a new file
// gets (0666 less the umask), as with cp.
func copyFileAtomic(ctx context.Context, src, dst string, rate int64) (err error) {
	in, err := task.OpenStored(src)
	if err != nil {
		return err
	}
	defer in.Close()
	name := partialName(dst, os.Getpid())
	tmp, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o666)
	if err != nil {
		return fmt.Errorf("write %s: %w", dst, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(name)
		}
	}()
	if _, err = io.Copy(task.NewRateWriter(ctx, tmp, rate), task.NewContextReader(ctx, in)); err != nil {
		return fmt.Errorf("write %s: %w", dst, err)
	}
	if err = tmp.Sync(); err != nil {
		return fmt.Errorf("write %s: %w", dst, err)
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", dst, err)
	}
	return os.Rename(name, dst)
}

func runSnapshotImport(ctx context.Context, g globalOptions, w waitOptions, file, as string, replace bool) error {
	r := task.Request{Kind: task.SingleIndexSnapshotImport, NewIndexUID: as, SnapshotPath: file, Replace: replace}
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
	return withBackend(ctx, g, !w.NoWait, false, func(b backend) error {
		var err error
		if r.SnapshotPath, err = b.StoredArchive(r.SnapshotPath); err != nil {
			return err
		}
		_, err = b.Submit(ctx, w, r)
		return importHint(err, file)
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

func runSnapshotVerify(ctx context.Context, g globalOptions, file, tmpDir string) error {
	r, closeFn, err := openArchive(g, file)
	if err != nil {
		return err
	}
	defer closeFn()
	if tmpDir == "" {
		tmpDir = os.TempDir()
	}
	start := time.Now()
	// The checks of an import, by the same function; nothing is left in
	// tmpDir, also after Ctrl-C.
	md, err := task.VerifyArchive(ctx, r, task.VerifyOptions{TmpDir: tmpDir})
	if errors.Is(err, snapshot.ErrTooLarge) {
		return fmt.Errorf("verify %s: %w (--tmp-dir extracts elsewhere)", file, err)
	}
	if err != nil {
		return fmt.Errorf("verify %s: %w", file, orInterrupted(ctx, err))
	}
	var total int64
	for _, f := range md.Files {
		total += f.Size
	}
	fmt.Fprintf(g.stdout, "%s: ok: index %q, %s, index version %d, %s, %s (%s)\n",
		file, md.IndexUID, task.Count(md.Documents, "document"), md.IndexVersion, task.Count(len(md.Files), "file"), task.HumanBytes(total), human(time.Since(start)))
	fmt.Fprintf(g.stdout, "checked as an import checks it: format, sizes and SHA-256 sums, then the database extracted under %s, opened read-only and matching the metadata; extraction removed, nothing imported\n", tmpDir)
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
	return withReadBackend(ctx, g, func(b backend) error {
		ss, err := b.Snapshots(idx)
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
		fmt.Fprintln(tw, "ID\tINDEX\tCREATED\tSIZE\tDOCUMENTS\tVERSION\tPATH")
		for _, s := range ss {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%s\n", s.ShortID, s.IndexUID, tableTime(s.CreatedAt),
				task.HumanBytes(s.Size), s.Documents, s.IndexVersion, s.Path)
		}
		return tw.Flush()
	})
}
