package fs

import (
	"hash/fnv"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"
)

// ino returns a stable inode number for a node kind and key, below the
// automatic range go-fuse hands out (from 2^63).
func ino(kind, key string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(kind))
	h.Write([]byte{0})
	h.Write([]byte(key))
	return h.Sum64()&(1<<63-1) | 1
}

// setTimes sets all three times of an attr.
func setTimes(a *fuse.Attr, t time.Time) {
	a.SetTimes(&t, &t, &t)
}

// Modes. Every entry of the mount shows its nominal mode (directories
// 0755, read-only files 0444, documents.ndjson 0644) masked by the
// permission bits of the data dir, read at mount time: with the default
// data dir mode 0700, the mount is the owner's alone (0700, 0400, 0600);
// a data dir made 0750 lets its group read (0750, 0440, 0640), never write.
// With --allow-other the kernel enforces these modes (default_permissions),
// against the daemon's uid and gid as owner.
const (
	dirMode      = 0o755
	readOnlyMode = 0o444
)

// dirAttr fills a directory's attributes.
func (m *mountState) dirAttr(a *fuse.Attr, mtime time.Time, nlink uint32) {
	a.Mode = syscall.S_IFDIR | dirMode&m.perm
	a.Nlink = nlink
	setTimes(a, mtime)
}

// fileAttr fills a regular file's attributes; mode is its nominal mode,
// which the data dir's permission bits mask.
func (m *mountState) fileAttr(a *fuse.Attr, mode uint32, size int64, mtime time.Time) {
	a.Mode = syscall.S_IFREG | mode&m.perm
	a.Nlink = 1
	a.Size = uint64(size)
	a.Blocks = (uint64(size) + 511) / 512
	a.Blksize = ioBlockSize
	setTimes(a, mtime)
}

// ioBlockSize is the st_blksize of regular files: tools such as cp size
// their buffers by it, and one FUSE request of up to MaxWrite bytes costs
// much the same as a small one.
const ioBlockSize = 1 << 20
