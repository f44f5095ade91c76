package task

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// PrunePolicy says which stored snapshots `snapshot prune` keeps, after
// restic's forget policy: a snapshot is kept if any rule keeps it, and
// every rule applies to each index's snapshots on their own. A policy with
// no rule keeps nothing, so PruneSnapshots refuses it rather than delete
// every snapshot.
type PrunePolicy struct {
	// KeepLast keeps the newest KeepLast snapshots of each index (0: no
	// such rule).
	KeepLast int
	// KeepWithin keeps the snapshots of each index created within
	// KeepWithin of that index's newest snapshot (restic's --keep-within:
	// measured from the newest snapshot, not from now, so that an index
	// that stopped changing, or was deleted, keeps its last ones). 0: no
	// such rule.
	KeepWithin time.Duration
}

// Empty reports whether p has no rule.
func (p PrunePolicy) Empty() bool { return p.KeepLast <= 0 && p.KeepWithin <= 0 }

// PruneDecision is what prune does with one stored snapshot, and why.
type PruneDecision struct {
	ID        string    `json:"id"`
	ShortID   string    `json:"shortId"`
	IndexUID  string    `json:"indexUid"`
	Path      string    `json:"path"`
	Size      int64     `json:"size"`
	CreatedAt time.Time `json:"createdAt"`
	// IndexExists is false for the snapshots of an index that was
	// deleted: the same rules judge them.
	IndexExists bool     `json:"indexExists"`
	Keep        bool     `json:"keep"`
	Reasons     []string `json:"reasons"` // the rules that keep it; none if it goes
	Removed     bool     `json:"removed"` // it was deleted (false with --dry-run)
}

// Judge applies p to files, which may be of several indexes (each judged on
// its own), and returns a decision per file, in the order of files. A file's
// creation time is the one in its name (the store's own record: no archive
// is read), or its mtime. IndexExists is left to the caller.
func Judge(files []StoredFile, p PrunePolicy) []PruneDecision {
	out := make([]PruneDecision, len(files))
	byIndex := map[string][]int{}
	for i, f := range files {
		id := f.ID
		if id == "" {
			id = SnapshotID(f.Name)
		}
		out[i] = PruneDecision{ID: id, ShortID: id[:ShortIDLen], IndexUID: f.IndexUID, Path: f.Path, Size: f.Size, CreatedAt: f.createdAt(), Reasons: []string{}}
		byIndex[f.IndexUID] = append(byIndex[f.IndexUID], i)
	}
	for _, idx := range byIndex {
		// Newest first.
		slices.SortStableFunc(idx, func(a, b int) int { return out[b].CreatedAt.Compare(out[a].CreatedAt) })
		newest := out[idx[0]].CreatedAt
		for rank, i := range idx {
			d := &out[i]
			if rank < p.KeepLast {
				d.Reasons = append(d.Reasons, fmt.Sprintf("last %d", p.KeepLast))
			}
			if p.KeepWithin > 0 && newest.Sub(d.CreatedAt) <= p.KeepWithin {
				d.Reasons = append(d.Reasons, "within "+FormatKeepDuration(p.KeepWithin)+" of the newest")
			}
			d.Keep = len(d.Reasons) > 0
		}
	}
	return out
}

// ErrNoPruneRule: a prune with no rule would delete every snapshot.
var errNoPruneRule = fmt.Errorf("%w: prune needs a rule (--keep-last N or --keep-within DURATION); with none it would delete every snapshot", ErrInvalid)

// PruneSnapshots applies p to the stored snapshots of index uid, or of every
// directory of the store for uid "" (deleted indexes' included), and deletes
// those no rule keeps, unless dryRun. It returns every snapshot judged with
// its decision, oldest first within an index.
func (e *Engine) PruneSnapshots(p PrunePolicy, uid string, dryRun bool) ([]PruneDecision, error) {
	if p.Empty() {
		return nil, errNoPruneRule
	}
	files, err := e.SnapshotFiles(uid)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("index %q: %w: it has none in the store (see `idxfs snapshot list`)", uid, ErrStoredSnapshotNotFound)
	} else if err != nil {
		return nil, err
	}
	return Prune(files, p, dryRun, e.store.Exists, e.DeleteSnapshot)
}

// Prune judges files by p (Judge), records whether each one's index exists,
// and deletes with del those no rule keeps, unless dryRun. A file that del
// finds gone already (ErrStoredSnapshotNotFound, os.ErrNotExist) is passed
// over; any other error stops it.
func Prune(files []StoredFile, p PrunePolicy, dryRun bool, exists func(uid string) bool, del func(StoredFile) error) ([]PruneDecision, error) {
	if p.Empty() {
		return nil, errNoPruneRule
	}
	ds := Judge(files, p)
	for i := range ds {
		ds[i].IndexExists = exists(ds[i].IndexUID)
		if ds[i].Keep || dryRun {
			continue
		}
		err := del(files[i])
		if errors.Is(err, ErrStoredSnapshotNotFound) || errors.Is(err, os.ErrNotExist) {
			continue // gone meanwhile
		} else if err != nil {
			return ds, err
		}
		ds[i].Removed = true
	}
	return ds, nil
}

// ParseKeepDuration parses a --keep-within duration: Go's durations (90m,
// 36h) and whole days and weeks before them (7d, 2w, 1d12h).
func ParseKeepDuration(s string) (time.Duration, error) {
	rest, total := s, time.Duration(0)
	for _, u := range []struct {
		suffix byte
		d      time.Duration
	}{{'w', 7 * 24 * time.Hour}, {'d', 24 * time.Hour}} {
		i := strings.IndexByte(rest, u.suffix)
		if i < 0 {
			continue
		}
		n, err := strconv.Atoi(rest[:i])
		if err != nil || n < 0 {
			return 0, fmt.Errorf("%w: duration %q: want e.g. 7d, 2w, 36h or 1d12h", ErrInvalid, s)
		}
		total += time.Duration(n) * u.d
		rest = rest[i+1:]
	}
	if rest != "" {
		d, err := time.ParseDuration(rest)
		if err != nil || d < 0 {
			return 0, fmt.Errorf("%w: duration %q: want e.g. 7d, 2w, 36h or 1d12h", ErrInvalid, s)
		}
		total += d
	}
	if total <= 0 {
		return 0, fmt.Errorf("%w: duration %q: must be more than 0", ErrInvalid, s)
	}
	return total, nil
}

// FormatKeepDuration prints d as ParseKeepDuration reads it, in days where
// it is whole days.
func FormatKeepDuration(d time.Duration) string {
	day := 24 * time.Hour
	if d%day == 0 {
		return fmt.Sprintf("%dd", d/day)
	}
	if d > day {
		return fmt.Sprintf("%dd%s", d/day, d%day)
	}
	return d.String()
}
