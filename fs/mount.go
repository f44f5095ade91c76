package fs

import (
	"errors"
	"fmt"
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

// slogWriter turns go-fuse's log.Logger lines into slog warnings.
type slogWriter struct{ l *slog.Logger }

func (w slogWriter) Write(p []byte) (int, error) {
	w.l.Warn(strings.TrimSpace(string(p)), "op", "fuse")
	return len(p), nil
}
