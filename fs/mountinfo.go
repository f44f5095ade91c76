package fs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// CheckMountpoint reports whether mountpoint can serve the data dir dataDir
// (which need not exist yet), as Mount checks it: it must be an existing
// directory, not inside dataDir, not a stale FUSE mount, not mounted
// already, and (for a normal user) writable, as fusermount3 requires. The
// CLI calls it before it opens anything, so that a mount that cannot mount
// neither runs the task queue nor empties DATA/tmp.
func CheckMountpoint(mountpoint, dataDir string) error {
	mnt, err := filepath.Abs(mountpoint)
	if err != nil {
		return err
	}
	if dataDir, err = filepath.Abs(dataDir); err != nil {
		return err
	}
	return checkMountpoint(mnt, dataDir)
}

// checkMountpoint refuses a mountpoint inside the data dir and reports a
// stale FUSE mount ("transport endpoint is not connected").
func checkMountpoint(mnt, dataDir string) error {
	real := func(p string) string {
		if r, err := filepath.EvalSymlinks(p); err == nil {
			return r
		}
		return p
	}
	rel, err := filepath.Rel(real(dataDir), real(mnt))
	if err == nil && (rel == "." || !strings.HasPrefix(rel, "..")) {
		return fmt.Errorf("mountpoint %s is inside the data dir %s: refused (idxfs would serve its own files to itself)", mnt, dataDir)
	}
	fi, err := os.Stat(mnt)
	switch {
	case errors.Is(err, syscall.ENOTCONN):
		return fmt.Errorf("%w: %s is a dead FUSE mount (transport endpoint is not connected), left by a process that died; clear it with: fusermount3 -u %s (or umount -l %s as root)", ErrStaleMount, mnt, mnt, mnt)
	case errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("mountpoint %s: %w (create it first: mkdir -p %s)", mnt, syscall.ENOENT, mnt)
	case err != nil:
		return fmt.Errorf("mountpoint %s: %w", mnt, err)
	case !fi.IsDir():
		return fmt.Errorf("mountpoint %s: %w", mnt, syscall.ENOTDIR)
	}
	if os.Geteuid() != 0 {
		if err := syscall.Access(mnt, 0x2|0x1); err != nil { // W_OK|X_OK
			return fmt.Errorf("mountpoint %s: no write access (a normal user mounts through fusermount3, which needs it): %w", mnt, err)
		}
	}
	if isMounted(mnt) {
		return fmt.Errorf("mountpoint %s: something is already mounted there", mnt)
	}
	return nil
}

// isMounted reports whether path is a mountpoint, from /proc/self/mountinfo.
func isMounted(path string) bool {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && unescapeMountinfo(f[4]) == path {
			return true
		}
	}
	return false
}

func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			var c byte
			if _, err := fmt.Sscanf(s[i+1:i+4], "%03o", &c); err == nil {
				b.WriteByte(c)
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
