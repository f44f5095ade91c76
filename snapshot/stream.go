package snapshot

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"

	"github.com/klauspost/compress/gzip"
	"golang.org/x/sync/errgroup"
)

// chunk is a piece of the tar stream on its way through the read pipeline:
// one member (inflated by a worker) or, for archives without member-length
// subfields, a slice of sequentially inflated data. Chunks are recycled
// through a free list, which bounds the memory in use.
type chunk struct {
	raw   []byte // the member without its header (member mode)
	data  []byte // inflated
	err   error  // set instead of data; ends the stream
	done  chan struct{}
	off   int64  // input offset of the member, for messages
	n     int    // member number, for messages
	total uint64 // recorded member length, for messages
}

// gunzipStream turns an archive's gzip stream into the tar stream. When the
// first member carries the member-length subfield it reads every member whole
// and inflates Concurrency members at once; otherwise it inflates the whole
// stream sequentially (one goroutine ahead of the consumer). Errors surface
// from Read in stream order. Read must be called from one goroutine.
type gunzipStream struct {
	ctx     context.Context
	in      *countingReader
	br      *bufio.Reader
	free    chan *chunk
	work    chan *chunk
	ordered chan *chunk
	workers int

	cur *chunk
	pos int
	err error // sticky
}

// countingReader counts the bytes read from the archive and remembers a
// read error, to tell it from corrupt data.
type countingReader struct {
	r   io.Reader
	n   atomic.Int64
	err error // the first error other than io.EOF; split's goroutine only
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	if err != nil && err != io.EOF && c.err == nil {
		c.err = err
	}
	return n, err
}

const (
	readBufferSize = 256 << 10
	seqChunkSize   = 1 << 20
)

// startGunzip starts the goroutines of a gunzipStream in g. They stop when
// the stream ends or ctx is cancelled.
func startGunzip(ctx context.Context, g *errgroup.Group, r io.Reader, concurrency int) *gunzipStream {
	in := &countingReader{r: r}
	s := &gunzipStream{
		ctx:     ctx,
		in:      in,
		br:      bufio.NewReaderSize(in, readBufferSize),
		workers: concurrency,
	}
	n := 2*concurrency + 2
	s.free = make(chan *chunk, n)
	for range n {
		s.free <- &chunk{}
	}
	s.work = make(chan *chunk, concurrency)
	s.ordered = make(chan *chunk, n)
	g.Go(s.split)
	for range concurrency {
		g.Go(s.inflate)
	}
	return s
}

// inputBytes is how many bytes of the archive have been read so far.
func (s *gunzipStream) inputBytes() int64 { return s.in.n.Load() }

// offset is the input offset of the next unread byte.
func (s *gunzipStream) offset() int64 { return s.in.n.Load() - int64(s.br.Buffered()) }

func (s *gunzipStream) truncated() error {
	if s.in.err != nil {
		return fmt.Errorf("snapshot: read archive: %w", s.in.err)
	}
	return fmt.Errorf("%w: archive truncated after %d bytes", ErrCorrupt, s.inputBytes())
}

// get takes an idle chunk.
func (s *gunzipStream) get() (*chunk, error) {
	select {
	case c := <-s.free:
		c.err = nil
		c.done = make(chan struct{})
		return c, nil
	case <-s.ctx.Done():
		return nil, s.ctx.Err()
	}
}

// send queues c for output, and for inflating if toWork.
func (s *gunzipStream) send(c *chunk, toWork bool) error {
	select {
	case s.ordered <- c:
	case <-s.ctx.Done():
		return s.ctx.Err()
	}
	if !toWork {
		close(c.done)
		return nil
	}
	select {
	case s.work <- c:
		return nil
	case <-s.ctx.Done():
		return s.ctx.Err()
	}
}

// fail queues an error chunk: the consumer sees err after all that came
// before it. The error is not the goroutine's: it returns nil so that the
// consumer, not the errgroup, decides what the error is.
func (s *gunzipStream) fail(err error) error {
	if c, gerr := s.get(); gerr == nil {
		c.err = err
		s.send(c, false)
	}
	return nil
}

