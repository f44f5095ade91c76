package main

import (
	"fmt"
	"runtime/debug"
	"strings"
)

// linkVersion, when set at link time, is the version the binary reports:
//
//	go build -ldflags "-X main.linkVersion=v1.2.3" ./cmd/idxfs
//
// Otherwise it is the main module's version from the build info: a tag or
// pseudo-version when built from a checkout by go 1.24+ or installed with
// go install MODULE@VERSION, and "(devel)" otherwise, which version
// completes with the VCS revision that the build info records.
var linkVersion string

// dependencies whose versions idxfs version prints.
var versionDeps = []string{"github.com/hanwen/go-fuse/v2", "github.com/cockroachdb/pebble/v2"}

// version is the binary's version, one word, as the status files show it.
func version() string {
	bi, _ := debug.ReadBuildInfo()
	return versionOf(linkVersion, bi)
}

// versionOf is the version given at link time, else bi's (nil: none).
func versionOf(link string, bi *debug.BuildInfo) string {
	if link != "" {
		return link
	}
	if bi == nil {
		return "(devel)"
	}
	v := bi.Main.Version
	if v == "" {
		v = "(devel)"
	}
	if v != "(devel)" {
		return v
	}
	s := buildSettings(bi)
	if rev := s["vcs.revision"]; rev != "" {
		v = "(devel)-" + short(rev)
		if s["vcs.modified"] == "true" {
			v += "-dirty"
		}
	}
	return v
}

// versionLine is what idxfs version and idxfs --version print: the
// version, the commit it was built from when the build info records one,
// the formats it reads and writes, Go's version and those of go-fuse and
// pebble.
func versionLine() string {
	bi, _ := debug.ReadBuildInfo()
	return versionLines(linkVersion, bi)
}

func versionLines(link string, bi *debug.BuildInfo) string {
	var b strings.Builder
	fmt.Fprintf(&b, "idxfs %s\n", versionOf(link, bi))
	ok := bi != nil
	if ok {
		s := buildSettings(bi)
		if rev := s["vcs.revision"]; rev != "" {
			fmt.Fprintf(&b, "  commit:   %s", rev)
			if s["vcs.modified"] == "true" {
				b.WriteString(" (with uncommitted changes)")
			}
			if t := s["vcs.time"]; t != "" {
				fmt.Fprintf(&b, ", %s", t)
			}
			b.WriteString("\n")
		}
	}
	fmt.Fprintf(&b, "  formats:  data dir %d, archive %d\n", dataDirVersion, archiveVersion)
	if ok {
		fmt.Fprintf(&b, "  go:       %s\n", bi.GoVersion)
		for _, path := range versionDeps {
			for _, d := range bi.Deps {
				if d.Path == path {
					v := d.Version
					if d.Replace != nil {
						v += " => " + d.Replace.Path + " " + d.Replace.Version
					}
					fmt.Fprintf(&b, "  %-9s %s %s\n", depName(path)+":", path, v)
				}
			}
		}
	}
	return strings.TrimSuffix(b.String(), "\n")
}

func buildSettings(bi *debug.BuildInfo) map[string]string {
	m := map[string]string{}
	for _, s := range bi.Settings {
		m[s.Key] = s.Value
	}
	return m
}

// depName is a dependency's short name: go-fuse, pebble.
func depName(path string) string {
	parts := strings.Split(path, "/")
	if n := len(parts); n > 1 && strings.HasPrefix(parts[n-1], "v") && len(parts[n-1]) <= 3 {
		return parts[n-2]
	}
	return parts[len(parts)-1]
}

func short(rev string) string {
	if len(rev) > 12 {
		return rev[:12]
	}
	return rev
}
