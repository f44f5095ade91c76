package main

import (
	"runtime/debug"
	"strings"
	"testing"
)

func TestVersionOf(t *testing.T) {
	vcs := []debug.BuildSetting{
		{Key: "vcs", Value: "git"},
		{Key: "vcs.revision", Value: "0123456789abcdef0123456789abcdef01234567"},
		{Key: "vcs.time", Value: "2026-11-30T14:00:00Z"},
		{Key: "vcs.modified", Value: "true"},
	}
	deps := []*debug.Module{
		{Path: "github.com/hanwen/go-fuse/v2", Version: "v2.12.1"},
		{Path: "github.com/cockroachdb/pebble/v2", Version: "v2.1.7"},
		{Path: "github.com/urfave/cli/v2", Version: "v2.27.7"},
	}
	for _, tt := range []struct {
		name, link string
		bi         *debug.BuildInfo
		want       string
		lines      []string
	}{
		{"no build info", "", nil, "(devel)", nil},
		{"tagged module", "", &debug.BuildInfo{Main: debug.Module{Version: "v1.4.0"}, Deps: deps, GoVersion: "go1.26.8"}, "v1.4.0",
			[]string{"go-fuse:  github.com/hanwen/go-fuse/v2 v2.12.1", "pebble:   github.com/cockroachdb/pebble/v2 v2.1.7", "go:       go1.26.8"}},
		{"devel with VCS", "", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: vcs, Deps: deps}, "(devel)-0123456789ab-dirty",
			[]string{"commit:   0123456789abcdef0123456789abcdef01234567 (with uncommitted changes), 2026-11-30T14:00:00Z"}},
		{"devel without VCS", "", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, "(devel)", nil},
		{"set at link time", "v9.9.9", &debug.BuildInfo{Main: debug.Module{Version: "v1.4.0"}, Settings: vcs}, "v9.9.9", nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := versionOf(tt.link, tt.bi); got != tt.want {
				t.Errorf("versionOf = %q, want %q", got, tt.want)
			}
			out := versionLines(tt.link, tt.bi)
			if first := strings.SplitN(out, "\n", 2)[0]; first != "idxfs "+tt.want {
				t.Errorf("first line %q, want %q", first, "idxfs "+tt.want)
			}
			for _, l := range tt.lines {
				if !strings.Contains(out, "\n  "+l+"\n") && !strings.HasSuffix(out, "\n  "+l) {
					t.Errorf("no line %q in:\n%s", l, out)
				}
			}
			if strings.Contains(out, "urfave") {
				t.Errorf("a dependency not asked for is shown:\n%s", out)
			}
		})
	}
}
