package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

// commandPaths lists every command and subcommand of the app, e.g.
// ["index"], ["index", "create"], after the app itself (nil).
func commandPaths() [][]string {
	paths := [][]string{nil}
	var walk func(prefix []string, cmds []*cli.Command)
	walk = func(prefix []string, cmds []*cli.Command) {
		for _, c := range cmds {
			p := slices.Concat(prefix, []string{c.Name})
			paths = append(paths, p)
			walk(p, c.Subcommands)
		}
	}
	walk(nil, newApp(&globalOptions{}).Commands)
	return paths
}

func helpGoldenName(path []string) string {
	return strings.Join(append([]string{"idxfs"}, path...), "_") + ".golden"
}

// TestHelp compares the --help output of the app and of every command with
// testdata/help/*.golden.
func TestHelp(t *testing.T) {
	t.Parallel()
	paths := commandPaths()
	if len(paths) < 20 {
		t.Fatalf("found %d commands, want the app and at least 19 commands", len(paths))
	}
	xdg := os.Getenv("XDG_DATA_HOME")
	for _, p := range paths {
		name := helpGoldenName(p)
		t.Run(strings.TrimSuffix(name, ".golden"), func(t *testing.T) {
			t.Parallel()
			r := idxfs(t, nil, slices.Concat(p, []string{"--help"})...)
			if r.code != 0 || r.stderr != "" {
				t.Fatalf("idxfs %s --help: %s", strings.Join(p, " "), r)
			}
			// The default data dir depends on the environment.
			got := strings.ReplaceAll(r.stdout, xdg, "$XDG_DATA_HOME")
			golden(t, filepath.Join("testdata", "help", name), got)

			// Help asked for after an argument is the same help.
			if len(p) < 2 {
				return
			}
			for _, args := range [][]string{slices.Concat(p, []string{"arg", "--help"}), slices.Concat(p, []string{"-h", "arg"})} {
				if r2 := idxfs(t, nil, args...); r2 != r {
					t.Errorf("idxfs %s: %s\nwant the output of --help", strings.Join(args, " "), r2)
				}
			}
		})
	}
	t.Run("no stale files", func(t *testing.T) {
		t.Parallel()
		want := map[string]bool{}
		for _, p := range paths {
			want[helpGoldenName(p)] = true
		}
		files, err := filepath.Glob(filepath.Join("testdata", "help", "*.golden"))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			if want[filepath.Base(f)] {
				continue
			}
			if *update {
				os.Remove(f)
				continue
			}
			t.Errorf("%s belongs to no command (go test ./cmd/idxfs -update removes it)", f)
		}
	})
}
