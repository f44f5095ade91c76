package fs

import (
	"context"
	"syscall"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// Every node answers every call on purpose (DESIGN §3, issue 7). go-fuse's
// defaults are not deliberate: a directory without Unlink or Rmdir "succeeds"
// and drops the entry from its in-memory tree until a remount, Create gets
// EROFS, Mkdir, Setattr and Rename ENOTSUP. So every directory node embeds
// refusingDir and every file node refusingFile, which refuse each change
// with EPERM; a node that does act on a call (mkdir and rmdir in indexes/,
// rm in tasks/, import/ and snapshots/NAME/, create and rename in import/, setattr of
// import/ files and documents.ndjson) defines its own method, which wins
// over the embedded one. Extended attributes are switched off for the whole
// mount (MountOptions.DisableXAttrs): get, set, list and remove answer
// ENOSYS, which the kernel reports as EOPNOTSUPP and then stops asking. The
// table is in docs/DESIGN-NOTES.md ("Calls every node answers").

// errRefused is the answer to a change of a built-in entry.
const errRefused = syscall.EPERM

// refusingDir refuses every change of a directory's entries and of its own
// attributes.
type refusingDir struct{}

var _ = (gofs.NodeUnlinker)((*refusingDir)(nil))

func (refusingDir) Unlink(ctx context.Context, name string) syscall.Errno { return errRefused }

var _ = (gofs.NodeRmdirer)((*refusingDir)(nil))

func (refusingDir) Rmdir(ctx context.Context, name string) syscall.Errno { return errRefused }

var _ = (gofs.NodeRenamer)((*refusingDir)(nil))

func (refusingDir) Rename(ctx context.Context, name string, newParent gofs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	return errRefused
}

var _ = (gofs.NodeCreater)((*refusingDir)(nil))

func (refusingDir) Create(ctx context.Context, name string, flags uint32, mode uint32, out *fuse.EntryOut) (*gofs.Inode, gofs.FileHandle, uint32, syscall.Errno) {
	return nil, nil, 0, errRefused
}

var _ = (gofs.NodeMkdirer)((*refusingDir)(nil))

func (refusingDir) Mkdir(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	return nil, errRefused
}

var _ = (gofs.NodeMknoder)((*refusingDir)(nil))

func (refusingDir) Mknod(ctx context.Context, name string, mode uint32, dev uint32, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	return nil, errRefused
}

var _ = (gofs.NodeSymlinker)((*refusingDir)(nil))

func (refusingDir) Symlink(ctx context.Context, target, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	return nil, errRefused
}

var _ = (gofs.NodeLinker)((*refusingDir)(nil))

func (refusingDir) Link(ctx context.Context, target gofs.InodeEmbedder, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	return nil, errRefused
}

var _ = (gofs.NodeSetattrer)((*refusingDir)(nil))

// Setattr refuses chmod, chown and utimes of a directory.
func (refusingDir) Setattr(ctx context.Context, f gofs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	return errRefused
}

// refusingFile refuses attribute changes of a built-in file: chmod, chown,
// utimes and truncate by path.
type refusingFile struct{}

var _ = (gofs.NodeSetattrer)((*refusingFile)(nil))

func (refusingFile) Setattr(ctx context.Context, f gofs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	return errRefused
}
