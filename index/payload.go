package index

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"slices"
	"strings"
)

// payloadReader yields the documents of a payload one at a time: NDJSON
// (read line by line) or a JSON array of objects (read element by element),
// told apart by the first non-space byte. It holds one document (plus a
// read buffer) in memory, and never more than maxDoc bytes of one: a longer
// document is refused once maxDoc bytes of it have gone by, before it is
// buffered. To do so without copying every document twice it scans ahead
// in the read buffer, copies at most copyLimit bytes of a document while
// it looks for its end, and reads a longer one again from the payload once
// its length is known (the payload is seekable: it is read twice anyway).
type payloadReader struct {
	r       io.ReadSeeker
	cr      *countingReader
	br      *bufio.Reader
	base    int64 // payload offset of br's first byte (as of its last reset)
	maxDoc  int
	copyMax int // min(copyLimit, maxDoc/4)

	array     bool
	needComma bool // array mode: an element was read; ',' or ']' comes next
	ended     bool // array mode: the closing ']' was read

	line  int    // NDJSON: number of the line last read
	buf   []byte // a document that did not come whole from br's buffer
	index int    // documents yielded so far
}

// copyLimit is the most bytes of one document copied while its end is
// searched: longer ones are read again (see payloadReader). A reader with
// a small maxDoc copies at most a quarter of it (the tests and fuzz targets
// use that to read documents again often).
const copyLimit = 1 << 20

// rawDocument is one document as it appears in the payload. data is valid
// until the next call to next.
type rawDocument struct {
	data     []byte
	position string
}

func newPayloadReader(r io.ReadSeeker, maxDoc int) (*payloadReader, error) {
	base, err := r.Seek(0, io.SeekCurrent)
	if err != nil {
		return nil, err
	}
	p := &payloadReader{r: r, cr: &countingReader{r: r}, base: base, maxDoc: maxDoc, copyMax: min(copyLimit, maxDoc/4)}
	p.br = bufio.NewReaderSize(p.cr, 256<<10)
	// Skip leading white space, counting lines, and look at the first byte.
	c, err := p.skipSpace(true)
	if err == io.EOF {
		return p, nil // empty payload: NDJSON with no lines
	}
	if err != nil {
		return nil, err
	}
	if c == '[' {
		p.br.Discard(1)
		p.array = true
	}
	return p, nil
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// offset is the number of payload bytes consumed so far.
func (p *payloadReader) offset() int64 {
	return p.base + p.cr.n - int64(p.br.Buffered())
}

// skipSpace consumes white space (counting lines if lines) and returns the
// next byte, unread, or io.EOF.
func (p *payloadReader) skipSpace(lines bool) (byte, error) {
	for {
		c, err := p.br.ReadByte()
		if err != nil {
			return 0, err
		}
		if !isSpace(c) {
			p.br.UnreadByte()
			return c, nil
		}
		if c == '\n' && lines {
			p.line++
		}
	}
}

// next returns the next document, or io.EOF after the last. Other errors are
// *DocumentError (or the reader's own errors).
func (p *payloadReader) next() (rawDocument, error) {
	if p.array {
		return p.nextElement()
	}
	return p.nextLine()
}

func (p *payloadReader) nextLine() (rawDocument, error) {
	for {
		// A line may hold "\r\n" besides the document.
		line, ended, err := p.extent(p.maxDoc+2, scanLine, func() error {
			return &DocumentError{
				Position: fmt.Sprintf("line %d", p.line+1),
				Reason:   fmt.Sprintf("line longer than %d bytes, the largest document accepted", p.maxDoc),
				Err:      ErrInvalidDocument,
			}
		})
		if err != nil {
			return rawDocument{}, err
		}
		if len(line) == 0 && !ended {
			return rawDocument{}, io.EOF
		}
		p.line++
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue // blank line
		}
		p.index++
		return rawDocument{data: line, position: fmt.Sprintf("line %d", p.line)}, nil
	}
}

// scanLine delimits a line, with its "\n".
func scanLine(b []byte) (int, bool) {
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		return i + 1, true
	}
	return len(b), false
}

