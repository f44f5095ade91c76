package fs

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/idxfs/idxfs/index"
	"github.com/idxfs/idxfs/task"
)

// DefaultImportGrace is the default of Options.ImportGrace.
const DefaultImportGrace = 30 * time.Second

// Options configure Mount. Store and Engine are required.
type Options struct {
	// Store is the open data dir. Mount records the mountpoint in its LOCK.
	Store *index.Store
	// Engine runs the tasks; Mount does not start or close it.
	Engine *task.Engine
	// Logger receives the mount's logs (per-operation ones at Debug).
	// Default: discard.
	Logger *slog.Logger
	// Version is shown in the status files. Default: "dev".
	Version string
	// AllowOther lets other users than the one who mounts use the mount
	// (FUSE allow_other), as far as the modes allow: the kernel then checks
	// them (default_permissions). Owner is the daemon's uid and gid; modes
	// derive from the data dir's (see dirAttr). Default: false.
	AllowOther bool
	// ExactStat makes lookup and getattr of a stale snapshot.tar.gz wait for
	// a fresh snapshot, for tools that trust lstat. Off by default: it makes
	// `ls -l` snapshot every index (DESIGN §4).
	ExactStat bool
	// ImportGrace is how long a committed import/NAME stays visible, so
	// that the attribute changes cp -a, mv and rsync make after close
	// succeed. Default: DefaultImportGrace.
	ImportGrace time.Duration
	// TaskFiles is how many of the newest tasks tasks/ lists (any task can
	// be looked up by uid). Default: 100.
	TaskFiles int
	// Debug logs every FUSE request (go-fuse's debug output).
	Debug bool
}

func (o *Options) ensureDefaults() {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Version == "" {
		o.Version = "dev"
	}
	if o.ImportGrace <= 0 {
		o.ImportGrace = DefaultImportGrace
	}
	if o.TaskFiles <= 0 {
		o.TaskFiles = 100
	}
}

// Server is a mounted idxfs.
type Server struct {
	srv        *fuse.Server
	mountpoint string
	m          *mountState
	unmountMu  sync.Mutex
}

// ErrStaleMount: the mountpoint is a dead FUSE mount left by a crash.
var ErrStaleMount = errors.New("fs: stale mount")

// Mount mounts the tree of DESIGN §3 at mountpoint and serves it in the
// background; Wait blocks until it is unmounted. A mountpoint inside the data
// dir is refused (the daemon would serve its own files to itself), and a
// stale mount left by a crash is reported with how to clear it.
func Mount(mountpoint string, opts Options) (*Server, error) {
	opts.ensureDefaults()
	if opts.Store == nil || opts.Engine == nil {
		return nil, errors.New("fs: Options.Store and Options.Engine are required")
	}
	mnt, err := filepath.Abs(mountpoint)
	if err != nil {
		return nil, err
	}
	if err := checkMountpoint(mnt, opts.Store.Dir()); err != nil {
		return nil, err
	}
	st, err := os.Stat(opts.Store.Dir())
	if err != nil {
		return nil, err
	}
	m := newMountState(opts)
	m.perm = uint32(st.Mode().Perm())
	root := &rootNode{m: m}
	zero := time.Duration(0)
	fopts := &gofs.Options{
		MountOptions: fuse.MountOptions{
			AllowOther:    opts.AllowOther,
			FsName:        "idxfs:" + opts.Store.Dir(),
			Name:          "idxfs",
			MaxWrite:      1 << 20,
			MaxReadAhead:  1 << 20,
			DisableXAttrs: true,
			Debug:         opts.Debug,
			// O_TRUNC reaches Open instead of arriving as a separate
			// truncate, so documents.ndjson can tell a replace from an
			// append.
			ExtraCapabilities: fuse.CAP_ATOMIC_O_TRUNC,
			Logger:            log.New(slogWriter{opts.Logger}, "", 0),
			// As root, mount(2) directly: no fusermount3 needed. go-fuse
			// falls back to fusermount3 if that fails, and unmounts the
			// same way (umount2, then fusermount3).
			DirectMount: os.Geteuid() == 0,
		},
		// Timeouts are set per node; nothing is cached by default and no
		// lookup failure is cached at all.
		EntryTimeout:    &zero,
		AttrTimeout:     &zero,
		NegativeTimeout: &zero,
		UID:             uint32(os.Getuid()),
		GID:             uint32(os.Getgid()),
		Logger:          log.New(slogWriter{opts.Logger}, "", 0),
	}
	if opts.AllowOther {
		// Other users get what the modes allow, and no more.
		fopts.MountOptions.Options = append(fopts.MountOptions.Options, "default_permissions")
	}
	srv, err := gofs.Mount(mnt, root, fopts)
	if err != nil {
		return nil, fmt.Errorf("mount %s: %w", mnt, err)
	}
	if err := opts.Store.SetMountpoint(mnt); err != nil {
		srv.Unmount()
		return nil, err
	}
	opts.Logger.Info("mounted", "path", mnt, "passthrough", srv.KernelSettings().Flags64()&fuse.CAP_PASSTHROUGH != 0)
	return &Server{srv: srv, mountpoint: mnt, m: m}, nil
}

