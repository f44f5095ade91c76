package index

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// LockInfo is what LOCK records about its holder.
type LockInfo struct {
	PID        int       `json:"pid"`
	Mountpoint string    `json:"mountpoint,omitempty"`
	Since      time.Time `json:"since"`
	// Command is the holder's command line, from /proc when a
	// LockedError is made (not recorded in LOCK); "" if unknown.
	Command string `json:"-"`
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

// lockPoll is how often a waiting lockDataDir tries the lock again.
const lockPoll = 50 * time.Millisecond

// lockDataDir opens DATA/LOCK (creating it unless readOnly), takes an
// exclusive flock on it and records info in it. If another open file
// description holds the lock, it tries again every lockPoll for up to
// w.Wait, unless the holder is a mount (LOCK names a mountpoint: it holds
// the data dir until unmounted, so waiting is pointless); then the error is
// a *LockedError naming the holder as LOCK records it.
func lockDataDir(dir string, readOnly bool, info LockInfo, w lockWait) (*os.File, error) {
	flag := os.O_RDWR
	if !readOnly {
		flag |= os.O_CREATE
	}
	path := filepath.Join(dir, lockFile)
	f, err := os.OpenFile(path, flag, 0o644)
	if err != nil {
		return nil, fmt.Errorf("data dir %s: %w", dir, err)
	}
	if err := w.flock(f, dir); err != nil {
		f.Close()
		if !errors.Is(err, ErrLocked) {
			return nil, fmt.Errorf("data dir %s: lock %s: %w", dir, path, err)
		}
		return nil, err
	}
	// The pid is for messages; the flock is the lock. On a full disk it
	// may not be written (a read-only command must work there).
	if err := writeLockInfo(f, info); err != nil && !isNoSpace(err) {
		f.Close() // releases the flock
		return nil, fmt.Errorf("data dir %s: %w", dir, err)
	}
	return f, nil
}

// lockWait is how long lockDataDir waits for a lock another process holds
// (Options.LockWait), and whom it tells that it waits.
type lockWait struct {
	Wait   time.Duration
	OnWait func(holder LockInfo, wait time.Duration)
}

// flock takes the lock of f, waiting as w says. A lock held by another
// gives a *LockedError.
func (w lockWait) flock(f *os.File, dir string) error {
	start := time.Now()
	for told := false; ; told = true {
		err := flock(f)
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			return err
		}
		holder := readHolder(dir)
		waited := time.Since(start)
		if holder.Mountpoint != "" || waited >= w.Wait {
			return &LockedError{Dir: dir, Holder: holder, Waited: roundWait(waited)}
		}
		if !told && w.OnWait != nil {
			w.OnWait(holder, w.Wait)
		}
		time.Sleep(min(lockPoll, w.Wait-waited))
	}
}

// roundWait rounds a wait for a message: "waited 2s", not "2.003s".
func roundWait(d time.Duration) time.Duration {
	if d >= time.Second {
		return d.Round(100 * time.Millisecond)
	}
	return d.Round(10 * time.Millisecond)
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
// half written. Its command line comes from /proc, if the holder is still
// there to be read.
func readHolder(dir string) LockInfo {
	for range 20 {
		info, err := ReadLockInfo(dir)
		if err == nil && info.PID != 0 {
			info.Command = commandLine(info.PID)
			return info
		}
		time.Sleep(5 * time.Millisecond)
	}
	return LockInfo{}
}

// commandLine is process pid's command line, its arguments joined by
// spaces and clipped to maxCommand bytes, or "" if /proc does not say.
func commandLine(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return ""
	}
	args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
	if len(args) > 0 && args[0] != "" {
		args[0] = filepath.Base(args[0])
	}
	c := strings.Join(args, " ")
	if len(c) > maxCommand {
		c = c[:maxCommand] + "..."
	}
	return c
}

// maxCommand is as much of a holder's command line as a message shows.
const maxCommand = 300

// HeldBy reports the holder of dir's LOCK, without taking the lock for
// longer than a try: ok is false once no process holds it (or there is no
// LOCK). idxfs unmount waits on it for the daemon to let go.
func HeldBy(dir string) (holder LockInfo, ok bool, err error) {
	f, err := os.Open(filepath.Join(dir, lockFile))
	if errors.Is(err, os.ErrNotExist) {
		return LockInfo{}, false, nil
	}
	if err != nil {
		return LockInfo{}, false, fmt.Errorf("data dir %s: %w", dir, err)
	}
	defer f.Close() // releases the flock if this took it
	switch err := flock(f); {
	case err == nil:
		return LockInfo{}, false, nil
	case errors.Is(err, syscall.EWOULDBLOCK):
		return readHolder(dir), true, nil
	default:
		return LockInfo{}, false, fmt.Errorf("data dir %s: lock: %w", dir, err)
	}
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
