package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/syslog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/urfave/cli/v2"
)

// The mount helper's form. mount -t fuse.idxfs DATA MNT -o OPTS and an
// fstab line of type fuse.idxfs run mount.fuse3, which runs, through
// /bin/sh -c with the PATH it was given,
//
//	idxfs DATA MNT -o OPTS,dev,suid
//
// and takes the mount to be up when that command returns, the file system
// going on in the background. helperArgs turns that command line into the
// equivalent `idxfs [GLOBAL FLAGS] mount [MOUNT FLAGS] DATA MNT`, which
// parse checks as usual (a bad option fails at once, in the foreground);
// then background starts that command again, detached, and waits for it to
// say the mount answers.
//
// OPTS: each global or mount flag, spelled with _ for - (allow_other,
// snapshot_keep=3, log_level=debug, import_grace=1m, ...); log_file=PATH,
// where the background daemon appends its logs (default: syslog, the
// journal under systemd); the generic mount options mount(8) and
// mount.fuse3 pass, which mean nothing to idxfs and are ignored
// (helperIgnored). ro is refused: the mount is not read-only.

// helperIgnored are generic mount options that idxfs accepts and ignores:
// mount.fuse3 adds dev and suid to every command line; the others come from
// fstab lines and mount(8). FUSE mounts are nodev,nosuid anyway.
var helperIgnored = []string{
	"", "rw", "dev", "nodev", "suid", "nosuid", "exec", "noexec", "auto", "noauto",
	"user", "nouser", "users", "owner", "group", "_netdev", "nofail", "defaults",
	"async", "atime", "noatime", "diratime", "nodiratime", "relatime", "norelatime",
	"strictatime", "lazytime", "nolazytime", "silent", "loud", "default_permissions",
}

// helperForbidden are flags that have no meaning as a mount option.
var helperForbidden = []string{"data-dir", "demo", "help", "version"}

// helperMode is how a helper-form command line runs.
type helperMode struct {
	logFile    string // log_file=: where the background daemon logs
	foreground bool   // -f: stay in the foreground (for debugging)
}

// helperArgs recognizes idxfs SOURCE MOUNTPOINT -o OPTS [-f] (no
// subcommand; at least one -o, which mount.fuse3 always gives) and returns
// the equivalent mount command line. Any other command line is returned
// as it is, with a nil mode.
func helperArgs(app *cli.App, args []string) ([]string, *helperMode, error) {
	var pos, opts []string
	mode := &helperMode{}
	sawO := false
	for i := 1; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "-o" && i+1 < len(args):
			i++
			opts, sawO = append(opts, strings.Split(args[i], ",")...), true
		case strings.HasPrefix(a, "-o") && len(a) > 2:
			opts, sawO = append(opts, strings.Split(a[2:], ",")...), true
		case a == "-f":
			mode.foreground = true
		case strings.HasPrefix(a, "-"):
			return args, nil, nil
		default:
			pos = append(pos, a)
		}
	}
	if !sawO || len(pos) != 2 || lookupCommand(app.Commands, pos[0]) != nil || pos[0] == "help" {
		return args, nil, nil
	}
	mountFlags := lookupCommand(app.Commands, "mount").Flags
	var globals, local []string
	for _, o := range opts {
		name, value, hasValue := strings.Cut(o, "=")
		switch {
		case slices.Contains(helperIgnored, o) || strings.HasPrefix(o, "x-") || strings.HasPrefix(o, "comment="):
			continue
		case o == "ro":
			return nil, nil, usageError{"mount option ro: an idxfs mount is not read-only (its built-in files refuse changes already; mount rw)"}
		case name == "log_file":
			if !hasValue || value == "" {
				return nil, nil, usageError{"mount option log_file: want log_file=PATH"}
			}
			mode.logFile = value
			continue
		}
		flag := strings.ReplaceAll(name, "_", "-")
		f, global := lookupFlag(mountFlags, flag), false
		if f == nil {
			f, global = lookupFlag(app.Flags, flag), true
		}
		if f == nil || slices.Contains(helperForbidden, flag) {
			return nil, nil, usageError{fmt.Sprintf("unknown mount option %q; idxfs takes its flags as options (allow_other, snapshot_keep=N, log_level=LEVEL, log_file=PATH, ...; see idxfs mount --help), and ignores the generic ones (rw, dev, suid, noauto, _netdev, ...)", o)}
		}
		if takesValue(f) != hasValue {
			want := "no value"
			if takesValue(f) {
				want = "a value: " + name + "=VALUE"
			}
			return nil, nil, usageError{fmt.Sprintf("mount option %q: want %s", o, want)}
		}
		arg := "--" + flag
		if hasValue {
			arg += "=" + value
		}
		if global {
			globals = append(globals, arg)
		} else {
			local = append(local, arg)
		}
	}
	// The daemon runs from /: the paths must not depend on the caller's
	// working directory.
	for i, p := range pos {
		abs, err := filepath.Abs(p)
		if err != nil {
			return nil, nil, err
		}
		pos[i] = abs
	}
	if mode.logFile != "" {
		abs, err := filepath.Abs(mode.logFile)
		if err != nil {
			return nil, nil, err
		}
		mode.logFile = abs
	}
	out := append([]string{args[0]}, globals...)
	out = append(out, "mount")
	out = append(out, local...)
	out = append(out, "--", pos[0], pos[1])
	return out, mode, nil
}