// extent returns the bytes of the next document, which scan delimits: it is
// called on the input in successive chunks and returns how many bytes of
// each belong to the document and whether the document ends there. ended
// is false if the input ended first. A document of more than limit bytes
// fails with tooLong() as soon as limit bytes of it have been scanned,
// having been neither copied nor read whole.
func (p *payloadReader) extent(limit int, scan func([]byte) (int, bool), tooLong func() error) (data []byte, ended bool, err error) {
	start := p.offset()
	p.buf = p.buf[:0]
	n, copying := 0, true
	for !ended {
		chunk, err := p.buffered()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, false, err
		}
		k, done := scan(chunk)
		if n += k; n > limit {
			return nil, false, tooLong()
		}
		if done && n == k {
			// All of it in the read buffer: no copy. The bytes stay valid
			// until br next reads.
			p.br.Discard(k)
			return chunk[:k], true, nil
		}
		if copying = copying && len(p.buf)+k <= p.copyMax; copying {
			p.buf = append(p.buf, chunk[:k]...)
		}
		p.br.Discard(k)
		ended = done
	}
	if !copying {
		// Long, but no longer than limit: read it again, whole.
		if _, err := p.r.Seek(start, io.SeekStart); err != nil {
			return nil, false, err
		}
		p.buf = slices.Grow(p.buf[:0], n)[:n]
		if _, err := io.ReadFull(p.r, p.buf); err != nil {
			return nil, false, fmt.Errorf("reading %d bytes at offset %d again: %w", n, start, err)
		}
		p.base, p.cr.n = start+int64(n), 0
		p.br.Reset(p.cr)
	}
	return p.buf, ended, nil
}

// buffered returns the bytes in br's buffer, reading more if there are
// none; io.EOF at the end of the input.
func (p *payloadReader) buffered() ([]byte, error) {
	if p.br.Buffered() == 0 {
		if _, err := p.br.Peek(1); err != nil {
			return nil, err
		}
	}
	return p.br.Peek(p.br.Buffered())
}

func (p *payloadReader) nextElement() (rawDocument, error) {
	if p.ended {
		return rawDocument{}, io.EOF
	}
	notClosed := func() error {
		return &DocumentError{
			Position: fmt.Sprintf("byte %d", p.offset()),
			Reason:   "the array is not closed (payload truncated?)",
			Err:      ErrMalformedPayload,
		}
	}
	syntax := func(format string, args ...any) error {
		return &DocumentError{
			Position: fmt.Sprintf("byte %d", p.offset()),
			Reason:   "malformed JSON array: " + fmt.Sprintf(format, args...),
			Err:      ErrMalformedPayload,
		}
	}
	c, err := p.skipSpace(false)
	if err == io.EOF {
		return rawDocument{}, notClosed()
	} else if err != nil {
		return rawDocument{}, err
	}
	switch {
	case c == ']':
		return rawDocument{}, p.end()
	case p.needComma && c != ',':
		return rawDocument{}, syntax("%s after document %d, where , or ] belongs", quoteByte(c), p.index)
	case p.needComma:
		p.br.Discard(1)
		if c, err = p.skipSpace(false); err == io.EOF {
			return rawDocument{}, notClosed()
		} else if err != nil {
			return rawDocument{}, err
		}
		if c == ']' || c == ',' {
			return rawDocument{}, syntax("%s after a comma, where document %d belongs", quoteByte(c), p.index+1)
		}
	}
	p.index++
	start := p.offset()
	var vs valueScanner
	data, ended, err := p.extent(p.maxDoc, vs.scan, func() error {
		return &DocumentError{
			Position: fmt.Sprintf("document %d", p.index),
			Reason:   fmt.Sprintf("longer than %d bytes, the largest document accepted", p.maxDoc),
			Err:      ErrInvalidDocument,
		}
	})
	switch {
	case err != nil:
		return rawDocument{}, err
	case !ended:
		return rawDocument{}, notClosed()
	case len(data) == 0:
		return rawDocument{}, syntax("%s where document %d belongs", quoteByte(c), p.index)
	}
	p.needComma = true
	return rawDocument{data: data, position: fmt.Sprintf("document %d at byte %d", p.index, start)}, nil
}

// end reads the closing ']', after which only white space may follow.
func (p *payloadReader) end() error {
	p.br.Discard(1)
	p.ended = true
	if c, err := p.skipSpace(false); err == nil {
		return &DocumentError{
			Position: fmt.Sprintf("byte %d", p.offset()),
			Reason:   fmt.Sprintf("data after the end of the array (%s)", quoteByte(c)),
			Err:      ErrMalformedPayload,
		}
	} else if err != io.EOF {
		return err
	}
	return io.EOF
}

