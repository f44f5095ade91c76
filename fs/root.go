package fs

import (
	"context"
	"syscall"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

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
	add("backup", &backupDir{m: m}, syscall.S_IFDIR)
}

var _ = (gofs.NodeGetattrer)((*rootNode)(nil))

func (r *rootNode) Getattr(ctx context.Context, f gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	r.m.dirAttr(&out.Attr, r.m.started, 7)
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
