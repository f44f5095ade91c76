package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/idxfs/idxfs/task"
)

// --no-wait through the mount (README "The CLI while mounted"): the mount's
// calls block until their task ends, so the CLI hands the call to a
// detached child process of itself (a new session, stdio /dev/null) and
// returns once the task shows in tasks/. The child makes the one call and
// exits when it returns; ending the CLI does not end the call, so the task
// goes on as it does unmounted.

// mountCallEnv carries the child's call, as JSON; mountCallArg marks the
// child in ps (its arguments are never parsed).
const (
	mountCallEnv = "IDXFS_MOUNT_CALL"
	mountCallArg = "--mount-call"
)

// mountCall is one blocking call on the mount.
type mountCall struct {
	Op   string `json:"op"` // mkdir, rmdir, open, import, rename, exchange, append, truncate
	Path string `json:"path"`
	// import: the archive copied into Path; rename, exchange: the other
	// entry; append, truncate: the private copy of the payload (payload)
	// written to Path, which the child removes after its call.
	Src string `json:"src,omitempty"`
	// Key, if set, is a primary key written to the index's primary-key
	// file (an indexUpdate task): mkdir, after the mkdir (index create
	// --primary-key); append, truncate, before the documents (documents
	// add/replace --primary-key on an index with no key yet).
	Key string `json:"key,omitempty"`
}

// writes are the ops that write a payload to a file of the mount, with the
// flags the waiting command opens it with.
var writes = map[string]int{
	"append":   os.O_WRONLY | os.O_APPEND, // documents add
	"truncate": os.O_WRONLY | os.O_TRUNC,  // documents replace, delete
}

// mountCallResult is what the child reports on fd 3 when its call returns.
type mountCallResult struct {
	Op      string `json:"op,omitempty"`
	Path    string `json:"path,omitempty"`
	Errno   int    `json:"errno,omitempty"`
	Message string `json:"message,omitempty"`
}

func init() {
	if v, ok := os.LookupEnv(mountCallEnv); ok {
		os.Exit(runMountCall(v))
	}
}

// runMountCall is the child: it makes the call and writes its result to fd 3
// (ignored if the CLI has exited).
func runMountCall(spec string) int {
	var c mountCall
	err := json.Unmarshal([]byte(spec), &c)
	if err == nil {
		err = c.do()
	}
	var res mountCallResult
	if err != nil {
		res.Message = err.Error()
		var pe *os.PathError
		if errors.As(err, &pe) {
			res.Op, res.Path, res.Message = pe.Op, pe.Path, pe.Err.Error()
		}
		var errno syscall.Errno
		if errors.As(err, &errno) {
			res.Errno = int(errno)
		}
	}
	if out := os.NewFile(3, "result"); out != nil {
		json.NewEncoder(out).Encode(res)
		out.Close()
	}
	if err != nil {
		return 1
	}
	return 0
}

