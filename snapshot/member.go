package snapshot

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"runtime"

	"github.com/klauspost/compress/flate"
)

// A gzip member of the format (docs/FORMAT.md, "Gzip members"):
//
//	1f 8b 08 04 | MTIME 0 | XFL | OS ff | XLEN 12 | 'I' 'X' | LEN 8 | uint64 total length (LE)
//	deflate data
//	CRC32 (LE) | ISIZE (LE)
const (
	gzipID1, gzipID2 = 0x1f, 0x8b
	gzipDeflate      = 8
	flagText         = 1 << 0
	flagHCRC         = 1 << 1
	flagExtra        = 1 << 2
	flagName         = 1 << 3
	flagComment      = 1 << 4
	osUnknown        = 255

	memberSI1, memberSI2 = 'I', 'X'
	// memberHeaderLen is the size of the gzip header the writer emits.
	memberHeaderLen = 10 + 2 + 4 + 8
	// memberLenOffset is where the uint64 length sits in that header.
	memberLenOffset  = 16
	memberTrailerLen = 8
)

// Member size bounds. Write refuses a MemberSize above MaxMemberSize; the
// reader rejects members that would inflate past it or whose recorded
// length exceeds maxMemberCompressed, which bounds the memory an archive can
// make the reader use: about (2×Concurrency+2) × 8.3 MiB.
const (
	MaxMemberSize       = 4 << 20
	minMemberSize       = 64 << 10
	maxMemberCompressed = MaxMemberSize + MaxMemberSize/16 + 4096
	// minMemberLen is the shortest possible member: a header, the two bytes
	// of an empty final deflate block, and the trailer.
	minMemberLen = 10 + 2 + memberTrailerLen
)

// putMemberHeader writes the writer's 24-byte member header into b.
func putMemberHeader(b []byte, level int, total uint64) {
	b[0], b[1], b[2], b[3] = gzipID1, gzipID2, gzipDeflate, flagExtra
	b[4], b[5], b[6], b[7] = 0, 0, 0, 0 // MTIME: none, so output is reproducible
	switch level {
	case flate.BestSpeed:
		b[8] = 4
	case flate.BestCompression:
		b[8] = 2
	default:
		b[8] = 0
	}
	b[9] = osUnknown
	binary.LittleEndian.PutUint16(b[10:], 4+8) // XLEN
	b[12], b[13] = memberSI1, memberSI2
	binary.LittleEndian.PutUint16(b[14:], 8)
	binary.LittleEndian.PutUint64(b[memberLenOffset:], total)
}

// compressSlice is how much of a member memberWriter compresses between
// two runtime.Gosched calls: about half a millisecond of work.
const compressSlice = 64 << 10

// memberWriter compresses whole members. It is not safe for concurrent use;
// each compressing goroutine has its own.
type memberWriter struct {
	level int
	fw    *flate.Writer
}

func newMemberWriter(level int) (*memberWriter, error) {
	fw, err := flate.NewWriter(io.Discard, level)
	if err != nil {
		return nil, fmt.Errorf("snapshot: gzip level %d: %w", level, err)
	}
	return &memberWriter{level: level, fw: fw}, nil
}

// compress appends to out (reset first) one complete member holding data.
func (mw *memberWriter) compress(out *bytes.Buffer, data []byte) error {
	out.Reset()
	var hdr [memberHeaderLen]byte
	out.Write(hdr[:]) // placeholder, patched below once the length is known
	mw.fw.Reset(out)
	// In slices, with a chance for other goroutines to run in between: a
	// member takes milliseconds to compress, and with every P busy
	// compressing, a goroutine that wakes up (a FUSE request, a write to
	// the index) would otherwise wait for the scheduler's 10 ms preemption,
	// once per request. The output does not depend on the slicing.
	for rest := data; len(rest) > 0; {
		n := min(len(rest), compressSlice)
		if _, err := mw.fw.Write(rest[:n]); err != nil {
			return err
		}
		if rest = rest[n:]; len(rest) > 0 {
			runtime.Gosched()
		}
	}
	if err := mw.fw.Close(); err != nil {
		return err
	}
	var tr [memberTrailerLen]byte
	binary.LittleEndian.PutUint32(tr[0:], crc32.ChecksumIEEE(data))
	binary.LittleEndian.PutUint32(tr[4:], uint32(len(data)))
	out.Write(tr[:])
	putMemberHeader(out.Bytes(), mw.level, uint64(out.Len()))
	return nil
}

// memberHeader is what the reader learns from a member's gzip header.
type memberHeader struct {
	len   int    // bytes of header
	total uint64 // the recorded member length; 0 if there is no subfield
}

// errNotGzip is returned by readMemberHeader when the bytes do not start a
// gzip member.
var errNotGzip = errors.New("not a gzip member")

// headerReader reads a member header from a bufio.Reader, keeping a copy
// of the bytes consumed when rec is set.
type headerReader struct {
	br  *bufio.Reader
	rec *[]byte
	n   int
}

func (hr *headerReader) full(p []byte) error {
	n, err := io.ReadFull(hr.br, p)
	hr.n += n
	if hr.rec != nil {
		*hr.rec = append(*hr.rec, p[:n]...)
	}
	if err != nil {
		return io.ErrUnexpectedEOF
	}
	return nil
}

