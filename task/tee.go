package task

import "io"

// teeWriter passes the archive on to a Request.Output. A failing output
// must not fail the snapshot (the stored archive is the task's result; the
// caller sees its own writer's error and falls back to copying the stored
// file), so teeWriter stops at the first error and always reports success.
type teeWriter struct {
	w   io.Writer
	err error
}

func (t *teeWriter) Write(p []byte) (int, error) {
	if t.err == nil {
		_, t.err = t.w.Write(p)
	}
	return len(p), nil
}