func (c mountCall) do() error {
	if flag, ok := writes[c.Op]; ok {
		defer os.Remove(c.Src)
		src, err := os.Open(c.Src)
		if err != nil {
			return err
		}
		defer src.Close()
		if c.Key != "" {
			if err := writeKey(filepath.Join(filepath.Dir(c.Path), "primary-key"), c.Key); err != nil {
				return err
			}
		}
		return writeThrough(c.Path, flag, src)
	}
	switch c.Op {
	case "mkdir":
		if err := os.Mkdir(c.Path, 0o755); err != nil || c.Key == "" {
			return err
		}
		return writeKey(filepath.Join(c.Path, "primary-key"), c.Key)
	case "rmdir":
		return os.Remove(c.Path)
	case "rename":
		return os.Rename(c.Src, c.Path)
	case "exchange":
		if err := unix.Renameat2(unix.AT_FDCWD, c.Src, unix.AT_FDCWD, c.Path, unix.RENAME_EXCHANGE); err != nil {
			return &os.PathError{Op: "renameat2 RENAME_EXCHANGE", Path: c.Src + " " + c.Path, Err: err}
		}
		return nil
	case "open":
		f, err := os.Open(c.Path)
		if err != nil {
			return err
		}
		return f.Close()
	case "import":
		src, err := os.Open(c.Src)
		if err != nil {
			return err
		}
		defer src.Close()
		f, err := os.OpenFile(c.Path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err != nil {
			return err
		}
		if _, err := io.Copy(f, src); err != nil {
			os.Remove(c.Path) // abandons the import, before a close commits it
			f.Close()
			return err
		}
		if err := f.Close(); err != nil { // waits for the import
			return err
		}
		os.Remove(c.Path) // as importArchive: no grace needed
		return nil
	}
	return fmt.Errorf("unknown mount call %q", c.Op)
}

// detach starts the child for c; the channel gets the call's error (nil on
// success) when the call returns, if this process is still there.
func detach(c mountCall) (_ <-chan error, err error) {
	if _, ok := writes[c.Op]; ok {
		defer func() {
			if err != nil { // no child to remove it
				os.Remove(c.Src)
			}
		}()
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	if c.Path, err = filepath.Abs(c.Path); err != nil { // the child runs in /
		return nil, err
	}
	if c.Src != "" {
		if c.Src, err = filepath.Abs(c.Src); err != nil {
			return nil, err
		}
	}
	spec, err := json.Marshal(c)
	if err != nil {
		return nil, err
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, mountCallArg, c.Op, c.Path)
	cmd.Env = append(os.Environ(), mountCallEnv+"="+string(spec))
	cmd.Dir = "/"
	cmd.ExtraFiles = []*os.File{pw}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true} // Ctrl-C of the CLI does not reach it
	err = cmd.Start()
	pw.Close()
	if err != nil {
		pr.Close()
		return nil, err
	}
	done := make(chan error, 1)
	go func() {
		defer pr.Close()
		var res mountCallResult
		derr := json.NewDecoder(pr).Decode(&res)
		cmd.Wait()
		switch {
		case derr != nil:
			done <- fmt.Errorf("the call on the mount (%s %s) ended with no result: %v", c.Op, c.Path, cmd.ProcessState)
		case res.Errno != 0:
			done <- &os.PathError{Op: res.Op, Path: res.Path, Err: syscall.Errno(res.Errno)}
		case res.Message != "":
			done <- errors.New(res.Message)
		default:
			done <- nil
		}
	}()
	return done, nil
}

// submitDetached is Submit with --no-wait: the call goes to a detached
// child, and the command prints the task as soon as find finds it, as an
// unmounted --no-wait prints the task it enqueued. A call that ends before
// its task shows (a refusal with no task, a fresh snapshot reused) is
// reported as the waiting command reports it.
func (b *mountBackend) submitDetached(ctx context.Context, w waitOptions, r task.Request, c mountCall, find func() (task.Task, bool), none func() (task.Task, error), override map[syscall.Errno]string) (task.Task, error) {
	done, err := detach(c)
	if err != nil {
		return task.Task{}, err
	}
	tick := time.NewTicker(pollEvery / 4)
	defer tick.Stop()
	for {
		if t, ok := find(); ok {
			return enqueued(b.g, w, t)
		}
		select {
		case callErr := <-done:
			if t, ok := find(); ok {
				return enqueued(b.g, w, t)
			}
			return b.noTask(w, r, callErr, none, override)
		case <-ctx.Done():
			return task.Task{}, ctx.Err()
		case <-tick.C:
		}
	}
}

// detachedCall is the mount call of request r of the kinds that --no-wait
// covers through the mount (as Submit makes them).
func (b *mountBackend) detachedCall(r task.Request) (mountCall, bool, error) {
	switch r.Kind {
	case task.DocumentAdditionOrUpdate:
		op := "append"
		if r.ReplaceAll {
			op = "truncate"
		}
		src, err := payload(r.Documents)
		return mountCall{Op: op, Path: b.path("indexes", r.IndexUID, "documents.ndjson"), Src: src}, true, err
	case task.DocumentDeletion:
		src, err := payload(idLines(r.IDs))
		return mountCall{Op: "truncate", Path: b.path("indexes", r.IndexUID, "delete-documents"), Src: src}, true, err
	}
	c, ok := b.indexCall(r)
	return c, ok, nil
}

// payload copies what a documents command writes (its FILE, stdin, or the
// ids) to a private file of the user's temp dir ($TMPDIR, else /tmp; mode
// 0600), for the detached child, which removes it after its call: the
// reader is this process's, which exits before the call ends.
func payload(src io.Reader) (string, error) {
	f, err := os.CreateTemp("", "idxfs-mount-call-*.ndjson")
	if err != nil {
		return "", err
	}
	_, err = io.Copy(f, src)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return "", err
	}
	return f.Name(), nil
}

// indexCall is the mount call of request r of the index kinds.
func (b *mountBackend) indexCall(r task.Request) (mountCall, bool) {
	switch {
	case r.Kind == task.IndexCreation && r.PrimaryKey == "":
		return mountCall{Op: "mkdir", Path: b.path("indexes", r.IndexUID)}, true
	case r.Kind == task.IndexDeletion:
		return mountCall{Op: "rmdir", Path: b.path("indexes", r.IndexUID)}, true
	case r.Kind == task.IndexRename:
		return mountCall{Op: "rename", Src: b.path("indexes", r.IndexUID), Path: b.path("indexes", r.NewIndexUID)}, true
	case r.Kind == task.IndexSwap:
		return mountCall{Op: "exchange", Src: b.path("indexes", r.IndexUID), Path: b.path("indexes", r.NewIndexUID)}, true
	}
	return mountCall{}, false
}

// noTask reports a mount call that ended with no task: a refusal (callErr),
// or, if none is set, what none says (the mount had nothing to do).
func (b *mountBackend) noTask(w waitOptions, r task.Request, callErr error, none func() (task.Task, error), override map[syscall.Errno]string) (task.Task, error) {
	if callErr != nil {
		return task.Task{}, b.indexError(r, callError(callErr, override))
	}
	if none != nil {
		t, err := none()
		if err != nil {
			return t, err
		}
		return outcome(b.g, w, t)
	}
	return task.Task{}, fmt.Errorf("%s: done through the mount at %s, but its task is not in %s", commandOf(r), b.mnt, b.path("tasks"))
}