// readMemberHeader reads a gzip member header from br. It returns io.EOF if
// br is at its end, errNotGzip if the magic is wrong, io.ErrUnexpectedEOF if
// the header is cut short, and a descriptive error if it is malformed. If
// rec is not nil, the bytes consumed are appended to it.
func readMemberHeader(br *bufio.Reader, rec *[]byte) (memberHeader, error) {
	var h memberHeader
	fixed, err := br.Peek(10)
	if len(fixed) == 0 && err == io.EOF {
		return h, io.EOF
	}
	if len(fixed) >= 2 && (fixed[0] != gzipID1 || fixed[1] != gzipID2) || len(fixed) == 1 && fixed[0] != gzipID1 {
		return h, errNotGzip
	}
	if err != nil {
		return h, io.ErrUnexpectedEOF
	}
	if fixed[2] != gzipDeflate {
		return h, fmt.Errorf("unknown compression method %d", fixed[2])
	}
	flg := fixed[3]
	if flg&^(flagText|flagHCRC|flagExtra|flagName|flagComment) != 0 {
		return h, fmt.Errorf("reserved header flags %#02x set", flg)
	}
	hr := &headerReader{br: br, rec: rec}
	var buf [10]byte
	if err := hr.full(buf[:]); err != nil {
		return h, err
	}
	if flg&flagExtra != 0 {
		var xlen [2]byte
		if err := hr.full(xlen[:]); err != nil {
			return h, err
		}
		extra := make([]byte, binary.LittleEndian.Uint16(xlen[:]))
		if err := hr.full(extra); err != nil {
			return h, err
		}
		for len(extra) > 0 {
			if len(extra) < 4 {
				return h, fmt.Errorf("malformed extra field")
			}
			si1, si2 := extra[0], extra[1]
			sl := int(binary.LittleEndian.Uint16(extra[2:]))
			extra = extra[4:]
			if sl > len(extra) {
				return h, fmt.Errorf("malformed extra field")
			}
			if si1 == memberSI1 && si2 == memberSI2 {
				if sl != 8 || h.total != 0 {
					return h, fmt.Errorf("malformed member-length subfield")
				}
				h.total = binary.LittleEndian.Uint64(extra)
				if h.total == 0 {
					return h, fmt.Errorf("member-length subfield records 0")
				}
			}
			extra = extra[sl:]
		}
	}
	for _, f := range []byte{flagName, flagComment} {
		if flg&f == 0 {
			continue
		}
		for n := 0; ; n++ {
			var c [1]byte
			if err := hr.full(c[:]); err != nil {
				return h, err
			}
			if c[0] == 0 {
				break
			}
			if n > 64<<10 {
				return h, fmt.Errorf("header name or comment too long")
			}
		}
	}
	if flg&flagHCRC != 0 {
		var crc [2]byte
		if err := hr.full(crc[:]); err != nil {
			return h, err
		}
	}
	h.len = hr.n
	return h, nil
}

// memberReader inflates whole members. It is not safe for concurrent use;
// each inflating goroutine has its own.
type memberReader struct {
	src bytes.Reader
	fr  io.ReadCloser
}

func newMemberReader() *memberReader {
	return &memberReader{fr: flate.NewReader(bytes.NewReader(nil))}
}

// inflate decompresses rest — a member without its header: deflate data and
// trailer — into out (reset first, grown as needed) and checks the trailer
// and that the deflate data ends exactly at the trailer.
func (mr *memberReader) inflate(out *[]byte, rest []byte) error {
	if len(rest) < memberTrailerLen+2 {
		return fmt.Errorf("member too short")
	}
	body, tr := rest[:len(rest)-memberTrailerLen], rest[len(rest)-memberTrailerLen:]
	wantCRC := binary.LittleEndian.Uint32(tr[0:])
	size := binary.LittleEndian.Uint32(tr[4:])
	if size > MaxMemberSize {
		return fmt.Errorf("member would inflate to %d bytes, more than the limit of %d", size, MaxMemberSize)
	}
	if cap(*out) < int(size) {
		*out = make([]byte, size)
	}
	buf := (*out)[:size]
	mr.src.Reset(body)
	if err := mr.fr.(flate.Resetter).Reset(&mr.src, nil); err != nil {
		return err
	}
	if n, err := io.ReadFull(mr.fr, buf); err != nil {
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return fmt.Errorf("member inflates to %d bytes, trailer says %d", n, size)
		}
		return fmt.Errorf("deflate data: %v", err)
	}
	var one [1]byte
	if n, err := mr.fr.Read(one[:]); n != 0 || err != io.EOF {
		if err != nil && err != io.EOF {
			return fmt.Errorf("deflate data: %v", err)
		}
		return fmt.Errorf("member inflates to more than the %d bytes its trailer says", size)
	}
	if mr.src.Len() != 0 {
		return fmt.Errorf("%d bytes between the deflate data and the trailer", mr.src.Len())
	}
	if got := crc32.ChecksumIEEE(buf); got != wantCRC {
		return fmt.Errorf("CRC-32 mismatch (trailer %08x, data %08x)", wantCRC, got)
	}
	*out = buf
	return nil
}
