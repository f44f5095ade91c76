package fs

import (
	"context"
	"fmt"
	"syscall"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/idxfs/idxfs/index"
	"github.com/idxfs/idxfs/task"
)

// dirTimeout is how long the kernel may cache directory entries and
// attributes that only change through this mount.
const dirTimeout = time.Second

// indexesDir is MOUNT/indexes/: one directory per index; mkdir creates an
// index and rmdir deletes one, each waiting for its task.
type indexesDir struct {
	gofs.Inode
	refusingDir
	m *mountState
}

var _ = (gofs.NodeGetattrer)((*indexesDir)(nil))

func (d *indexesDir) Getattr(ctx context.Context, f gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	n := 2
	if ins, err := d.m.store.List(ctx); err == nil {
		n += len(ins)
	}
	d.m.dirAttr(&out.Attr, d.m.indexesMtime(), uint32(n))
	return 0
}

var _ = (gofs.NodeLookuper)((*indexesDir)(nil))

func (d *indexesDir) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	in, err := d.m.store.Get(ctx, name)
	if err != nil {
		return nil, toErrno(d.m.log, "lookup", err)
	}
	return d.child(ctx, in, out), 0
}

// child returns the directory node of index in, the same for as long as the
// index is the same: across a rename, a swap and a replace (index.Info's
// Lineage), but a re-created index of the same name gets a new one.
func (d *indexesDir) child(ctx context.Context, in index.Info, out *fuse.EntryOut) *gofs.Inode {
	d.m.dirAttr(&out.Attr, in.UpdatedAt, 2)
	out.SetEntryTimeout(dirTimeout)
	out.SetAttrTimeout(dirTimeout)
	ref := indexRef{store: d.m.store, lineage: in.Lineage, last: in.UID}
	return d.NewInode(ctx, &indexDir{m: d.m, indexRef: ref},
		gofs.StableAttr{Mode: syscall.S_IFDIR, Ino: ino("index", in.Lineage)})
}

var _ = (gofs.NodeReaddirer)((*indexesDir)(nil))

func (d *indexesDir) Readdir(ctx context.Context) (gofs.DirStream, syscall.Errno) {
	ins, err := d.m.store.List(ctx)
	if err != nil {
		return nil, toErrno(d.m.log, "readdir", err)
	}
	es := make([]fuse.DirEntry, 0, len(ins))
	for _, in := range ins {
		es = append(es, fuse.DirEntry{Name: in.UID, Mode: syscall.S_IFDIR, Ino: ino("index", in.Lineage)})
	}
	return gofs.NewListDirStream(es), 0
}

var _ = (gofs.NodeMkdirer)((*indexesDir)(nil))

// Mkdir creates index name and waits for it. An invalid name gets EINVAL
// and a log line saying why.
func (d *indexesDir) Mkdir(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	if _, errno := d.m.run(ctx, "mkdir", task.Request{Kind: task.IndexCreation, IndexUID: name}); errno != 0 {
		return nil, errno
	}
	d.m.touchIndexes()
	in, err := d.m.store.Get(ctx, name)
	if err != nil {
		return nil, toErrno(d.m.log, "mkdir", err)
	}
	return d.child(ctx, in, out), 0
}

var _ = (gofs.NodeRmdirer)((*indexesDir)(nil))

// Rmdir deletes index name and waits for it.
func (d *indexesDir) Rmdir(ctx context.Context, name string) syscall.Errno {
	if _, errno := d.m.run(ctx, "rmdir", task.Request{Kind: task.IndexDeletion, IndexUID: name}); errno != 0 {
		return errno
	}
	d.m.touchIndexes()
	return 0
}

// The flags of renameat2(2).
const (
	renameNoReplace = 1 // RENAME_NOREPLACE
	renameExchange  = 2 // RENAME_EXCHANGE
)

var _ = (gofs.NodeRenamer)((*indexesDir)(nil))

// Rename renames index name to newName (mv, rename(2)), or with
// RENAME_EXCHANGE swaps the two (renameat2(2)), and waits for the task.
// Both are one step: readers of either name never find it missing, and
// a reader with a file of the index open goes on reading it. A rename onto
// an existing index is refused, ENOTEMPTY (EEXIST with RENAME_NOREPLACE),
// with a log line that says how to replace one; so is a move into an
// index directory (EPERM): indexes do not nest.
func (d *indexesDir) Rename(ctx context.Context, name string, newParent gofs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	log := d.m.log.With("op", "rename", "index", name, "to", newName)
	if _, ok := newParent.(*indexesDir); !ok {
		log.Info("rename refused: an index cannot move into another directory; " + replaceHint(name, newName))
		return syscall.EPERM
	}
	if flags&^uint32(renameNoReplace|renameExchange) != 0 || flags == renameNoReplace|renameExchange {
		return syscall.EINVAL
	}
	if flags&renameExchange != 0 {
		if _, errno := d.m.run(ctx, "rename", task.Request{Kind: task.IndexSwap, IndexUID: name, NewIndexUID: newName}); errno != 0 {
			return errno
		}
		d.m.touchIndexes()
		return 0
	}
	if d.m.store.Exists(newName) {
		if flags&renameNoReplace != 0 {
			return syscall.EEXIST
		}
		log.Info("rename refused: the target index exists and rename does not replace one; " + replaceHint(name, newName))
		return syscall.ENOTEMPTY
	}
	if _, errno := d.m.run(ctx, "rename", task.Request{Kind: task.IndexRename, IndexUID: name, NewIndexUID: newName}); errno != 0 {
		return errno
	}
	d.m.touchIndexes()
	return 0
}

