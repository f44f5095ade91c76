package fs

import (
	"path/filepath"
	"testing"
)

// TestMountSource: an idxfs mount's type is fuse.idxfs and its source names
// the data dir (idxfs unmount finds the data dir there, to wait for the
// daemon to let go of it); a directory that is no mountpoint has neither.
func TestMountSource(t *testing.T) {
	t.Parallel()
	f := mountFS(t, nil, nil)
	typ, err := MountType(f.mnt)
	if err != nil || typ != IdxfsType {
		t.Errorf("MountType(mount) = %q, %v; want %q", typ, err, IdxfsType)
	}
	abs, _ := filepath.Abs(f.data)
	if src, err := MountSource(f.mnt); err != nil || src != "idxfs:"+abs {
		t.Errorf("MountSource(mount) = %q, %v; want %q", src, err, "idxfs:"+abs)
	}
	if src, err := MountSource(f.data); err != nil || src != "" {
		t.Errorf("MountSource(not a mountpoint) = %q, %v; want \"\"", src, err)
	}
}
