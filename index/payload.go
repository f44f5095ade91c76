package index

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
)

// payloadReader yields the documents of a payload one at a time: NDJSON
// (read line by line) or a JSON array of objects (read element by element),
// told apart by the first non-space byte. It never holds more than one
// document (plus a read buffer) in memory.
type payloadReader struct {
	cr     *countingReader
	br     *bufio.Reader
	maxDoc int

	array bool
	dec   *json.Decoder // array mode
	base  int64         // array mode: bytes consumed before the decoder started
	ended bool          // array mode: the closing ']' was read

	line  int    // NDJSON: number of the line last read
	buf   []byte // NDJSON: a line longer than br's buffer
	index int    // documents yielded so far
}

// rawDocument is one document as it appears in the payload. data is valid
// until the next call to next.
type rawDocument struct {
	data     []byte
	position string
}

func newPayloadReader(r io.Reader, maxDoc int) (*payloadReader, error) {
	p := &payloadReader{cr: &countingReader{r: r}, maxDoc: maxDoc}
	p.br = bufio.NewReaderSize(p.cr, 256<<10)
	// Skip leading white space, counting lines, and look at the first byte.
	for {
		c, err := p.br.ReadByte()
		if err == io.EOF {
			return p, nil // empty payload: NDJSON with no lines
		}
		if err != nil {
			return nil, err
		}
		if c == '\n' {
			p.line++
		}
		if isSpace(c) {
			continue
		}
		p.br.UnreadByte()
		break
	}
	if c, _ := p.br.Peek(1); c[0] == '[' {
		p.base = p.offset()
		p.array = true
		p.dec = json.NewDecoder(&limitedReader{r: p.br, p: p})
		p.dec.UseNumber()
		if _, err := p.dec.Token(); err != nil {
			return nil, err
		}
	}
	return p, nil
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// offset is the number of payload bytes consumed so far.
func (p *payloadReader) offset() int64 {
	if p.array {
		return p.base + p.dec.InputOffset()
	}
	return p.cr.n - int64(p.br.Buffered())
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
		line, err := p.readLine()
		if err != nil && err != io.EOF {
			return rawDocument{}, err
		}
		if len(line) == 0 && err == io.EOF {
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

// readLine returns the next line without its "\n", and io.EOF with the last
// (possibly empty) one.
func (p *payloadReader) readLine() ([]byte, error) {
	p.buf = p.buf[:0]
	for {
		chunk, err := p.br.ReadSlice('\n')
		if len(p.buf)+len(chunk) > p.maxDoc+2 { // "\r\n"
			return nil, &DocumentError{
				Position: fmt.Sprintf("line %d", p.line+1),
				Reason:   fmt.Sprintf("line longer than %d bytes, the largest document accepted", p.maxDoc),
				Err:      ErrInvalidDocument,
			}
		}
		if err == nil && len(p.buf) == 0 {
			return chunk[:len(chunk)-1], nil // the common case: no copy
		}
		p.buf = append(p.buf, chunk...)
		switch err {
		case nil:
			return p.buf[:len(p.buf)-1], nil
		case bufio.ErrBufferFull:
			continue
		default:
			return p.buf, err
		}
	}
}

func (p *payloadReader) nextElement() (rawDocument, error) {
	if p.ended {
		return rawDocument{}, io.EOF
	}
	start := p.offset()
	if !p.dec.More() {
		// The closing ']' (or an error), then nothing but white space.
		tok, err := p.dec.Token()
		if err != nil {
			return rawDocument{}, p.arrayError(start, err)
		}
		if d, ok := tok.(json.Delim); !ok || d != ']' {
			return rawDocument{}, p.arrayError(start, fmt.Errorf("unexpected %v", tok))
		}
		p.ended = true
		if _, err := p.dec.Token(); err != io.EOF {
			return rawDocument{}, &DocumentError{
				Position: fmt.Sprintf("byte %d", p.offset()),
				Reason:   "data after the end of the array",
				Err:      ErrMalformedPayload,
			}
		}
		return rawDocument{}, io.EOF
	}
	p.index++
	var raw json.RawMessage
	if err := p.dec.Decode(&raw); err != nil {
		return rawDocument{}, p.arrayError(start, err)
	}
	if len(raw) > p.maxDoc {
		return rawDocument{}, &DocumentError{
			Position: fmt.Sprintf("document %d", p.index),
			Reason:   fmt.Sprintf("longer than %d bytes, the largest document accepted", p.maxDoc),
			Err:      ErrInvalidDocument,
		}
	}
	// Decode leaves the offset just after the value.
	pos := fmt.Sprintf("document %d at byte %d", p.index, p.offset()-int64(len(raw)))
	return rawDocument{data: raw, position: pos}, nil
}

func (p *payloadReader) arrayError(start int64, err error) error {
	var de *DocumentError
	if errors.As(err, &de) {
		return de
	}
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return &DocumentError{
			Position: fmt.Sprintf("byte %d", p.offset()),
			Reason:   "the array is not closed (payload truncated?)",
			Err:      ErrMalformedPayload,
		}
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return &DocumentError{
			Position: fmt.Sprintf("document %d at byte %d", max(p.index, 1), start),
			Reason:   fmt.Sprintf("malformed JSON at byte %d: %v", p.base+se.Offset, se),
			Err:      ErrMalformedPayload,
		}
	}
	return err
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

// limitedReader feeds the array decoder and fails once it has read more
// than maxDoc past the start of the current document, so that one huge
// element cannot fill memory.
type limitedReader struct {
	r     io.Reader
	p     *payloadReader
	n     int64 // bytes read
	limit int64 // current document's start + maxDoc + slack
	doc   int   // the document limit was computed for
}

func (l *limitedReader) Read(b []byte) (int, error) {
	if l.doc != l.p.index || l.limit == 0 {
		l.doc = l.p.index
		l.limit = l.p.dec.InputOffset() + int64(l.p.maxDoc) + 1<<20
	}
	if l.n >= l.limit {
		return 0, &DocumentError{
			Position: fmt.Sprintf("document %d", l.p.index),
			Reason:   fmt.Sprintf("longer than %d bytes, the largest document accepted", l.p.maxDoc),
			Err:      ErrInvalidDocument,
		}
	}
	if rest := l.limit - l.n; int64(len(b)) > rest {
		b = b[:rest]
	}
	n, err := l.r.Read(b)
	l.n += int64(n)
	return n, err
}

// parseDocument checks that data is one JSON object. The error is a
// *DocumentError at position.
func parseDocument(data []byte, position string) (object, error) {
	if !json.Valid(data) {
		return nil, &DocumentError{Position: position, Reason: "malformed JSON: " + syntaxReason(data), Err: ErrMalformedPayload}
	}
	if data[skipSpace(data, 0)] != '{' {
		return nil, &DocumentError{Position: position, Reason: fmt.Sprintf("a JSON %s, not an object", jsonKind(bytes.TrimSpace(data))), Err: ErrInvalidDocument}
	}
	return object(data), nil
}

func syntaxReason(data []byte) string {
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		return err.Error()
	}
	return "not JSON"
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
