package index

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Names in the data directory (DESIGN §2).
const (
	lockFile     = "LOCK"
	versionFile  = "VERSION"
	metaDir      = "meta"
	indexesDir   = "indexes"
	snapshotsDir = "snapshots/indexes"
	tmpDir       = "tmp"
	payloadsDir  = "payloads" // created by the task engine; checked here
)

// layoutDirs are the directories of the layout, parents first.
var layoutDirs = []string{metaDir, indexesDir, "snapshots", snapshotsDir, tmpDir, payloadsDir}

// checkNoSymlinks refuses a data dir whose layout directories are anything
// but directories: idxfs empties tmp/ and payloads/ and removes files in
// indexes/ and snapshots/ at start, and must never do that to what a
// symbolic link points at (issue 7). Missing directories are fine (they are
// created after).
func checkNoSymlinks(dir string) error {
	for _, d := range layoutDirs {
		p := filepath.Join(dir, filepath.FromSlash(d))
		st, err := os.Lstat(p)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			continue
		case err != nil:
			return err
		case st.Mode()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			return fmt.Errorf("data dir %s: %s is a symbolic link (to %s); idxfs never follows symbolic links in its data dir, so that it cannot empty or serve what they point at: replace it with a directory: %w",
				dir, d, target, ErrUnsafeDataDir)
		case !st.IsDir():
			return fmt.Errorf("data dir %s: %s is not a directory (%s): %w", dir, d, st.Mode().Type(), ErrUnsafeDataDir)
		}
	}
	return nil
}

// checkVersion reads DATA/VERSION. A missing file is written (unless
// readOnly) if the data dir holds nothing but LOCK and the layout's own empty
// directories; a newer version is refused.
func checkVersion(dir string, readOnly bool) error {
	path := filepath.Join(dir, versionFile)
	data, err := os.ReadFile(path)
	switch {
	case err == nil:
		v, perr := strconv.Atoi(strings.TrimSpace(string(data)))
		if perr != nil || v < 1 {
			return fmt.Errorf("data dir %s: VERSION holds %q, not a version number: %w", dir, clip(string(data)), ErrDataDirVersion)
		}
		if v > DataDirVersion {
			return fmt.Errorf("data dir %s has version %d; this build understands versions up to %d: %w", dir, v, DataDirVersion, ErrDataDirVersion)
		}
		return nil
	case !errors.Is(err, fs.ErrNotExist):
		return err
	}
	if readOnly {
		return fmt.Errorf("data dir %s has no VERSION file: %w", dir, ErrDataDirVersion)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if e.Name() != lockFile && !strings.HasPrefix(e.Name(), versionFile+".tmp") {
			return fmt.Errorf("data dir %s is not empty and has no VERSION file; refusing to use it: %w", dir, ErrDataDirVersion)
		}
	}
	return writeFileAtomic(path, []byte(strconv.Itoa(DataDirVersion)+"\n"), 0o644)
}

// writeFileAtomic writes data to path through a temporary file in the same
// directory: write, fsync, rename, fsync the directory.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after the rename
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	return syncDir(dir)
}

// syncDir fsyncs a directory, making renames and removals in it durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}

// renameDurable renames oldpath to newpath and fsyncs both parents.
func renameDurable(oldpath, newpath string) error {
	if err := os.Rename(oldpath, newpath); err != nil {
		return err
	}
	if err := syncDir(filepath.Dir(newpath)); err != nil {
		return err
	}
	if filepath.Dir(oldpath) != filepath.Dir(newpath) {
		return syncDir(filepath.Dir(oldpath))
	}
	return nil
}

// emptyDir removes everything in dir.
func emptyDir(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	return nil
}

// newID returns a fresh database directory name: 16 random hex digits.
func newID() string {
	var b [8]byte
	rand.Read(b[:]) // never fails (crypto/rand since Go 1.24)
	return hex.EncodeToString(b[:])
}

// validID reports whether s looks like a name newID returns.
func validID(s string) bool {
	if len(s) != 16 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil && bytes.Equal([]byte(s), bytes.ToLower([]byte(s)))
}
