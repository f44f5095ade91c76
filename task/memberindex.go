package task

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/idxfs/idxfs/snapshot"
)

// Each stored snapshot NAME.idx.snapshot the store wrote has its member
// index next to it, NAME.idx.snapshot.members (JSON, snapshot.MemberIndex
// with the database id): where each file's members lie, what the next
// snapshot of the same database needs to copy them instead of compressing
// the file again. It is linked in before its archive and removed with it;
// one without its archive is removed at start, and one that does not match
// its archive (size, database, bytes) is not used.

// memberIndexSuffix ends the member index's name after the archive's.
const memberIndexSuffix = ".members"

// maxMemberIndexSize bounds what is read of a member index (about 200
// bytes a file).
const maxMemberIndexSize = 64 << 20

func memberIndexPath(archive string) string { return archive + memberIndexSuffix }

// writeMemberIndexTmp writes ix to a new file in dir, synced, mode
// StoredMode, and returns its path.
func writeMemberIndexTmp(dir string, ix snapshot.MemberIndex) (string, error) {
	b, err := json.Marshal(ix)
	if err != nil {
		return "", err
	}
	f, err := os.CreateTemp(dir, "snapshot-members-*.tmp")
	if err != nil {
		return "", err
	}
	_, err = f.Write(append(b, '\n'))
	if err == nil {
		err = f.Chmod(StoredMode)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return "", err
	}
	return f.Name(), nil
}

// readMemberIndex reads the member index of the stored archive at path,
// which must be size bytes.
func readMemberIndex(archive string, size int64) (snapshot.MemberIndex, error) {
	var ix snapshot.MemberIndex
	f, err := OpenStored(memberIndexPath(archive))
	if err != nil {
		return ix, err
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil {
		return ix, err
	} else if fi.Size() > maxMemberIndexSize {
		return ix, fmt.Errorf("%s: %d bytes, more than a member index takes", f.Name(), fi.Size())
	}
	if err := json.NewDecoder(f).Decode(&ix); err != nil {
		return ix, fmt.Errorf("%s: %w", f.Name(), err)
	}
	if ix.ArchiveSize != size {
		return ix, fmt.Errorf("%s: for an archive of %d bytes, not %d", f.Name(), ix.ArchiveSize, size)
	}
	return ix, nil
}

// removeStored removes a stored archive and its member index.
func removeStored(archive string) error {
	err := os.Remove(archive)
	if rerr := os.Remove(memberIndexPath(archive)); rerr != nil && !errors.Is(rerr, os.ErrNotExist) && err == nil {
		err = rerr
	}
	return err
}

// removeOrphanIndexes removes the member indexes of uid's directory whose
// archive is missing (a crash between their links, or an archive removed by
// hand).
func (s *snapStore) removeOrphanIndexes(uid string) {
	dir := filepath.Join(s.dir, uid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		archive, ok := strings.CutSuffix(e.Name(), memberIndexSuffix)
		if !ok || !storedFileName(archive) {
			continue
		}
		if _, err := os.Lstat(filepath.Join(dir, archive)); errors.Is(err, os.ErrNotExist) {
			p := filepath.Join(dir, e.Name())
			if err := os.Remove(p); err == nil {
				s.log.Info("removed a snapshot member index without its archive", "path", p)
			}
		}
	}
}

// reusable returns the newest stored snapshot of uid as a source of members
// for a snapshot of database dbID, or nil (with the reason) if there is
// none usable: none at all, no member index, another database (an index
// re-created or imported under the same name). The caller closes the file.
func (s *snapStore) reusable(uid, dbID string) (*snapshot.Reusable, error) {
	s.mu.Lock()
	st, ok := s.newest[uid]
	s.mu.Unlock()
	if !ok {
		return nil, errors.New("no stored snapshot")
	}
	f, err := OpenStored(st.Path)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	ix, err := readMemberIndex(st.Path, fi.Size())
	if err != nil {
		f.Close()
		return nil, err
	}
	if ix.DatabaseID != dbID {
		f.Close()
		return nil, fmt.Errorf("%s is of another database (%q, not %q)", st.Path, ix.DatabaseID, dbID)
	}
	return &snapshot.Reusable{File: f, Index: ix}, nil
}
