package main

import (
	"context"
	"io"
)

// ctxStdin makes every read end when ctx ends, also a read blocked on a
// terminal or on a pipe whose writer stays open: Ctrl-C must stop
// `idxfs documents add INDEX` while it reads stdin. Each read runs in a
// goroutine of its own; once ctx ends, reads return ctx's error and a read
// still blocked is abandoned (it ends with the process, or when its writer
// closes).
type ctxStdin struct {
	ctx context.Context
	r   io.Reader
	buf []byte // the abandoned read may still write to it: not used after ctx ends
}

func newCtxStdin(ctx context.Context, r io.Reader) *ctxStdin {
	return &ctxStdin{ctx: ctx, r: r}
}

type readResult struct {
	n   int
	err error
}

func (s *ctxStdin) Read(p []byte) (int, error) {
	if err := s.ctx.Err(); err != nil {
		return 0, err
	}
	if len(p) == 0 {
		return 0, nil
	}
	if len(s.buf) < len(p) {
		s.buf = make([]byte, len(p))
	}
	buf := s.buf[:len(p)]
	done := make(chan readResult, 1)
	go func() {
		n, err := s.r.Read(buf)
		done <- readResult{n, err}
	}()
	select {
	case res := <-done:
		return copy(p, buf[:res.n]), res.err
	case <-s.ctx.Done():
		return 0, s.ctx.Err()
	}
}