// valueScanner delimits one JSON value in an array by its brackets and
// strings alone; the value is checked afterwards (parseDocument).
type valueScanner struct {
	started    bool
	kind       byte // '{' a container, '"' a string, 0 anything else
	depth      int
	inStr, esc bool
}

func (v *valueScanner) scan(b []byte) (int, bool) {
	i := 0
	if !v.started {
		v.started = true
		switch b[0] {
		case '{', '[':
			v.kind, v.depth, i = '{', 1, 1
		case '"':
			v.kind, v.inStr, i = '"', true, 1
		}
	}
	for ; i < len(b); i++ {
		c := b[i]
		if v.inStr {
			switch {
			case v.esc:
				v.esc = false
			case c == '\\':
				v.esc = true
			case c == '"':
				v.inStr = false
				if v.kind == '"' {
					return i + 1, true
				}
			}
			continue
		}
		switch v.kind {
		case '{':
			switch c {
			case '"':
				v.inStr = true
			case '{', '[':
				v.depth++
			case '}', ']':
				if v.depth--; v.depth == 0 {
					return i + 1, true
				}
			}
		default: // a number or a literal (or garbage): up to a delimiter
			switch c {
			case ',', ']', '}', '[', '{', '"', ':', ' ', '\t', '\n', '\r':
				return i, true
			}
		}
	}
	return len(b), false
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.n += int64(n)
	return n, err
}

// parseDocument checks that data is one JSON object that idxfs stores
// (checkJSON: valid UTF-8, no lone surrogate escape, no duplicate key). The
// error is a *DocumentError at position.
func parseDocument(data []byte, position string) (object, error) {
	if p := checkJSON(data); p != nil {
		reason := fmt.Sprintf("%s (at byte %d of the document)", p.reason, p.at)
		if p.err == ErrMalformedPayload {
			reason = "malformed JSON: " + reason
		}
		return nil, &DocumentError{Position: position, Reason: reason, Err: p.err}
	}
	if data[skipSpace(data, 0)] != '{' {
		return nil, &DocumentError{Position: position, Reason: fmt.Sprintf("a JSON %s, not an object", jsonKind(bytes.TrimSpace(data))), Err: ErrInvalidDocument}
	}
	return object(data), nil
}

func jsonKind(data []byte) string {
	switch data[0] {
	case '[':
		return "array"
	case '"':
		return "string"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	default:
		return "number"
	}
}

// inferPrimaryKey picks the primary key from a first document's fields: id
// if present, else the one field whose name ends in "id" (any case).
func inferPrimaryKey(doc object, position string) (string, error) {
	if _, ok := doc.field("id"); ok {
		return "id", nil
	}
	var candidates []string
	for _, name := range doc.names() {
		if strings.HasSuffix(strings.ToLower(name), "id") {
			candidates = append(candidates, name)
		}
	}
	slices.Sort(candidates)
	candidates = slices.Compact(candidates) // a repeated name is one field
	switch len(candidates) {
	case 1:
		return candidates[0], nil
	case 0:
		return "", &DocumentError{
			Position: position,
			Reason:   "cannot infer the primary key: the first document has no field named id or ending in id; set one",
			Err:      ErrMissingPrimaryKey,
		}
	default:
		return "", &DocumentError{
			Position: position,
			Reason:   fmt.Sprintf("cannot infer the primary key: the first document has several candidates (%s); set one", strings.Join(candidates, ", ")),
			Err:      ErrMissingPrimaryKey,
		}
	}
}

// documentID returns the canonical id of a document under primaryKey.
func documentID(doc object, primaryKey, position string) (string, error) {
	raw, ok := doc.field(primaryKey)
	if !ok {
		return "", &DocumentError{
			Position: position,
			Reason:   fmt.Sprintf("the document has no primary key field %q", primaryKey),
			Err:      ErrMissingPrimaryKey,
		}
	}
	id, reason := documentIDFromJSON(raw)
	if reason != "" {
		return "", &DocumentError{Position: position, Reason: fmt.Sprintf("primary key %q: %s", primaryKey, reason), Err: ErrInvalidDocumentID}
	}
	return id, nil
}
