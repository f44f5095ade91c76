package fs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/idxfs/idxfs/task"
)

// The bytes written to import/NAME on their way to the import (DESIGN §5,
// DESIGN-NOTES "Import through the mount: a stream, not a staging file").
// There is no staging copy: the import reads the bytes from copies of the
// written buffers, in order, and they are gone once read.
//
//   - A write at the end of what the import can read next (cp, cat, dd,
//     mv, python: every tool that writes in order) is kept in memory (in
//     the parking file if parked bytes fill it); it waits while the import
//     has more than streamWindow bytes to read already (back-pressure: the
//     writer goes at the import's pace). Until an import reads (rsync's
//     temporary name, before its rename), nothing waits.
//   - A write further ahead (rclone's concurrent range writers, any order)
//     is parked: in memory up to streamMemory bytes in all, beyond that in
//     a sparse file in DATA/tmp at the same offsets, whose ranges are freed
//     (hole-punched) as the import reads them. It never waits.
//   - A write or truncation over bytes the import already read cannot be
//     honoured (nothing keeps them): it fails with errConsumed, and the
//     import fails with it. Truncating to nothing is the exception: the
//     writer starts over, and so does the import (task.ReopenableStream).
//   - Reading back returns the bytes still held and zeros for holes; a read
//     of bytes already imported fails with errConsumed.
const (
	streamWindow = 16 << 20 // readable bytes beyond which an in-order write waits
	streamMemory = 32 << 20 // bytes held in memory; more are parked in the file
	streamBuffer = 1 << 20  // the largest write (MaxWrite): pooled buffers' size
)

// buffers recycles the buffers writes are copied into, so that streaming
// gigabytes makes no garbage (the heap would grow to twice what is held
// between collections).
var buffers = sync.Pool{New: func() any { b := make([]byte, streamBuffer); return &b }}

// errConsumed is a write, truncation or read of bytes of import/NAME the
// import already read: they are not kept. The writer gets ESPIPE.
var errConsumed = fmt.Errorf("%w: import/ reads the archive as a stream and keeps no copy of the bytes it has read; write each byte once, in any order, but never again after the import has read it", task.ErrInvalid)

// errRestarted: the writer truncated the file to nothing after the import
// had read from it; the import starts over from the new bytes.
var errRestarted = errors.New("the archive was truncated to nothing and is being written again")

// stretch is a run of bytes held at off: in memory (data) or in the
// parking file (n bytes at the same offset).
type stretch struct {
	off    int64
	data   []byte
	n      int64 // length if parked in the file
	parked bool
	buf    *[]byte // data's pooled buffer, returned once data is all read or dropped
}

// free returns the stretch's buffer to the pool.
func (s *stretch) free() {
	if s.buf != nil {
		buffers.Put(s.buf)
		s.buf = nil
	}
}

func (s *stretch) len() int64 {
	if s.parked {
		return s.n
	}
	return int64(len(s.data))
}

func (s *stretch) end() int64 { return s.off + s.len() }

// cut drops the first k bytes.
func (s *stretch) cut(k int64) {
	s.off += k
	if s.parked {
		s.n -= k
	} else {
		s.data = s.data[k:]
	}
}

// importStream holds the bytes of one import entry.
type importStream struct {
	dir    string
	window int64 // streamWindow (tests set less)
	memory int64 // streamMemory (tests set less)

	mu       sync.Mutex
	cond     *sync.Cond
	size     int64     // the file's size
	consumed int64     // bytes [0, consumed) were handed to the import
	held     []stretch // by offset, not overlapping, all at or after consumed
	mem      int64     // bytes of held in memory
	file     *os.File  // the parking file, made at the first parked byte
	reading  bool      // an import reads: in-order writes wait for it
	gen      int       // truncations to nothing after the import read
	done     bool      // no more data will come: the import reads up to size
	abort    error     // set by failWith or remove: the import fails with it
	removed  bool
	alive    func() bool // reports whether the import may still read (nil: yes)
}

func newImportStream(dir string) *importStream {
	s := &importStream{dir: dir, window: streamWindow, memory: streamMemory}
	s.cond = sync.NewCond(&s.mu)
	return s
}

// frontLocked is where the run of held bytes that the import can read next
// ends.
func (s *importStream) frontLocked() int64 {
	front := s.consumed
	for i := range s.held {
		if s.held[i].off != front {
			break
		}
		front = s.held[i].end()
	}
	return front
}

// mustWaitLocked reports whether a write at off waits for the import: it
// continues the readable run and the import has enough to read already.
func (s *importStream) mustWaitLocked(off int64) bool {
	if !s.reading || s.abort != nil || s.removed {
		return false
	}
	front := s.frontLocked()
	return off <= front && front-s.consumed >= s.window
}

