package main

import (
	"strings"

	"github.com/urfave/cli/v2"
)

// normalizeArgs reorders a command line so that urfave/cli v2, which stops
// parsing flags at the first positional argument, accepts flags anywhere,
// as users of git or docker expect: `snapshot import FILE --as NAME` and
// `snapshot import --as NAME FILE` mean the same.
//
// It walks the command path, then moves the app's global flags in front of
// the first command, the command's own flags right after the command path,
// and the positional arguments last, behind "--" so that a positional
// argument that starts with "-" (a document id like -5, or - for stdin) is
// not taken for a flag. An argument after a "--" given by the user is always
// positional. Unknown flags are kept (cli reports them) and taken to have no
// value. A flag that needs a value and ends the line is a usage error (cli
// would take the "--" for its value). With --help or -h, the positional
// arguments are dropped: `idxfs index create NAME --help` shows the help of
// index create.
func normalizeArgs(app *cli.App, args []string) ([]string, error) {
	if len(args) == 0 {
		return args, nil
	}
	var globals, path, local, positional []string
	help := false
	cmds := app.Commands
	var cmdFlags []cli.Flag
	rest := args[1:]
	for i := 0; i < len(rest); i++ {
		tok := rest[i]
		if tok == "--" {
			positional = append(positional, rest[i+1:]...)
			break
		}
		if strings.HasPrefix(tok, "-") && tok != "-" {
			name, hasValue := strings.TrimLeft(tok, "-"), false
			if j := strings.IndexByte(name, '='); j >= 0 {
				name, hasValue = name[:j], true
			}
			f, global := lookupFlag(cmdFlags, name), false
			if f == nil {
				f, global = lookupFlag(app.Flags, name), true
			}
			group := []string{tok}
			if f != nil && !hasValue && takesValue(f) {
				if i+1 == len(rest) {
					return nil, usageError{"flag needs an argument: " + tok}
				}
				i++
				group = append(group, rest[i])
			}
			if f == nil && (name == "help" || name == "h") {
				help = true
			}
			if f != nil && global {
				globals = append(globals, group...)
			} else {
				local = append(local, group...)
			}
			continue
		}
		if len(positional) == 0 {
			if c := lookupCommand(cmds, tok); c != nil {
				path = append(path, tok)
				cmds, cmdFlags = c.Subcommands, c.Flags
				continue
			}
			if tok == "help" || tok == "h" {
				path = append(path, tok)
				cmds = nil
				continue
			}
		}
		positional = append(positional, tok)
	}
	out := append([]string{args[0]}, globals...)
	out = append(out, path...)
	out = append(out, local...)
	if len(positional) > 0 && !help {
		out = append(out, "--")
		out = append(out, positional...)
	}
	return out, nil
}

func lookupCommand(cmds []*cli.Command, name string) *cli.Command {
	for _, c := range cmds {
		if c.HasName(name) {
			return c
		}
	}
	return nil
}

func lookupFlag(flags []cli.Flag, name string) cli.Flag {
	for _, f := range flags {
		for _, n := range f.Names() {
			if n == name {
				return f
			}
		}
	}
	return nil
}

// takesValue reports whether f consumes the next argument.
func takesValue(f cli.Flag) bool {
	if dg, ok := f.(cli.DocGenerationFlag); ok {
		return dg.TakesValue()
	}
	return true
}
