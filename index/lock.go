package index

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// LockInfo is what LOCK records about its holder.
type LockInfo struct {
	PID        int       `json:"pid"`
	Mountpoint string    `json:"mountpoint,omitempty"`
	Since      time.Time `json:"since"`
}

// ReadLockInfo reads what DATA/LOCK records, without taking the lock. A LOCK
// that records nothing (no Store holds it, or its holder has not written it
// yet) gives the zero LockInfo.
func ReadLockInfo(dir string) (LockInfo, error) {
	data, err := os.ReadFile(filepath.Join(dir, lockFile))
	if err != nil {
		return LockInfo{}, err
	}
	return parseLockInfo(dir, data)
}

func parseLockInfo(dir string, data []byte) (LockInfo, error) {
	var info LockInfo
	if len(data) == 0 {
		return info, nil
	}
	if err := json.Unmarshal(data, &info); err != nil {
		return LockInfo{}, fmt.Errorf("data dir %s: LOCK holds %q: %v", dir, clip(string(data)), err)
	}
	return info, nil
}

// lockDataDir opens DATA/LOCK (creating it unless readOnly), takes an
// exclusive flock on it without waiting and records info in it. If another
// open file description holds the lock, the error is a *LockedError naming
// the holder as LOCK records it.
func lockDataDir(dir string, readOnly bool, info LockInfo) (*os.File, error) {
	flag := os.O_RDWR
	if !readOnly {
		flag |= os.O_CREATE
	}
	path := filepath.Join(dir, lockFile)
	f, err := os.OpenFile(path, flag, 0o644)
	if err != nil {
		return nil, fmt.Errorf("data dir %s: %w", dir, err)
	}
	if err := flock(f); err != nil {
		f.Close()
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("data dir %s: lock %s: %w", dir, path, err)
		}
		return nil, &LockedError{Dir: dir, Holder: readHolder(dir)}
	}
	// The pid is for messages; the flock is the lock. On a full disk it
	// may not be written (a read-only command must work there).
	if err := writeLockInfo(f, info); err != nil && !isNoSpace(err) {
		f.Close() // releases the flock
		return nil, fmt.Errorf("data dir %s: %w", dir, err)
	}
	return f, nil
}

func flock(f *os.File) error {
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err != syscall.EINTR {
			return err
		}
	}
}

// readHolder reads the holder's LockInfo, retrying briefly: the holder
// writes it just after taking the lock, and a reader may see it empty or
// half written.
func readHolder(dir string) LockInfo {
	for range 20 {
		info, err := ReadLockInfo(dir)
		if err == nil && info.PID != 0 {
			return info
		}
		time.Sleep(5 * time.Millisecond)
	}
	return LockInfo{}
}

// writeLockInfo replaces LOCK's content in place: the lock belongs to the
// inode, so LOCK is never renamed.
func writeLockInfo(f *os.File, info LockInfo) error {
	var data []byte
	if info.PID != 0 {
		var err error
		if data, err = json.Marshal(info); err != nil {
			return err
		}
		data = append(data, '\n')
	}
	if _, err := f.WriteAt(data, 0); err != nil {
		return err
	}
	if err := f.Truncate(int64(len(data))); err != nil {
		return err
	}
	return f.Sync()
}
