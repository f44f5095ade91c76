package task

import (
	"crypto/sha256"
	"encoding/hex"
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
	ID       string // SnapshotID(Name)
	IndexUID string
	Name     string // its name in the index's directory
	Path     string
	Size     int64
	ModTime  time.Time // the file's own mtime (when its archive was complete)
}

// SnapshotDirs lists the indexes that have a directory in the snapshot
// store (deleted indexes' included: their snapshots are backups), sorted.
func (e *Engine) SnapshotDirs() ([]string, error) {
	e.settle("")
	return e.snaps.uids()
}

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
	e.settle(uid)
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
	e.settle(uid)
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
	return StoredFile{ID: SnapshotID(name), IndexUID: uid, Name: name, Path: p, Size: fi.Size(), ModTime: fi.ModTime()}, nil
}

// storedTimeFormat is the creation time in a stored snapshot's name
// (UID_TIME.idx.snapshot), in UTC.
const storedTimeFormat = "20060102T150405.000000Z"

// ShortIDLen is how many digits of a snapshot id `snapshot list` prints.
const ShortIDLen = 8

// minIDLen is the shortest prefix of an id that ResolveSnapshot takes.
const minIDLen = 4

// SnapshotID is the id of the stored snapshot file named name: the SHA-256
// of the name, in hex. The name holds the index uid and the creation time
// to the microsecond, so the id is stable (it never changes while the file
// is there, reads nothing but the directory) and tells apart every file the
// store writes. Any unique prefix of it names the file, as with git and
// restic.
func SnapshotID(name string) string {
	sum := sha256.Sum256([]byte(name))
	return hex.EncodeToString(sum[:])
}

// createdAt is when the stored file f was created, from its name (the
// store's own record, which needs no archive read), or its mtime for a name
// the store did not make.
func (f StoredFile) createdAt() time.Time {
	base := strings.TrimSuffix(f.Name, SnapshotSuffix)
	if n := len(storedTimeFormat); len(base) > n && base[len(base)-n-1] == '_' {
		if t, err := time.Parse(storedTimeFormat, base[len(base)-n:]); err == nil {
			return t
		}
	}
	return f.ModTime.UTC()
}

// IsSnapshotID reports whether ref has the form of an id or an id's prefix
// that ResolveSnapshot looks up: at least minIDLen lowercase hex digits.
func IsSnapshotID(ref string) bool {
	if len(ref) < minIDLen || len(ref) > sha256.Size*2 {
		return false
	}
	for _, c := range ref {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// ResolveSnapshot finds a stored snapshot file by ref: a path (anything with
// a '/', or the name of a file that exists) must be a stored snapshot file
// of the store; anything else is an id or a unique prefix of one (see
// SnapshotID). A prefix that matches no file is ErrStoredSnapshotNotFound,
// one that matches several is ErrAmbiguousSnapshotID, naming them.
func (e *Engine) ResolveSnapshot(ref string) (StoredFile, error) {
	if _, err := os.Lstat(ref); strings.ContainsRune(ref, '/') || err == nil {
		return e.storedFileAt(ref)
	}
	if !IsSnapshotID(ref) {
		return StoredFile{}, fmt.Errorf("%s: %w: neither a file nor a snapshot id (%d to 64 hex digits, as `idxfs snapshot list` prints them)", ref, ErrStoredSnapshotNotFound, minIDLen)
	}
	files, err := e.SnapshotFiles("")
	if err != nil {
		return StoredFile{}, err
	}
	return FindSnapshot(files, ref)
}

// FindSnapshot returns the one file of files whose id begins with prefix:
// ErrStoredSnapshotNotFound if none does, ErrAmbiguousSnapshotID (naming
// them) if several do.
func FindSnapshot(files []StoredFile, prefix string) (StoredFile, error) {
	var found []StoredFile
	for _, f := range files {
		if strings.HasPrefix(f.ID, prefix) {
			found = append(found, f)
		}
	}
	switch len(found) {
	case 0:
		return StoredFile{}, fmt.Errorf("snapshot id %s: %w (see `idxfs snapshot list`)", prefix, ErrStoredSnapshotNotFound)
	case 1:
		return found[0], nil
	}
	var names []string
	for _, f := range found {
		names = append(names, f.ID[:ShortIDLen+4]+" "+f.Path)
	}
	return StoredFile{}, fmt.Errorf("snapshot id %s: %w: it begins %d ids (%s); give more digits",
		prefix, ErrAmbiguousSnapshotID, len(found), strings.Join(names, ", "))
}

// storedFileAt returns the stored snapshot file at path, which must be in
// the store's tree: DATA/snapshots/indexes/UID/NAME.
func (e *Engine) storedFileAt(path string) (StoredFile, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return StoredFile{}, err
	}
	rel, err := filepath.Rel(e.snaps.dir, abs)
	uid, name := filepath.Split(rel)
	uid = strings.TrimSuffix(uid, "/")
	if err != nil || !oneName(uid) || !oneName(name) || uid == ".." {
		return StoredFile{}, fmt.Errorf("%s: %w: not a file of the snapshot store (%s)", path, ErrStoredSnapshotNotFound, e.snaps.dir)
	}
	f, err := e.SnapshotFile(uid, name)
	if err != nil {
		return StoredFile{}, fmt.Errorf("%s: %w", path, ErrStoredSnapshotNotFound)
	}
	return f, nil
}

// DeleteSnapshot removes the stored snapshot file f from the store: the
// file is unlinked and the directory synced, so that the removal survives a
// crash; a reader that has it open reads on (unlink semantics). An index's
// directory left empty goes too, unless the index exists. A file that is
// gone already is ErrStoredSnapshotNotFound.
func (e *Engine) DeleteSnapshot(f StoredFile) error {
	s := e.snaps
	s.mu.Lock()
	defer s.mu.Unlock()
	dir := filepath.Join(s.dir, f.IndexUID)
	if err := removeStored(f.Path); errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%s: %w", f.Path, ErrStoredSnapshotNotFound)
	} else if err != nil {
		return fmt.Errorf("delete snapshot: %w", err)
	}
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("delete snapshot: %w", err)
	}
	s.log.Info("deleted stored snapshot", "index", f.IndexUID, "path", f.Path)
	if cur, ok := s.newest[f.IndexUID]; ok && cur.Path == f.Path {
		delete(s.newest, f.IndexUID)
		s.loadNewestLocked(f.IndexUID)
	}
	if _, ok := s.newest[f.IndexUID]; !ok && !e.store.Exists(f.IndexUID) {
		if names, err := s.names(f.IndexUID); err == nil && len(names) == 0 && os.Remove(dir) == nil {
			syncDir(s.dir)
		}
	}
	return nil
}