// Environment between the helper form and the daemon it starts.
const (
	envReadyFD = "IDXFS_READY_FD" // the daemon's end of the readiness pipe
	envSyslog  = "IDXFS_LOG_SYSLOG"
	readyWord  = "ready"
)

// background replaces the mount's work: it starts the same command line
// again, detached (its own session, stdin and stdout /dev/null, working dir
// /), and waits until the daemon writes readyWord on the readiness pipe
// (serviceReady does, once the mount answers), or exits, in which case its
// error (which it writes on the pipe) and exit code are this process's.
func background(args []string, mode *helperMode) func(context.Context) error {
	return func(ctx context.Context) error {
		exe, err := os.Executable()
		if err != nil {
			return err
		}
		r, w, err := os.Pipe()
		if err != nil {
			return err
		}
		defer r.Close()
		cmd := exec.Command(exe, args[1:]...)
		cmd.Dir = "/"
		cmd.ExtraFiles = []*os.File{w} // fd 3
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
		env := slices.DeleteFunc(os.Environ(), func(kv string) bool {
			return strings.HasPrefix(kv, "NOTIFY_SOCKET=") || strings.HasPrefix(kv, envReadyFD+"=") || strings.HasPrefix(kv, envSyslog+"=")
		})
		cmd.Env = append(env, envReadyFD+"=3")
		if mode.logFile != "" {
			f, err := os.OpenFile(mode.logFile, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
			if err != nil {
				w.Close()
				return usageError{fmt.Sprintf("mount option log_file: %v", err)}
			}
			defer f.Close()
			cmd.Stderr = f
		} else {
			cmd.Env = append(cmd.Env, envSyslog+"=1")
		}
		err = cmd.Start()
		w.Close()
		if err != nil {
			return err
		}
		read := make(chan []byte, 1)
		go func() {
			msg, _ := io.ReadAll(io.LimitReader(r, 64<<10))
			read <- msg
		}()
		var msg []byte
		select {
		case msg = <-read:
		case <-ctx.Done():
			// Interrupted while the daemon starts: stop it (it shuts down
			// as at SIGTERM) and say so.
			cmd.Process.Signal(syscall.SIGTERM)
			cmd.Wait()
			return fmt.Errorf("interrupted while the mount started; stopped the daemon: %w", context.Cause(ctx))
		}
		if string(msg) == readyWord+"\n" {
			cmd.Process.Release()
			return nil
		}
		werr := cmd.Wait()
		text := strings.TrimSpace(string(msg))
		if text == "" {
			text = fmt.Sprintf("the background daemon ended before the mount answered (%v)", werr)
		}
		code := exitFailure
		var ee *exec.ExitError
		if errors.As(werr, &ee) && ee.ExitCode() > 0 {
			code = ee.ExitCode()
		}
		return childExitError{msg: text, code: code}
	}
}

// childExitError is how the background daemon failed: its message and exit
// code become the helper's.
type childExitError struct {
	msg  string
	code int
}

func (e childExitError) Error() string { return e.msg }

// readyPipe is the write end of the readiness pipe in a background daemon.
var readyPipe = func() *os.File {
	if os.Getenv(envReadyFD) != "3" {
		return nil
	}
	os.Unsetenv(envReadyFD)
	syscall.CloseOnExec(3) // a program the daemon runs (fusermount3) must not hold it open
	return os.NewFile(3, "ready")
}()

// tellParentReady tells the helper that started this daemon, if one did,
// that the mount answers.
func tellParentReady() {
	if readyPipe != nil {
		fmt.Fprintln(readyPipe, readyWord)
		readyPipe.Close()
		readyPipe = nil
	}
}

// tellParentFailed gives the helper, if it still waits, the error this
// daemon ends with.
func tellParentFailed(err error) {
	if readyPipe != nil && err != nil {
		fmt.Fprintln(readyPipe, err)
		readyPipe.Close()
		readyPipe = nil
	}
}

// daemonStderr is where a background daemon started without log_file logs:
// syslog (the journal under systemd), or nowhere when there is none.
func daemonStderr(stderr io.Writer) io.Writer {
	if os.Getenv(envSyslog) != "1" {
		return stderr
	}
	os.Unsetenv(envSyslog)
	w, err := syslog.New(syslog.LOG_INFO|syslog.LOG_DAEMON, "idxfs")
	if err != nil {
		return io.Discard
	}
	return w
}
