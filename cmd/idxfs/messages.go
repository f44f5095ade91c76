package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"

	idxfsfs "github.com/idxfs/idxfs/fs"
	"github.com/idxfs/idxfs/task"
)

// hinted is an error with what to do about it: its message is the error's,
// then the hint; codes and exit codes are the error's.
type hinted struct {
	err  error
	hint string
}

func (h hinted) Error() string { return h.err.Error() + "; " + h.hint }
func (h hinted) Unwrap() error { return h.err }

// withHint adds the fix of the common failures that have one (issue 9): a
// name that is not there says where the names are listed. Commands add
// their own hints where they know more (importHint).
func withHint(err error) error {
	if err == nil || errors.As(err, new(hinted)) {
		return err
	}
	switch task.Classify(err).Code {
	case task.CodeIndexNotFound:
		return hinted{err, "idxfs index list lists the indexes"}
	case task.CodeTaskNotFound:
		return hinted{err, "idxfs tasks list lists the tasks"}
	}
	return err
}

// importHint adds to an import's failure the way around it: another name
// (--as NAME) when the archive's index name is taken or unusable.
func importHint(err error, file string) error {
	if err == nil {
		return nil
	}
	if file == "-" || file == "" {
		file = "FILE"
	}
	switch c := task.Classify(err).Code; {
	case c == task.CodeIndexAlreadyExists:
		return hinted{err, fmt.Sprintf("replace it with: idxfs snapshot import %s --replace; or import it under another name with: idxfs snapshot import %s --as NAME", file, file)}
	case c == task.CodeInvalidIndexUID, c == task.CodeInvalidTaskRequest && strings.Contains(err.Error(), "needs the new index name"):
		return hinted{err, fmt.Sprintf("give the new index a name with: idxfs snapshot import %s --as NAME", file)}
	}
	return err
}

// noDataDir is the error of a command that only reads, given a data dir
// that does not exist: it creates none (issue 9). It wraps fs.ErrNotExist
// (exit code 4).
func noDataDir(dir string) error {
	return hinted{missingDataDir(dir),
		"a command that writes (idxfs index create NAME, idxfs snapshot import FILE, idxfs mount) creates it; or give another with --data-dir"}
}

type missingDataDir string

func (d missingDataDir) Error() string { return "data dir " + string(d) + " does not exist" }
func (d missingDataDir) Unwrap() error { return fs.ErrNotExist }

// wantsJSON reports whether a command line asks for --json, so that even
// an error of its parsing is reported as JSON.
func wantsJSON(args []string) bool {
	for _, a := range args {
		switch a {
		case "--":
			return false
		case "--json", "-json", "--json=true", "-json=true", "--json=1":
			return true
		}
	}
	return false
}

// jsonExitError is the one line a --json command writes on stderr when it
// fails, as restic's --json does (message_type "exit_error", the exit code
// and the message), with the error's code and type as a task's JSON has
// them.
type jsonExitError struct {
	MessageType string      `json:"message_type"`
	Code        int         `json:"code"`
	Message     string      `json:"message"`
	Error       *task.Error `json:"error"`
}

// reportError writes err, if any, as the one line a user sees on stderr:
// "idxfs: MESSAGE", or with asJSON a JSON object.
func reportError(w io.Writer, err error, asJSON bool) {
	if err == nil {
		return
	}
	err = withHint(err)
	if !asJSON {
		fmt.Fprintln(w, "idxfs:", err)
		return
	}
	c := task.Classify(err)
	e := &task.Error{Message: err.Error(), Code: c.Code, Type: c.Type}
	var ue usageError
	if errors.As(err, &ue) {
		e.Code, e.Type = "usage", task.TypeInvalidRequest
	}
	b, _ := json.Marshal(jsonExitError{MessageType: "exit_error", Code: exitCode(err), Message: err.Error(), Error: e})
	fmt.Fprintf(w, "%s\n", b)
}

// checkIdxfsMount refuses to unmount what is not an idxfs mount (issue 9:
// `idxfs unmount /tmp` must not unmount /tmp).
func checkIdxfsMount(abs string) error {
	typ, err := idxfsfs.MountType(abs)
	if err != nil {
		return mountError{fmt.Errorf("unmount %s: %w", abs, err)}
	}
	switch typ {
	case idxfsfs.IdxfsType:
		return nil
	case "":
		return mountError{fmt.Errorf("%s is not an idxfs mount (nothing is mounted there)", abs)}
	}
	return mountError{fmt.Errorf("%s is not an idxfs mount (it is a %s mount): left alone", abs, typ)}
}
