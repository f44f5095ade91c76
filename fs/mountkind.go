package fs

import (
	"os"
	"strings"
)

// MountType returns the filesystem type of what is mounted at path (the
// topmost mount, from /proc/self/mountinfo), e.g. "fuse.idxfs" for an idxfs
// mount, or "" if path is not a mountpoint. idxfs unmount refuses anything
// but "fuse.idxfs" (issue 9: it would unmount /tmp).
func MountType(path string) (string, error) {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return "", err
	}
	typ := ""
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 5 || unescapeMountinfo(f[4]) != path {
			continue
		}
		for i := 5; i+1 < len(f); i++ {
			if f[i] == "-" {
				typ = f[i+1] // a later line is a mount on top of it
				break
			}
		}
	}
	return typ, nil
}

// IdxfsType is the filesystem type of an idxfs mount in mountinfo.
const IdxfsType = "fuse.idxfs"