// replaceHint says how to put index from in the place of index to.
func replaceHint(from, to string) string {
	return fmt.Sprintf("to put %[1]s in the place of %[2]s, swap them (renameat2 with RENAME_EXCHANGE, or idxfs index swap %[1]s %[2]s) and rmdir %[1]s; to restore %[2]s from an archive, copy it to import/%[2]s%[3]s",
		from, to, replaceSuffix)
}

// run enqueues r, waits for it and maps its outcome to an errno. A request
// refused at once (a bad name) is logged with the reason, since the errno
// alone cannot say it. If the wait is interrupted the task goes on.
func (m *mountState) run(ctx context.Context, op string, r task.Request) (task.Task, syscall.Errno) {
	t, err := m.engine.Enqueue(ctx, r)
	if err != nil {
		errno := toErrno(m.log, op, err)
		m.log.Info(op+" refused", "op", op, "index", r.IndexUID, "err", err)
		return t, errno
	}
	t, err = m.engine.Wait(ctx, t.UID)
	if err != nil {
		return t, toErrno(m.log, op, err)
	}
	if errno := taskErrno(m.log, op, t); errno != 0 {
		if t.Error != nil {
			m.log.Info(op+" failed", "op", op, "index", r.IndexUID, "task", t.UID, "err", t.Error.Message)
		}
		return t, errno
	}
	return t, 0
}

// indexRef is how the nodes of an index directory find their index: by
// its lineage (index.Info.Lineage), which a rename, a swap or a replace
// carries along, so that a node looked up under one name serves the index
// under its new name, and after a replace the new database.
type indexRef struct {
	store   *index.Store
	lineage string
	last    string // the name the node was looked up under
}

// uid is the index's current name; once it is gone, the name it had.
func (r indexRef) uid() string {
	if name, ok := r.store.NameOf(r.lineage); ok {
		return name
	}
	return r.last
}

// indexDir is MOUNT/indexes/NAME/.
type indexDir struct {
	gofs.Inode
	refusingDir
	m *mountState
	indexRef
}

// info returns the index if it is still the one this node stands for.
func (d *indexDir) info(ctx context.Context) (index.Info, syscall.Errno) {
	in, err := d.m.store.Get(ctx, d.uid())
	if err != nil {
		return in, toErrno(d.m.log, "stat", err)
	}
	if in.Lineage != d.lineage {
		return in, syscall.ENOENT
	}
	return in, 0
}

var _ = (gofs.NodeGetattrer)((*indexDir)(nil))

func (d *indexDir) Getattr(ctx context.Context, f gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	in, errno := d.info(ctx)
	if errno != 0 {
		return errno
	}
	d.m.dirAttr(&out.Attr, in.UpdatedAt, 2)
	out.SetTimeout(dirTimeout)
	return 0
}

// The files of an index directory.
const (
	snapshotName  = "snapshot.tar.gz"
	documentsName = "documents.ndjson"
)

var indexFiles = []string{snapshotName, documentsName, deleteDocumentsName, primaryKeyName, "status", "status.json"}

var _ = (gofs.NodeReaddirer)((*indexDir)(nil))

func (d *indexDir) Readdir(ctx context.Context) (gofs.DirStream, syscall.Errno) {
	if _, errno := d.info(ctx); errno != 0 {
		return nil, errno
	}
	es := make([]fuse.DirEntry, 0, len(indexFiles))
	for _, n := range indexFiles {
		es = append(es, fuse.DirEntry{Name: n, Mode: syscall.S_IFREG})
	}
	return gofs.NewListDirStream(es), 0
}

var _ = (gofs.NodeLookuper)((*indexDir)(nil))

func (d *indexDir) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	in, errno := d.info(ctx)
	if errno != 0 {
		return nil, errno
	}
	switch name {
	case snapshotName:
		return d.lookupSnapshot(ctx, in, out)
	case documentsName:
		return d.lookupDocuments(ctx, in, out), 0
	case deleteDocumentsName:
		return d.lookupRequestFile(ctx, d.deleteDocumentsFile(), in, out), 0
	case primaryKeyName:
		return d.lookupRequestFile(ctx, d.primaryKeyFile(), in, out), 0
	case "status", "status.json":
		json := name == "status.json"
		gen := func(ctx context.Context) ([]byte, time.Time, error) {
			if json {
				return d.m.indexStatusJSON(d.uid())(ctx)
			}
			return d.m.indexStatusText(d.uid())(ctx)
		}
		return d.m.lookupGen(ctx, &d.Inode, gen, ino(name, d.lineage), out)
	}
	return nil, syscall.ENOENT
}
