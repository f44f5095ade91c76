package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/idxfs/idxfs/task"
)

// The snapshot store's lifecycle (issue 9 item 6): delete and prune, and
// the lookup of a stored snapshot by id for import.

func snapshotStoreCommands(g *globalOptions) []*cli.Command {
	return []*cli.Command{
		{
			Name:  "delete",
			Usage: "delete stored snapshots, by id (as `snapshot list` prints it, or any unique prefix) or path",
			Description: "Each ID|PATH names a file of the snapshot store: a path, or an id or a unique prefix of\n" +
				"one (at least 4 hex digits). Every argument is looked up first; if one is not found or\n" +
				"ambiguous, nothing is deleted. A deleted file is unlinked and its directory synced; a\n" +
				"reader that has it open (a copy running) reads it to the end.",
			ArgsUsage: "ID|PATH...",
			Flags:     []cli.Flag{jsonFlag},
			Action: func(c *cli.Context) error {
				a, err := args(c, 1, -1, "ID|PATH...")
				if err != nil {
					return err
				}
				asJSON := c.Bool("json")
				return g.later(func(ctx context.Context) error { return runSnapshotDelete(ctx, *g, a, asJSON) })
			},
		},
		{
			Name:  "prune",
			Usage: "delete the stored snapshots that no --keep rule keeps (restic's forget policy)",
			Description: "Each index's snapshots are judged on their own, those of deleted indexes too; a snapshot\n" +
				"is kept if any rule keeps it:\n" +
				"  --keep-last N          the newest N of the index\n" +
				"  --keep-within DURATION those created within DURATION of the index's newest snapshot\n" +
				"                         (not of now: an index that stopped changing keeps its last ones);\n" +
				"                         DURATION is e.g. 7d, 2w, 36h, 1d12h\n" +
				"Either rule keeps an index's newest snapshot, so prune never leaves an index with none:\n" +
				"to drop a deleted index's last snapshots, use `idxfs snapshot delete`. With no rule,\n" +
				"prune refuses (it would delete everything). --dry-run prints the decisions only.",
			Flags: []cli.Flag{
				&cli.IntFlag{Name: "keep-last", Usage: "keep the newest `N` snapshots of each index"},
				&cli.StringFlag{Name: "keep-within", Usage: "keep the snapshots created within `DURATION` of each index's newest"},
				&cli.StringFlag{Name: "index", Usage: "only the snapshots of index `NAME`"},
				&cli.BoolFlag{Name: "dry-run", Aliases: []string{"n"}, Usage: "print what would be kept and removed, remove nothing"},
				jsonFlag,
			},
			Action: func(c *cli.Context) error {
				if _, err := args(c, 0, 0, "--keep-last N --keep-within DURATION [--index NAME] [--dry-run]"); err != nil {
					return err
				}
				var p task.PrunePolicy
				if c.IsSet("keep-last") {
					if p.KeepLast = c.Int("keep-last"); p.KeepLast < 1 {
						return usageError{fmt.Sprintf("--keep-last %d: want 1 or more", p.KeepLast)}
					}
				}
				if c.IsSet("keep-within") {
					d, err := task.ParseKeepDuration(c.String("keep-within"))
					if err != nil {
						return usageError{"--keep-within: " + strings.TrimPrefix(err.Error(), task.ErrInvalid.Error()+": ")}
					}
					p.KeepWithin = d
				}
				if p.Empty() {
					return usageError{"prune needs a rule: --keep-last N and/or --keep-within DURATION (with none, it would delete every snapshot)"}
				}
				idx, dry, asJSON := c.String("index"), c.Bool("dry-run"), c.Bool("json")
				return g.later(func(ctx context.Context) error { return runSnapshotPrune(ctx, *g, p, idx, dry, asJSON) })
			},
		},
	}
}

// storeOps is the snapshot store as delete and prune use it: through the
// engine on a data dir this command opened, or through the mount's
// snapshots/ directory when a mount holds the data dir.
type storeOps struct {
	files   func() ([]task.StoredFile, error)
	resolve func(ref string) (task.StoredFile, error)
	delete  func(task.StoredFile) error
	exists  func(uid string) bool // whether the index exists
}

// withStore runs fn on the data dir's snapshot store: opened here, or, if a
// mount holds the data dir (its LOCK names the mountpoint), through the
// mount: MOUNT/snapshots/NAME/FILE lists the store and rm deletes from it.
func withStore(ctx context.Context, g globalOptions, fn func(storeOps) error) error {
	err := withEnv(ctx, g, false, func(e *env) error {
		return fn(storeOps{
			files:   func() ([]task.StoredFile, error) { return e.engine.SnapshotFiles("") },
			resolve: e.engine.ResolveSnapshot,
			delete:  e.engine.DeleteSnapshot,
			exists:  e.store.Exists,
		})
	})
	le, ok := mountHolding(err)
	if !ok {
		return err
	}
	m := le.Holder.Mountpoint
	ops := storeOps{
		files:  func() ([]task.StoredFile, error) { return mountStoreFiles(m) },
		delete: func(f task.StoredFile) error { return os.Remove(f.Path) },
		exists: func(uid string) bool { _, err := os.Stat(filepath.Join(m, "indexes", uid)); return err == nil },
	}
	ops.resolve = func(ref string) (task.StoredFile, error) {
		files, err := ops.files()
		if err != nil {
			return task.StoredFile{}, err
		}
		if _, err := os.Lstat(ref); strings.ContainsRune(ref, '/') || err == nil {
			// A path in the data dir's store or in the mount's snapshots/.
			abs, _ := filepath.Abs(ref)
			for _, f := range files {
				if abs == f.Path || abs == filepath.Join(g.DataDir, "snapshots", "indexes", f.IndexUID, f.Name) {
					return f, nil
				}
			}
			return task.StoredFile{}, fmt.Errorf("%s: %w: not a file of the snapshot store", ref, task.ErrStoredSnapshotNotFound)
		}
		return task.FindSnapshot(files, ref)
	}
	return fn(ops)
}

