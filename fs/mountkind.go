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
	typ, _, err := mountEntry(path)
	return typ, err
}

// MountSource returns the source of what is mounted at path, as
// MountType finds it: for an idxfs mount, "idxfs:" and the data dir's
// absolute path.
func MountSource(path string) (string, error) {
	_, src, err := mountEntry(path)
	return src, err
}

// mountEntry returns the type and source of the topmost mount at path.
func mountEntry(path string) (typ, src string, err error) {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return "", "", err
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 5 || unescapeMountinfo(f[4]) != path {
			continue
		}
		for i := 5; i+1 < len(f); i++ {
			if f[i] == "-" {
				typ, src = f[i+1], "" // a later line is a mount on top of it
				if i+2 < len(f) {
					src = unescapeMountinfo(f[i+2])
				}
				break
			}
		}
	}
	return typ, src, nil
}

// IdxfsType is the filesystem type of an idxfs mount in mountinfo.
const IdxfsType = "fuse.idxfs"
