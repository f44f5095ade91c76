package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// TestHelperArgs: the mount helper's command line (mount.fuse3 runs idxfs
// DATA MNT -o OPTS) becomes the equivalent mount command line; other
// command lines are left alone.
func TestHelperArgs(t *testing.T) {
	app := newApp(&globalOptions{})
	for _, tt := range []struct {
		in   []string
		want []string // nil: not the helper's form
		log  string
		err  string
	}{
		{in: []string{"idxfs", "/d", "/m", "-o", "rw,allow_other,snapshot_keep=3,log_level=debug,import_grace=5s,nodev,nosuid,noauto,_netdev,x-systemd.automount,dev,suid"},
			want: []string{"idxfs", "--snapshot-keep=3", "--log-level=debug", "mount", "--allow-other", "--import-grace=5s", "--", "/d", "/m"}},
		{in: []string{"idxfs", "/d", "/m", "-o", "defaults,log_file=/var/log/i.log", "-o", "workers=2"},
			want: []string{"idxfs", "--workers=2", "mount", "--", "/d", "/m"}, log: "/var/log/i.log"},
		{in: []string{"idxfs", "/d", "/m", "-orw"}, want: []string{"idxfs", "mount", "--", "/d", "/m"}},
		{in: []string{"idxfs", "/d", "/m"}},                      // no -o: the usual "no command"
		{in: []string{"idxfs", "index", "list", "-o", "x"}},      // a command
		{in: []string{"idxfs", "snapshot", "create", "-o", "f"}}, // a command's -o
		{in: []string{"idxfs", "/d", "/m", "-o", "ro"}, err: "read-only"},
		{in: []string{"idxfs", "/d", "/m", "-o", "frobnicate"}, err: `unknown mount option "frobnicate"`},
		{in: []string{"idxfs", "/d", "/m", "-o", "data_dir=/x"}, err: `unknown mount option "data_dir=/x"`},
		{in: []string{"idxfs", "/d", "/m", "-o", "snapshot_keep"}, err: "snapshot_keep=VALUE"},
		{in: []string{"idxfs", "/d", "/m", "-o", "allow_other=yes"}, err: "no value"},
	} {
		got, mode, err := helperArgs(app, tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) || exitCode(err) != exitUsage {
				t.Errorf("%q: error %v, want a usage error with %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tt.in, err)
			continue
		}
		if tt.want == nil {
			if mode != nil || !slices.Equal(got, tt.in) {
				t.Errorf("%q taken for the helper's form: %q", tt.in, got)
			}
			continue
		}
		if mode == nil || !slices.Equal(got, tt.want) || mode.logFile != tt.log {
			t.Errorf("%q: %q (log file %v), want %q (%q)", tt.in, got, mode, tt.want, tt.log)
		}
	}
}

// TestJSONLines: under --log-format json, plain lines become JSON records
// and JSON lines pass; the error report is a record with the exit code.
func TestJSONLines(t *testing.T) {
	var buf bytes.Buffer
	w := logStderr([]string{"idxfs", "index", "list", "--log-format", "json"}, &buf)
	if logStderr([]string{"idxfs", "--log-format=json"}, w) != w {
		t.Errorf("logStderr wraps twice")
	}
	w.Write([]byte("idxfs: a plain note\n{\"level\":\"INFO\",\"msg\":\"already json\"}\npart"))
	w.Write([]byte("ial line\n"))
	report(w, usageError{"bad flag"})
	var recs []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		recs = append(recs, m)
	}
	if len(recs) != 4 || recs[0]["msg"] != "a plain note" || recs[1]["msg"] != "already json" || recs[2]["msg"] != "partial line" ||
		recs[3]["level"] != "ERROR" || recs[3]["msg"] != "bad flag" || recs[3]["exitCode"] != float64(exitUsage) {
		t.Errorf("records: %v", recs)
	}
	for _, args := range [][]string{{"idxfs", "index", "list"}, {"idxfs", "--log-format", "text"}, {"idxfs", "documents", "add", "x", "--", "--log-format=json"}} {
		var b bytes.Buffer
		if logStderr(args, &b) != &b {
			t.Errorf("%q: stderr wrapped", args)
		}
	}
	if !jsonLogsAsked([]string{"idxfs", "/d", "/m", "-o", "allow_other,log_format=json"}) {
		t.Errorf("log_format=json among -o options not seen")
	}
}

// TestHelpSaysLogLevels: the help gives each command's real default level
// (the mount's, info, is checked by integration/mount TestSystemdNotify).
func TestHelpSaysLogLevels(t *testing.T) {
	if r := idxfs(t, nil, "--help"); !strings.Contains(r.stdout, "(default: warn; mount: "+mountLogLevel+")") {
		t.Errorf("idxfs --help:\n%s", r.stdout)
	}
	if r := idxfs(t, nil, "mount", "--help"); !strings.Contains(r.stdout, "The mount logs at "+mountLogLevel+" unless --log-level") {
		t.Errorf("idxfs mount --help:\n%s", r.stdout)
	}
	// Other commands: no info lines without --log-level.
	dir := t.TempDir()
	if r := mustIn(t, dir, nil, "index", "create", "films"); strings.Contains(r.stderr, "level=INFO") {
		t.Errorf("index create logged at info by default:\n%s", r.stderr)
	}
	if r := mustIn(t, dir, nil, "index", "create", "films2", "--log-level", "info"); !strings.Contains(r.stderr, "level=INFO") {
		t.Errorf("index create --log-level info logged no info line:\n%s", r.stderr)
	}
}

// TestChildExitCode: the helper exits with its background daemon's code.
func TestChildExitCode(t *testing.T) {
	if got := exitCode(fmt.Errorf("wrapped: %w", childExitError{"x", exitMount})); got != exitMount {
		t.Errorf("exit code %d", got)
	}
}
