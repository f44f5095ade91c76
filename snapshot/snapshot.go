package snapshot

import (
	"context"
	"errors"
	"time"
)

// Sentinel errors; test with errors.Is.
var (
	// ErrCorrupt: the input is not a valid archive of this format (not gzip,
	// not tar, truncated, checksum or size mismatch, missing or inconsistent
	// metadata, forbidden entries, duplicates).
	ErrCorrupt = errors.New("corrupt archive")
	// ErrIncompatible: a valid-looking archive of a newer format version or
	// pebble format than this build supports.
	ErrIncompatible = errors.New("incompatible archive")
	// ErrTooLarge: the archive would expand past the configured limit. (Past
	// the free disk space, Extract's error wraps syscall.ENOSPC instead.)
	ErrTooLarge = errors.New("archive too large")
)

// Format identification written into every archive's metadata.
const (
	FormatName    = "idxfs-index-snapshot"
	FormatVersion = 1
)

// Metadata is the archive's first entry (JSON).
type Metadata struct {
	Format              string     `json:"format"`
	FormatVersion       int        `json:"formatVersion"`
	IdxfsVersion        string     `json:"idxfsVersion"`
	IndexUID            string     `json:"indexUid"`
	PrimaryKey          string     `json:"primaryKey,omitempty"`
	Documents           uint64     `json:"numberOfDocuments"`
	IndexVersion        uint64     `json:"indexVersion"`
	IndexUpdatedAt      time.Time  `json:"indexUpdatedAt"`
	CreatedAt           time.Time  `json:"createdAt"`
	PebbleFormatVersion uint64     `json:"pebbleFormatVersion"`
	Files               []FileInfo `json:"files"` // filled in by Write
}

// FileInfo is one file of the index database, relative to index/.
type FileInfo struct {
	Name string `json:"name"`
	Size int64  `json:"size"`
}

// Progress is reported through the Progress callbacks.
type Progress struct {
	BytesDone  int64  // uncompressed bytes of file data processed so far
	BytesTotal int64  // uncompressed bytes of file data in all
	File       string // the file being processed, relative to index/
}

// WriteOptions configure Write. The zero value is valid.
type WriteOptions struct {
	// Level is the gzip level: 1 (fastest) to 9 (smallest), or -2 for
	// Huffman coding only. Default (0): DefaultLevel, chosen from the
	// benchmark (see docs/FORMAT.md).
	Level int
	// Concurrency is how many members are compressed at once. It does not
	// change the output. Default: GOMAXPROCS.
	Concurrency int
	// MemberSize is the most uncompressed bytes a gzip member covers, from
	// 64 KiB to MaxMemberSize. Default (0): DefaultMemberSize (see
	// docs/FORMAT.md).
	MemberSize int
	// Progress, if set, is called about every MiB of file data and once
	// at the end with BytesDone == BytesTotal. Calls do not overlap but may
	// come from a goroutine other than the caller's; keep them short.
	Progress func(Progress)
	// Throttle, if set, is called by compressing goroutine number worker
	// (0 to Concurrency-1) before it takes each member; the goroutine waits
	// until it returns. Its ctx ends when the last member has been handed
	// out or the Write is canceled; it must then return (with ctx's error).
	// It lets a caller leave cores to other work for a while; it does not
	// change the output.
	Throttle func(ctx context.Context, worker int) error
	// Reuse, if set, is the previous archive of the same database: files
	// of the source with the same name, size and mtime as one of it are
	// not read again, their members are copied from it (docs/FORMAT.md
	// §4, "Reuse"). Anything amiss with it (another encoder, a size or
	// bytes other than its index says) means compressing as usual. The
	// output is the same either way.
	Reuse *Reusable
}

// WriteResult says what Write wrote.
type WriteResult struct {
	Metadata         Metadata
	CompressedSize   int64
	UncompressedSize int64 // file data only
	// Index says where each file's members are, for a later Write's Reuse.
	Index MemberIndex
	// ReusedFiles files, of ReusedBytes bytes of file data, were copied
	// from WriteOptions.Reuse. ReuseNote says why none could be, if so.
	ReusedFiles int
	ReusedBytes int64
	ReuseNote   string
}

// ReadOptions configure Extract and Verify. The zero value is valid.
type ReadOptions struct {
	// MaxExpandedSize is the most bytes of file data an archive may expand
	// to. Default (0): no limit but the free disk space (Extract only).
	MaxExpandedSize int64
	// MaxPebbleFormat is the newest pebble format major version accepted.
	// Default (0): any.
	MaxPebbleFormat uint64
	// Concurrency is how many members are decompressed at once. Default:
	// GOMAXPROCS.
	Concurrency int
	// Progress, if set, is called about every MiB of file data and once
	// at the end with BytesDone == BytesTotal. Calls do not overlap but may
	// come from a goroutine other than the caller's; keep them short.
	Progress func(Progress)
	// OnMetadata, if set, is called with the metadata once it is read and
	// checked, before any file is read or written. An error it returns
	// stops the read and is returned as is (wrapped in nothing).
	OnMetadata func(Metadata) error
}