// mountStoreFiles lists the stored snapshots in MOUNT/snapshots/.
func mountStoreFiles(mnt string) ([]task.StoredFile, error) {
	root := filepath.Join(mnt, "snapshots")
	dirs, err := os.ReadDir(root)
	if err != nil {
		return nil, err
	}
	var out []task.StoredFile
	for _, d := range dirs {
		ents, err := os.ReadDir(filepath.Join(root, d.Name()))
		if err != nil {
			continue // gone meanwhile
		}
		for _, en := range ents {
			fi, err := en.Info()
			if err != nil || !fi.Mode().IsRegular() {
				continue
			}
			out = append(out, task.StoredFile{ID: task.SnapshotID(en.Name()), IndexUID: d.Name(), Name: en.Name(),
				Path: filepath.Join(root, d.Name(), en.Name()), Size: fi.Size(), ModTime: fi.ModTime()})
		}
	}
	return out, nil
}

func runSnapshotDelete(ctx context.Context, g globalOptions, refs []string, asJSON bool) error {
	return withStore(ctx, g, func(st storeOps) error {
		var files []task.StoredFile
		for _, ref := range refs {
			f, err := st.resolve(ref)
			if err != nil {
				return err
			}
			files = append(files, f)
		}
		type deleted struct {
			ID       string `json:"id"`
			ShortID  string `json:"shortId"`
			IndexUID string `json:"indexUid"`
			Path     string `json:"path"`
			Size     int64  `json:"size"`
		}
		out := []deleted{}
		for _, f := range files {
			if err := st.delete(f); err != nil {
				return err
			}
			out = append(out, deleted{f.ID, f.ID[:task.ShortIDLen], f.IndexUID, f.Path, f.Size})
			if !asJSON {
				fmt.Fprintf(g.stdout, "deleted %s %s (%s)\n", f.ID[:task.ShortIDLen], f.Path, task.HumanBytes(f.Size))
			}
		}
		if asJSON {
			return printJSON(g.stdout, out)
		}
		return nil
	})
}

// prune applies p to the store's files (of index idx, or all), deleting
// what no rule keeps unless dry.
func prune(st storeOps, p task.PrunePolicy, idx string, dry bool) ([]task.PruneDecision, error) {
	all, err := st.files()
	if err != nil {
		return nil, err
	}
	var files []task.StoredFile
	for _, f := range all {
		if idx == "" || f.IndexUID == idx {
			files = append(files, f)
		}
	}
	if idx != "" && len(files) == 0 {
		return nil, fmt.Errorf("index %q: %w: it has none in the store (see `idxfs snapshot list`)", idx, task.ErrStoredSnapshotNotFound)
	}
	return task.Prune(files, p, dry, st.exists, st.delete)
}

func runSnapshotPrune(ctx context.Context, g globalOptions, p task.PrunePolicy, idx string, dry, asJSON bool) error {
	return withStore(ctx, g, func(st storeOps) error {
		ds, err := prune(st, p, idx, dry)
		if err != nil {
			return err
		}
		if asJSON {
			if ds == nil {
				ds = []task.PruneDecision{}
			}
			return printJSON(g.stdout, ds)
		}
		tw := tabwriter.NewWriter(g.stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "ACTION\tID\tINDEX\tCREATED\tSIZE\tREASONS")
		var kept, removed int
		var freed int64
		for _, d := range ds {
			action, name := "keep", d.IndexUID
			if !d.IndexExists {
				name += " (deleted)"
			}
			switch {
			case d.Keep:
				kept++
			case dry:
				action = "would remove"
				removed++
				freed += d.Size
			default:
				action = "remove"
				removed++
				freed += d.Size
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", action, d.ShortID, name, d.CreatedAt.Local().Format("2006-01-02 15:04:05 MST"),
				task.HumanBytes(d.Size), strings.Join(d.Reasons, ", "))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		verb := "removed"
		if dry {
			verb = "would remove (dry run)"
		}
		fmt.Fprintf(g.stdout, "kept %d, %s %d snapshots (%s)\n", kept, verb, removed, task.HumanBytes(freed))
		return nil
	})
}

// storedArchive turns the FILE of `snapshot import` into a path: a file
// that exists is itself; a snapshot id (or a unique prefix) that is no file
// is looked up in the store.
func storedArchive(resolve func(string) (task.StoredFile, error), file string) (string, error) {
	if _, err := os.Lstat(file); err == nil || file == "-" || !task.IsSnapshotID(file) {
		return file, nil
	}
	f, err := resolve(file)
	if err != nil {
		return "", err
	}
	return f.Path, nil
}
