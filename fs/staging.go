package fs

import (
	"cmp"
	"errors"
	"io"
	"os"
	"sync"
)

// errRewritten: bytes a streaming reader already consumed were written
// again (a tool that does not write sequentially); the import must start
// over from the complete file.
var errRewritten = errors.New("staged bytes were rewritten after they were read")

// staging is the file that writes to import/NAME and documents.ndjson land
// in (in DATA/tmp). It accepts random writes, truncation and reads like any
// file, and feeds a streaming reader that may consume the bytes while they
// are still arriving.
type staging struct {
	path string
	f    *os.File

	mu       sync.Mutex
	cond     *sync.Cond
	size     int64 // the file's size
	contig   int64 // bytes [0, contig) were written in order
	consumed int64 // bytes [0, consumed) were handed to the streaming reader
	done     bool  // no more data will come: readers read up to size
	broken   bool  // consumed bytes were changed
	abort    error // set (by remove): every reader fails with it
	removed  bool
}

func newStaging(dir, pattern string) (*staging, error) {
	f, err := os.CreateTemp(dir, pattern)
	if err != nil {
		return nil, err
	}
	s := &staging{path: f.Name(), f: f}
	s.cond = sync.NewCond(&s.mu)
	return s, nil
}

// WriteAt writes p at off.
func (s *staging) WriteAt(p []byte, off int64) (int, error) {
	s.mu.Lock()
	if s.removed {
		s.mu.Unlock()
		return 0, os.ErrClosed
	}
	if off < s.consumed {
		s.broken = true
	}
	s.mu.Unlock()
	n, err := s.f.WriteAt(p, off)
	s.mu.Lock()
	defer s.mu.Unlock()
	end := off + int64(n)
	if off <= s.contig && end > s.contig {
		s.contig = end
	}
	s.size = max(s.size, end)
	s.cond.Broadcast()
	return n, err
}

// Truncate sets the size.
func (s *staging) Truncate(size int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.removed {
		return os.ErrClosed
	}
	if size < s.consumed {
		s.broken = true
	}
	if err := s.f.Truncate(size); err != nil {
		return err
	}
	s.size = size
	s.contig = min(s.contig, size)
	s.cond.Broadcast()
	return nil
}

// ReadAt reads the staged bytes, for a tool that reads back what it wrote.
func (s *staging) ReadAt(p []byte, off int64) (int, error) { return s.f.ReadAt(p, off) }

// Size returns the staged size.
func (s *staging) Size() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.size
}

// finish says no more data will come.
func (s *staging) finish() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.done = true
	s.cond.Broadcast()
}

// failWith makes every reader fail with err from now on (unless it already
// fails with another error).
func (s *staging) failWith(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.abort == nil {
		s.abort = err
	}
	s.cond.Broadcast()
}

// remove closes and deletes the file; readers fail.
func (s *staging) remove() {
	s.mu.Lock()
	if s.removed {
		s.mu.Unlock()
		return
	}
	s.removed = true
	if s.abort == nil {
		s.abort = os.ErrClosed
	}
	s.cond.Broadcast()
	s.mu.Unlock()
	s.f.Close()
	os.Remove(s.path)
}

// reader returns a reader of the staged bytes from the start. A streaming
// reader reads bytes as they arrive (blocking until more come or finish is
// called) and fails with errRewritten if bytes it read change; a complete
// reader waits for finish and ignores earlier rewrites.
func (s *staging) reader(streaming bool) *stagingReader {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.consumed = 0
	if !streaming {
		s.broken = false
	}
	return &stagingReader{s: s, streaming: streaming}
}

// stagingReader reads a staging file for an import; it implements
// task.StreamAborter and task.ReopenableStream.
type stagingReader struct {
	s         *staging
	pos       int64
	streaming bool
	abort     error // guarded by s.mu
}

func (r *stagingReader) Read(p []byte) (int, error) {
	s := r.s
	s.mu.Lock()
	var avail int64
	for {
		if err := cmp.Or(r.abort, s.abort); err != nil {
			s.mu.Unlock()
			return 0, err
		}
		if r.streaming && s.broken {
			s.mu.Unlock()
			return 0, errRewritten
		}
		if !r.streaming && !s.done {
			s.cond.Wait() // a complete reader waits for the whole file
			continue
		}
		avail = s.contig
		if s.done {
			avail = s.size
		}
		if r.pos < avail {
			break
		}
		if s.done {
			s.mu.Unlock()
			return 0, io.EOF
		}
		s.cond.Wait()
	}
	n := min(int64(len(p)), avail-r.pos)
	// Claim the range before reading it, so that a write into it marks the
	// stream broken.
	s.consumed = max(s.consumed, r.pos+n)
	s.mu.Unlock()
	m, err := s.f.ReadAt(p[:n], r.pos)
	r.pos += int64(m)
	if err == io.EOF && m > 0 {
		err = nil
	}
	return m, err
}

// Abort implements task.StreamAborter: reads fail with err from now on.
func (r *stagingReader) Abort(err error) {
	r.s.mu.Lock()
	defer r.s.mu.Unlock()
	if r.abort == nil {
		r.abort = err
	}
	r.s.cond.Broadcast()
}

// Rewritten implements task.ReopenableStream: bytes this reader consumed
// were changed, and neither it nor the file was aborted.
func (r *stagingReader) Rewritten() bool {
	r.s.mu.Lock()
	defer r.s.mu.Unlock()
	return r.s.broken && r.abort == nil && r.s.abort == nil
}

// Reopen implements task.ReopenableStream: the reader starts over as a
// complete reader (it reads once the file is finished), keeping its abort.
func (r *stagingReader) Reopen() io.Reader {
	s := r.s
	s.mu.Lock()
	defer s.mu.Unlock()
	r.pos, r.streaming = 0, false
	s.consumed, s.broken = 0, false
	return r
}
