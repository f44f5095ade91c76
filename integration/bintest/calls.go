package bintest

import (
	"os"
	"path/filepath"
	"syscall"
)

// Call is one system call on a path of a mount; it returns the error.
type Call struct {
	Name string
	Do   func(p string) error
}

// NodeCalls are the calls every node must answer on purpose (DESIGN §3,
// issue 7). Renames go to a new, valid name in the same directory.
var NodeCalls = []Call{
	{"unlink", syscall.Unlink},
	{"rmdir", syscall.Rmdir},
	{"rename", func(p string) error { return syscall.Rename(p, p+"_renamed") }},
	{"chmod", func(p string) error { return syscall.Chmod(p, 0o777) }},
	{"chown", func(p string) error { return syscall.Lchown(p, os.Getuid(), os.Getgid()) }},
	{"utimes", func(p string) error {
		return syscall.UtimesNano(p, []syscall.Timespec{{Sec: 1}, {Sec: 1}})
	}},
	{"truncate", func(p string) error { return syscall.Truncate(p, 0) }},
	{"getxattr", func(p string) error { _, err := syscall.Getxattr(p, "user.idxfs", make([]byte, 64)); return err }},
	{"setxattr", func(p string) error { return syscall.Setxattr(p, "user.idxfs", []byte("1"), 0) }},
	{"listxattr", func(p string) error { _, err := syscall.Listxattr(p, make([]byte, 256)); return err }},
	{"removexattr", func(p string) error { return syscall.Removexattr(p, "user.idxfs") }},
}

// DirCalls are the calls that make a new entry, "new", in a directory.
var DirCalls = []Call{
	{"create", func(d string) error {
		fd, err := syscall.Open(filepath.Join(d, "new"), syscall.O_CREAT|syscall.O_EXCL|syscall.O_WRONLY, 0o644)
		if err == nil {
			syscall.Close(fd)
		}
		return err
	}},
	{"mkdir", func(d string) error { return syscall.Mkdir(filepath.Join(d, "new"), 0o755) }},
	{"mknod", func(d string) error { return syscall.Mknod(filepath.Join(d, "new"), syscall.S_IFIFO|0o644, 0) }},
	{"symlink", func(d string) error { return syscall.Symlink("status", filepath.Join(d, "new")) }},
}
