package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log"
	"log/slog"
	"strings"
	"sync"
)

// With --log-format json, stderr carries only JSON objects, one a line, so
// that a log collector never meets a plain line: logStderr wraps stderr in
// a jsonLines, through which every write of the process goes (the logs, the
// error report, the notes commands print, urfave/cli's messages, Go's
// standard logger, which go-fuse may use). A line that is already a JSON
// object passes as it is; any other line becomes {"time","level":"INFO",
// "msg"}. report writes the command's error as a JSON object of its own
// (level ERROR, with the exit code). Panics are the exception: the runtime
// writes them to fd 2 directly.

// jsonLines is stderr under --log-format json.
type jsonLines struct {
	mu  sync.Mutex
	w   io.Writer
	log *slog.Logger // renders the lines that are not JSON yet
	buf []byte
}

// logStderr returns stderr, wrapped in a jsonLines when the command line asks
// for JSON logs (--log-format json, or log_format=json among the -o options
// of the mount helper's form).
func logStderr(args []string, stderr io.Writer) io.Writer {
	if _, ok := stderr.(*jsonLines); ok || !jsonLogsAsked(args) {
		return stderr
	}
	j := &jsonLines{w: stderr}
	j.log = slog.New(slog.NewJSONHandler(stderrLocked{j}, nil))
	return j
}

// useForStdLog sends Go's standard logger (used by libraries that log on
// their own) through stderr.
func useForStdLog(stderr io.Writer) {
	if _, ok := stderr.(*jsonLines); ok {
		log.SetFlags(0)
		log.SetOutput(stderr)
	}
}

func jsonLogsAsked(args []string) bool {
	for i, a := range args {
		switch {
		case a == "--":
			return false
		case a == "--log-format" || a == "-log-format":
			if i+1 < len(args) && args[i+1] == "json" {
				return true
			}
		case a == "--log-format=json" || a == "-log-format=json":
			return true
		case i > 0 && (args[i-1] == "-o" || strings.HasPrefix(a, "-o")):
			for _, o := range strings.Split(strings.TrimPrefix(a, "-o"), ",") {
				if o == "log_format=json" {
					return true
				}
			}
		}
	}
	return false
}

func (j *jsonLines) Write(p []byte) (int, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.buf = append(j.buf, p...)
	for {
		i := bytes.IndexByte(j.buf, '\n')
		if i < 0 {
			return len(p), nil
		}
		line := j.buf[:i]
		if err := j.writeLine(line); err != nil {
			return len(p), err
		}
		j.buf = j.buf[i+1:]
	}
}

// writeLine writes one line (without its newline); j.mu is held.
func (j *jsonLines) writeLine(line []byte) error {
	trimmed := bytes.TrimSpace(line)
	if len(trimmed) == 0 {
		return nil
	}
	if trimmed[0] == '{' && json.Valid(trimmed) {
		_, err := j.w.Write(append(append([]byte{}, trimmed...), '\n'))
		return err
	}
	j.log.Info(strings.TrimPrefix(string(trimmed), "idxfs: "))
	return nil
}

// logError writes err as one JSON object: level ERROR and the exit code.
func (j *jsonLines) logError(err error, code int) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.log.LogAttrs(context.Background(), slog.LevelError, err.Error(), slog.Int("exitCode", code))
}

// stderrLocked is j's own writer for its logger, called with j.mu held.
type stderrLocked struct{ j *jsonLines }

func (s stderrLocked) Write(p []byte) (int, error) { return s.j.w.Write(p) }