// WriteAt holds p at off, waiting (interruptibly) while the import is
// behind by more than streamWindow if p continues what it can read.
func (s *importStream) WriteAt(ctx context.Context, p []byte, off int64) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for s.mustWaitLocked(off) {
		if err := ctx.Err(); err != nil {
			return 0, syscall.EINTR
		}
		if alive := s.alive; alive != nil {
			s.mu.Unlock()
			ok := alive()
			s.mu.Lock()
			if !ok {
				s.reading = false // the import ended: nothing to wait for
				break
			}
		}
		s.waitLocked(ctx, time.Second)
	}
	if s.removed {
		return 0, os.ErrClosed
	}
	if len(p) == 0 {
		return 0, nil
	}
	if off < s.consumed {
		return 0, fmt.Errorf("bytes %d–%d written, but the import has read up to %d: %w", off, off+int64(len(p)), s.consumed, errConsumed)
	}
	if end := off + int64(len(p)); end > s.size {
		if err := s.roomLocked(end - s.consumed); err != nil {
			return 0, err
		}
	}
	s.dropLocked(off, off+int64(len(p)))
	st := stretch{off: off}
	if s.mem+int64(len(p)) <= s.memory {
		if len(p) <= streamBuffer {
			st.buf = buffers.Get().(*[]byte)
			st.data = (*st.buf)[:len(p)]
			copy(st.data, p)
		} else {
			st.data = append([]byte(nil), p...)
		}
		s.mem += int64(len(p))
	} else {
		if err := s.parkLocked(p, off); err != nil {
			return 0, err
		}
		st.parked, st.n = true, int64(len(p))
	}
	i := sort.Search(len(s.held), func(i int) bool { return s.held[i].off > off })
	s.held = append(s.held, stretch{})
	copy(s.held[i+1:], s.held[i:])
	s.held[i] = st
	s.size = max(s.size, off+int64(len(p)))
	s.cond.Broadcast()
	return len(p), nil
}

// waitLocked waits for a change, for ctx's end or for d.
func (s *importStream) waitLocked(ctx context.Context, d time.Duration) {
	stop := context.AfterFunc(ctx, s.wake)
	t := time.AfterFunc(d, s.wake)
	s.cond.Wait()
	t.Stop()
	stop()
}

func (s *importStream) wake() {
	s.mu.Lock()
	s.cond.Broadcast()
	s.mu.Unlock()
}

// roomLocked fails with ENOSPC if DATA/tmp's disk has less room than need,
// the bytes the import has still to read: they may have to be parked
// there, and the import writes at least as much. A write fails where it
// would have failed into a file (DESIGN §5: the close reports it).
func (s *importStream) roomLocked(need int64) error {
	var st unix.Statfs_t
	if err := unix.Statfs(s.dir, &st); err != nil {
		return nil // the disk's own errors will tell
	}
	if free := int64(st.Bavail) * int64(st.Bsize); free < need {
		return fmt.Errorf("import/: %w: %d bytes to hold, %d free in %s", syscall.ENOSPC, need, free, s.dir)
	}
	return nil
}

// parkLocked writes p at off in the parking file.
func (s *importStream) parkLocked(p []byte, off int64) error {
	if s.file == nil {
		f, err := os.CreateTemp(s.dir, "import-*.parked")
		if err != nil {
			return err
		}
		s.file = f
	}
	_, err := s.file.WriteAt(p, off)
	return err
}

// dropLocked forgets the held bytes in [from, to): they are written again
// or truncated away.
func (s *importStream) dropLocked(from, to int64) {
	i := sort.Search(len(s.held), func(i int) bool { return s.held[i].end() > from })
	if i == len(s.held) || s.held[i].off >= to {
		return // nothing held there: the usual case
	}
	out := s.held[:0]
	var tail []stretch
	for _, st := range s.held {
		if st.end() <= from || st.off >= to {
			out = append(out, st)
			continue
		}
		if st.off < from || st.end() > to {
			st.buf = nil // split: the parts share it, the collector frees it
		} else {
			st.free()
		}
		if st.off < from { // keep the head
			head := st
			if head.parked {
				head.n = from - st.off
			} else {
				head.data = st.data[:from-st.off]
			}
			out = append(out, head)
		}
		if st.end() > to { // keep the tail
			rest := st
			rest.cut(to - st.off)
			tail = append(tail, rest)
		}
		if !st.parked {
			s.mem -= min(st.end(), to) - max(st.off, from)
		}
	}
	// The tails come after every stretch that ends before them.
	held := append(out, tail...)
	sort.Slice(held, func(i, j int) bool { return held[i].off < held[j].off })
	s.held = held
}

// Truncate sets the size. Cutting into bytes the import read fails with
// errConsumed, except cutting to nothing: the import starts over.
func (s *importStream) Truncate(size int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.removed {
		return os.ErrClosed
	}
	switch {
	case size == 0 && s.consumed > 0:
		s.dropLocked(0, s.size)
		s.consumed = 0
		s.gen++
		if s.file != nil {
			s.file.Truncate(0)
		}
	case size < s.consumed:
		return fmt.Errorf("truncated to %d bytes, but the import has read %d: %w", size, s.consumed, errConsumed)
	case size < s.size:
		s.dropLocked(size, s.size)
	}
	s.size = size
	s.cond.Broadcast()
	return nil
}

