package task

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// The snapshot store as a tree of files, for the mount's snapshots/ view:
// what the store finds by name, reading no archive. Snapshots, by contrast,
// lists only the files whose metadata it reads.

// StoreDir is a directory of the snapshot store: the store itself
// (IndexUID "") or the directory of one index.
type StoreDir struct {
	IndexUID string
	Path     string
	ModTime  time.Time
}

// StoredFile is a file of the snapshot store as the store finds it by name,
// reading no archive: a regular file whose name ends in SnapshotSuffix, in
// the directory of its index, which is a real directory (never a symbolic
// link). Whether it is an archive the store wrote is for OpenStored to say:
// a file put there by hand is listed here and refused there.
type StoredFile struct {
	IndexUID string
	Name     string // its name in the index's directory
	Path     string
	Size     int64
	ModTime  time.Time // the file's own mtime (when its archive was complete)
}

// SnapshotDirs lists the indexes that have a directory in the snapshot
// store (deleted indexes' included: their snapshots are backups), sorted.
func (e *Engine) SnapshotDirs() ([]string, error) { return e.snaps.uids() }

// SnapshotDir returns the directory of index uid in the snapshot store, or
// the store itself for uid "". A uid whose directory is missing or is not a
// real directory is ENOENT (an error that is os.ErrNotExist).
func (e *Engine) SnapshotDir(uid string) (StoreDir, error) {
	if uid == "" {
		fi, err := os.Stat(e.snaps.dir)
		if err != nil {
			return StoreDir{}, err
		}
		return StoreDir{Path: e.snaps.dir, ModTime: fi.ModTime()}, nil
	}
	dir, fi, err := e.snaps.indexDir(uid)
	if err != nil {
		return StoreDir{}, err
	}
	return StoreDir{IndexUID: uid, Path: dir, ModTime: fi.ModTime()}, nil
}

// SnapshotFiles lists the stored snapshot files of index uid, or of every
// index for uid "", oldest first within an index, reading no archive. For a
// uid, a missing directory is ENOENT (see SnapshotDir).
func (e *Engine) SnapshotFiles(uid string) ([]StoredFile, error) {
	uids := []string{uid}
	if uid == "" {
		var err error
		if uids, err = e.snaps.uids(); err != nil {
			return nil, err
		}
	} else if _, _, err := e.snaps.indexDir(uid); err != nil {
		return nil, err
	}
	var out []StoredFile
	for _, u := range uids {
		names, err := e.snaps.names(u)
		if err != nil {
			return nil, err
		}
		for _, n := range names {
			f, err := e.snaps.file(u, n)
			if err != nil {
				continue // gone since the directory was read
			}
			out = append(out, f)
		}
	}
	return out, nil
}

// SnapshotFile returns the stored snapshot file name of index uid, reading
// no archive. A name that is no stored snapshot file (no SnapshotSuffix, a
// symbolic link, a directory, missing) is ENOENT.
func (e *Engine) SnapshotFile(uid, name string) (StoredFile, error) {
	if _, _, err := e.snaps.indexDir(uid); err != nil {
		return StoredFile{}, err
	}
	return e.snaps.file(uid, name)
}

// uids lists the directories of the store, sorted (os.ReadDir sorts). A
// symbolic link is no directory.
func (s *snapStore) uids() ([]string, error) {
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("task: snapshot store: %w", err)
	}
	var out []string
	for _, e := range ents {
		if e.IsDir() {
			out = append(out, e.Name())
		}
	}
	return out, nil
}

// notStoredFile is the ENOENT of a path that is not in the store's tree.
func notStoredFile(path string) error {
	return &os.PathError{Op: "lstat", Path: path, Err: syscall.ENOENT}
}

// storedFileName reports whether name is the name of a stored snapshot
// file: the store's one filter by name.
func storedFileName(name string) bool {
	return oneName(name) && strings.HasSuffix(name, SnapshotSuffix)
}

// oneName reports whether name is one plain entry of a directory.
func oneName(name string) bool {
	return name != "" && name != "." && name != ".." && !strings.ContainsRune(name, '/')
}

// indexDir returns the real directory of uid in the store, with its lstat.
func (s *snapStore) indexDir(uid string) (string, os.FileInfo, error) {
	dir := filepath.Join(s.dir, uid)
	if !oneName(uid) {
		return "", nil, notStoredFile(dir)
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return "", nil, err
	}
	if !fi.IsDir() {
		return "", nil, notStoredFile(dir)
	}
	return dir, fi, nil
}

// file returns the stored snapshot file name of uid (whose directory the
// caller checked), by the filter of names.
func (s *snapStore) file(uid, name string) (StoredFile, error) {
	p := filepath.Join(s.dir, uid, name)
	if !storedFileName(name) {
		return StoredFile{}, notStoredFile(p)
	}
	fi, err := os.Lstat(p)
	if errors.Is(err, os.ErrNotExist) || err == nil && !fi.Mode().IsRegular() {
		return StoredFile{}, notStoredFile(p)
	} else if err != nil {
		return StoredFile{}, err
	}
	return StoredFile{IndexUID: uid, Name: name, Path: p, Size: fi.Size(), ModTime: fi.ModTime()}, nil
}