// Wait blocks until the file system is unmounted.
func (s *Server) Wait() { s.srv.Wait() }

// Mountpoint returns the absolute mountpoint.
func (s *Server) Mountpoint() string { return s.mountpoint }

// Unmount unmounts, retrying while the kernel says the mount is busy, and
// detaching it lazily as a last resort. It is idempotent.
func (s *Server) Unmount() error {
	s.unmountMu.Lock()
	defer s.unmountMu.Unlock()
	defer s.m.close()
	var err error
	for i := 0; i < 20; i++ {
		if err = s.srv.Unmount(); err == nil || !isMounted(s.mountpoint) {
			s.m.opts.Store.SetMountpoint("")
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	if derr := syscall.Unmount(s.mountpoint, syscall.MNT_DETACH); derr == nil {
		s.m.opts.Store.SetMountpoint("")
		s.srv.Wait()
		return nil
	}
	return fmt.Errorf("unmount %s: %w", s.mountpoint, err)
}

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

// mountState is what every node of one mount shares.
type mountState struct {
	opts    Options
	log     *slog.Logger
	store   *index.Store
	engine  *task.Engine
	started time.Time // the mount time: mtime of the static directories
	perm    uint32    // the data dir's permission bits: they mask every mode

	imports *importTable // import/ entries
	exports *exportCache // exports of documents.ndjson
	dirMu   sync.Mutex   // guards indexesMtime
	idxMod  time.Time    // last time an index appeared or went (indexes/ mtime)
	ctx     context.Context
	cancel  context.CancelFunc
}

func newMountState(opts Options) *mountState {
	ctx, cancel := context.WithCancel(context.Background())
	m := &mountState{
		opts: opts, log: opts.Logger, store: opts.Store, engine: opts.Engine,
		started: time.Now(), idxMod: time.Now(), ctx: ctx, cancel: cancel,
	}
	m.imports = newImportTable(m)
	m.exports = newExportCache(m)
	return m
}

// close ends what the mount runs in the background.
func (m *mountState) close() {
	m.cancel()
	m.imports.close()
	m.exports.close()
}

func (m *mountState) touchIndexes() {
	m.dirMu.Lock()
	m.idxMod = time.Now()
	m.dirMu.Unlock()
}

func (m *mountState) indexesMtime() time.Time {
	m.dirMu.Lock()
	defer m.dirMu.Unlock()
	return m.idxMod
}

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

// slogWriter turns go-fuse's log.Logger lines into slog warnings.
type slogWriter struct{ l *slog.Logger }

func (w slogWriter) Write(p []byte) (int, error) {
	w.l.Warn(strings.TrimSpace(string(p)), "op", "fuse")
	return len(p), nil
}

// rootNode is MOUNT/.
type rootNode struct {
	gofs.Inode
	refusingDir
	m *mountState
}

var _ = (gofs.NodeOnAdder)((*rootNode)(nil))

// OnAdd builds the fixed part of the tree.
func (r *rootNode) OnAdd(ctx context.Context) {
	m := r.m
	add := func(name string, node gofs.InodeEmbedder, mode uint32) {
		ch := r.NewPersistentInode(ctx, node, gofs.StableAttr{Mode: mode, Ino: ino("root", name)})
		r.AddChild(name, ch, false)
	}
	add("status", &genFile{m: m, gen: m.rootStatusText}, syscall.S_IFREG)
	add("status.json", &genFile{m: m, gen: m.rootStatusJSON}, syscall.S_IFREG)
	add("indexes", &indexesDir{m: m}, syscall.S_IFDIR)
	add("import", &importDir{m: m}, syscall.S_IFDIR)
	add("tasks", &tasksDir{m: m}, syscall.S_IFDIR)
	add("snapshots", &snapshotsDir{m: m}, syscall.S_IFDIR)
}

var _ = (gofs.NodeGetattrer)((*rootNode)(nil))

func (r *rootNode) Getattr(ctx context.Context, f gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	r.m.dirAttr(&out.Attr, r.m.started, 6)
	out.SetTimeout(time.Second)
	return 0
}

var _ = (gofs.NodeStatfser)((*rootNode)(nil))

// Statfs reports the data dir's filesystem, so that df and cp's space
// checks see the space imports will use.
func (r *rootNode) Statfs(ctx context.Context, out *fuse.StatfsOut) syscall.Errno {
	var st syscall.Statfs_t
	if err := syscall.Statfs(r.m.store.Dir(), &st); err != nil {
		return gofs.ToErrno(err)
	}
	out.FromStatfsT(&st)
	return 0
}