// split reads the archive: members whole (member mode), or all of it
// through a sequential gzip reader.
func (s *gunzipStream) split() error {
	defer close(s.work)
	defer close(s.ordered)
	var first []byte
	h, err := readMemberHeader(s.br, &first)
	switch {
	case err == io.EOF:
		return s.fail(fmt.Errorf("%w: empty input", ErrCorrupt))
	case errors.Is(err, errNotGzip):
		return s.fail(fmt.Errorf("%w: not a gzip stream", ErrCorrupt))
	case err == io.ErrUnexpectedEOF:
		return s.fail(s.truncated())
	case err != nil:
		return s.fail(fmt.Errorf("%w: gzip member 0: %v", ErrCorrupt, err))
	}
	if h.total == 0 {
		return s.sequential(first)
	}
	for n := 0; ; n++ {
		off := s.offset() - int64(h.len)
		if h.total > maxMemberCompressed || h.total < uint64(h.len)+minMemberLen-10 {
			return s.fail(fmt.Errorf("%w: gzip member %d at offset %d: recorded length %d is impossible", ErrCorrupt, n, off, h.total))
		}
		c, err := s.get()
		if err != nil {
			return nil
		}
		c.off, c.n, c.total = off, n, h.total
		rest := int(h.total) - h.len
		if cap(c.raw) < rest {
			c.raw = make([]byte, rest)
		}
		c.raw = c.raw[:rest]
		if _, err := io.ReadFull(s.br, c.raw); err != nil {
			s.free <- c
			if s.in.err != nil {
				return s.fail(fmt.Errorf("snapshot: read archive: %w", s.in.err))
			}
			return s.fail(s.truncated())
		}
		if err := s.send(c, true); err != nil {
			return nil
		}
		h, err = readMemberHeader(s.br, nil)
		switch {
		case err == io.EOF:
			return nil
		case errors.Is(err, errNotGzip):
			return s.fail(fmt.Errorf("%w: trailing garbage after the last gzip member, at offset %d", ErrCorrupt, s.offset()))
		case err == io.ErrUnexpectedEOF:
			return s.fail(s.truncated())
		case err != nil:
			return s.fail(fmt.Errorf("%w: gzip member %d at offset %d: %v", ErrCorrupt, n+1, s.offset(), err))
		case h.total == 0:
			return s.fail(fmt.Errorf("%w: gzip member %d at offset %d has no member-length subfield", ErrCorrupt, n+1, s.offset()-int64(h.len)))
		}
	}
}

// sequential inflates the whole stream on this goroutine, in chunks, for
// archives whose first member has no member-length subfield (GNU tar, gzip,
// pigz).
func (s *gunzipStream) sequential(first []byte) error {
	// The first header was consumed to look for the subfield; the gzip
	// reader reads it again from the copy.
	zr, err := gzip.NewReader(io.MultiReader(bytes.NewReader(first), s.br))
	if err != nil {
		return s.fail(s.gzipError(err, 0))
	}
	defer zr.Close()
	var total int64
	for {
		c, err := s.get()
		if err != nil {
			return nil
		}
		if cap(c.data) < seqChunkSize {
			c.data = make([]byte, seqChunkSize)
		}
		n, rerr := io.ReadFull(zr, c.data[:seqChunkSize])
		c.data = c.data[:n]
		total += int64(n)
		if n > 0 {
			if err := s.send(c, false); err != nil {
				return nil
			}
		} else {
			s.free <- c
		}
		switch rerr {
		case nil:
			continue
		case io.EOF, io.ErrUnexpectedEOF:
			return nil
		default:
			return s.fail(s.gzipError(rerr, total))
		}
	}
}

// gzipError describes an error of the sequential gzip reader.
func (s *gunzipStream) gzipError(err error, inflated int64) error {
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF):
		return s.truncated()
	case errors.Is(err, gzip.ErrHeader):
		return fmt.Errorf("%w: trailing garbage or bad gzip header after %d bytes", ErrCorrupt, s.offset())
	case errors.Is(err, gzip.ErrChecksum):
		return fmt.Errorf("%w: gzip checksum mismatch after %d bytes", ErrCorrupt, s.offset())
	case s.in.err != nil:
		return fmt.Errorf("snapshot: read archive: %w", s.in.err)
	default:
		return fmt.Errorf("%w: gzip data after %d bytes (%d inflated): %v", ErrCorrupt, s.offset(), inflated, err)
	}
}

// inflate is one inflating goroutine (member mode).
func (s *gunzipStream) inflate() error {
	mr := newMemberReader()
	for c := range s.work {
		if s.ctx.Err() != nil {
			c.err = s.ctx.Err()
		} else if err := mr.inflate(&c.data, c.raw); err != nil {
			c.err = fmt.Errorf("%w: gzip member %d at offset %d (recorded length %d): %v", ErrCorrupt, c.n, c.off, c.total, err)
		}
		close(c.done)
	}
	return nil
}

// Read implements io.Reader over the inflated stream.
func (s *gunzipStream) Read(p []byte) (int, error) {
	for s.err == nil && (s.cur == nil || s.pos == len(s.cur.data)) {
		if s.cur != nil {
			s.free <- s.cur
			s.cur = nil
		}
		var c *chunk
		select {
		case c = <-s.ordered:
		case <-s.ctx.Done():
			s.err = s.ctx.Err()
			return 0, s.err
		}
		if c == nil {
			s.err = io.EOF
			break
		}
		select {
		case <-c.done:
		case <-s.ctx.Done():
			s.err = s.ctx.Err()
			return 0, s.err
		}
		if c.err != nil {
			s.err = c.err
			s.free <- c
			break
		}
		s.cur, s.pos = c, 0
	}
	if s.err != nil {
		return 0, s.err
	}
	n := copy(p, s.cur.data[s.pos:])
	s.pos += n
	return n, nil
}
