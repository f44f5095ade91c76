package snapshot

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"time"

	"github.com/klauspost/pgzip"
)

// enginePgzip is the writer's contender in BenchmarkWrite: one member at a
// time, each split by pgzip into blocks compressed in parallel. The pool of
// flate members (enginePool) was faster; see docs/FORMAT.md, "Choice of
// defaults".
var enginePgzip = engine{workers: 1, compressor: func(o WriteOptions) (func(*bytes.Buffer, []byte) error, error) {
	pw, err := newPgzipMemberWriter(o.Level, o.Concurrency, o.MemberSize)
	if err != nil {
		return nil, err
	}
	return pw.compress, nil
}}

// pgzipMemberWriter compresses one member at a time with pgzip.
type pgzipMemberWriter struct {
	zw                 *pgzip.Writer
	block, concurrency int
}

func newPgzipMemberWriter(level, concurrency, memberSize int) (*pgzipMemberWriter, error) {
	zw, err := pgzip.NewWriterLevel(io.Discard, level)
	if err != nil {
		return nil, fmt.Errorf("snapshot: gzip level %d: %w", level, err)
	}
	block := max(memberSize/(2*concurrency), 128<<10)
	return &pgzipMemberWriter{zw: zw, block: block, concurrency: concurrency}, nil
}

func (pw *pgzipMemberWriter) compress(out *bytes.Buffer, data []byte) error {
	out.Reset()
	pw.zw.Reset(out) // also resets the concurrency settings
	if err := pw.zw.SetConcurrency(pw.block, pw.concurrency); err != nil {
		return err
	}
	pw.zw.Header = pgzip.Header{
		Extra:   []byte{memberSI1, memberSI2, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0},
		ModTime: time.Unix(0, 0),
		OS:      osUnknown,
	}
	if _, err := pw.zw.Write(data); err != nil {
		return err
	}
	if err := pw.zw.Close(); err != nil {
		return err
	}
	binary.LittleEndian.PutUint64(out.Bytes()[memberLenOffset:], uint64(out.Len()))
	return nil
}