// ReadAt reads back the bytes held (zeros where nothing was written); bytes
// the import already read fail with errConsumed.
func (s *importStream) ReadAt(p []byte, off int64) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.removed {
		return 0, os.ErrClosed
	}
	if off < s.consumed {
		return 0, fmt.Errorf("read of bytes %d– of import/: the import has read up to %d: %w", off, s.consumed, errConsumed)
	}
	if off >= s.size {
		return 0, io.EOF
	}
	n := min(int64(len(p)), s.size-off)
	p = p[:n]
	clear(p)
	for _, st := range s.held {
		if st.end() <= off || st.off >= off+n {
			continue
		}
		from, to := max(st.off, off), min(st.end(), off+n)
		if st.parked {
			if _, err := s.file.ReadAt(p[from-off:to-off], from); err != nil {
				return 0, err
			}
		} else {
			copy(p[from-off:to-off], st.data[from-st.off:to-st.off])
		}
	}
	return int(n), nil
}

// Size returns the file's size.
func (s *importStream) Size() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.size
}

// finish says no more data will come.
func (s *importStream) finish() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.done = true
	s.cond.Broadcast()
}

// failWith makes the import fail with err from now on (unless it already
// fails with another error).
func (s *importStream) failWith(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.abort == nil {
		s.abort = err
	}
	s.cond.Broadcast()
}

// remove drops the bytes and the parking file; the import fails.
func (s *importStream) remove() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.removed {
		return
	}
	s.removed = true
	if s.abort == nil {
		s.abort = os.ErrClosed
	}
	s.held, s.mem = nil, 0
	if s.file != nil {
		s.file.Close()
		os.Remove(s.file.Name())
	}
	s.cond.Broadcast()
}

// reader returns the import's reader of the bytes from the start; alive
// reports whether its import may still read (a writer waiting for it gives
// up when it says no).
func (s *importStream) reader(alive func() bool) *streamReader {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reading, s.alive = true, alive
	return &streamReader{s: s, gen: s.gen}
}

// streamReader reads an import stream; it implements task.StreamAborter
// and task.ReopenableStream.
type streamReader struct {
	s     *importStream
	gen   int
	abort error // guarded by s.mu
}

func (r *streamReader) Read(p []byte) (int, error) {
	s := r.s
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		switch {
		case r.abort != nil:
			return 0, r.abort
		case s.abort != nil:
			return 0, s.abort
		case r.gen != s.gen:
			return 0, errRestarted
		}
		if len(p) == 0 {
			return 0, nil
		}
		if len(s.held) > 0 && s.held[0].off == s.consumed {
			return r.readHeldLocked(p)
		}
		if s.done && s.consumed < s.size {
			// A hole the writer never wrote reads as zeros, as in a file.
			end := s.size
			if len(s.held) > 0 {
				end = s.held[0].off
			}
			n := min(int64(len(p)), end-s.consumed)
			clear(p[:n])
			s.consumed += n
			return int(n), nil
		}
		if s.done {
			return 0, io.EOF
		}
		s.cond.Wait()
	}
}

// readHeldLocked hands over the first held bytes, which start at consumed.
func (r *streamReader) readHeldLocked(p []byte) (int, error) {
	s := r.s
	st := &s.held[0]
	n := min(int64(len(p)), st.len())
	off := st.off
	if st.parked {
		if _, err := s.file.ReadAt(p[:n], off); err != nil {
			return 0, err
		}
		// The parking file keeps only what the import has still to read.
		unix.Fallocate(int(s.file.Fd()), unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, off, n)
	} else {
		copy(p, st.data[:n])
		s.mem -= n
	}
	st.cut(n)
	if st.len() == 0 {
		st.free()
		s.held[0] = stretch{}
		s.held = s.held[1:]
	}
	s.consumed += n
	s.cond.Broadcast() // writers waiting for room
	return int(n), nil
}

// Abort implements task.StreamAborter: reads fail with err from now on,
// and writers no longer wait for this reader.
func (r *streamReader) Abort(err error) {
	s := r.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.abort == nil {
		r.abort = err
	}
	s.reading = false
	s.cond.Broadcast()
}

// Rewritten implements task.ReopenableStream: the writer truncated the
// file to nothing after this reader read from it, and neither it nor the
// file was aborted.
func (r *streamReader) Rewritten() bool {
	s := r.s
	s.mu.Lock()
	defer s.mu.Unlock()
	return r.gen != s.gen && r.abort == nil && s.abort == nil
}

// Reopen implements task.ReopenableStream: the reader starts over, at the
// new bytes' start, keeping its abort.
func (r *streamReader) Reopen() io.Reader {
	s := r.s
	s.mu.Lock()
	defer s.mu.Unlock()
	r.gen = s.gen
	return r
}
