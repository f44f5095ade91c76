package main

import (
	"slices"
	"strings"
	"testing"
)

func TestNormalizeArgs(t *testing.T) {
	t.Parallel()
	app := newApp(&globalOptions{})
	tests := []struct {
		in, want []string
	}{
		{
			[]string{"idxfs", "snapshot", "import", "a.tgz", "--as", "m2"},
			[]string{"idxfs", "snapshot", "import", "--as", "m2", "--", "a.tgz"},
		},
		{
			[]string{"idxfs", "snapshot", "import", "--as", "m2", "a.tgz"},
			[]string{"idxfs", "snapshot", "import", "--as", "m2", "--", "a.tgz"},
		},
		{
			[]string{"idxfs", "snapshot", "import", "--as=m2", "a.tgz"},
			[]string{"idxfs", "snapshot", "import", "--as=m2", "--", "a.tgz"},
		},
		{ // a global flag after the command moves in front of it
			[]string{"idxfs", "index", "list", "--data-dir", "/d", "--json"},
			[]string{"idxfs", "--data-dir", "/d", "index", "list", "--json"},
		},
		{ // short alias of a global flag, and a bool flag takes no value
			[]string{"idxfs", "index", "create", "m", "--no-wait", "-d", "/d"},
			[]string{"idxfs", "-d", "/d", "index", "create", "--no-wait", "--", "m"},
		},
		{ // ids that look like flags, after --
			[]string{"idxfs", "documents", "delete", "m", "--", "-5", "7"},
			[]string{"idxfs", "documents", "delete", "--", "m", "-5", "7"},
		},
		{ // - is stdin, not a flag
			[]string{"idxfs", "documents", "add", "m", "-", "--primary-key", "id"},
			[]string{"idxfs", "documents", "add", "--primary-key", "id", "--", "m", "-"},
		},
		{ // a command word after a positional is a positional
			[]string{"idxfs", "documents", "get", "list", "42"},
			[]string{"idxfs", "documents", "get", "--", "list", "42"},
		},
		{ // unknown flags stay with the command for cli to report
			[]string{"idxfs", "index", "list", "--bogus"},
			[]string{"idxfs", "index", "list", "--bogus"},
		},
		{
			[]string{"idxfs", "help", "index"},
			[]string{"idxfs", "help", "--", "index"},
		},
		{[]string{"idxfs"}, []string{"idxfs"}},
		{ // help after the arguments is the command's help
			[]string{"idxfs", "index", "create", "m", "--help"},
			[]string{"idxfs", "index", "create", "--help"},
		},
		{
			[]string{"idxfs", "snapshot", "import", "a.tgz", "-h", "--as", "m2"},
			[]string{"idxfs", "snapshot", "import", "-h", "--as", "m2"},
		},
		{ // ... but not after --
			[]string{"idxfs", "documents", "delete", "m", "--", "--help"},
			[]string{"idxfs", "documents", "delete", "--", "m", "--help"},
		},
	}
	for _, tt := range tests {
		got, err := normalizeArgs(app, tt.in)
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("normalizeArgs(%q)\n got %q, %v\nwant %q", tt.in, got, err, tt.want)
		}
	}
}

func TestNormalizeArgsMissingValue(t *testing.T) {
	t.Parallel()
	app := newApp(&globalOptions{})
	for _, in := range [][]string{
		{"idxfs", "index", "create", "m", "--primary-key"},
		{"idxfs", "index", "list", "--data-dir"},
		{"idxfs", "snapshot", "import", "a.tgz", "--as"},
	} {
		got, err := normalizeArgs(app, in)
		if exitCode(err) != exitUsage || !strings.Contains(err.Error(), in[len(in)-1]) {
			t.Errorf("normalizeArgs(%q) = %q, %v; want a usage error naming %s", in, got, err, in[len(in)-1])
		}
	}
}
