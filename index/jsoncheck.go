package index

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sync"
	"unicode/utf8"
)

// maxJSONDepth is the deepest nesting a document may have: encoding/json's
// own limit, so that every document idxfs stores, encoding/json reads.
const maxJSONDepth = 10000

// jsonProblem is what checkJSON found wrong: a reason, the byte of the
// document where it is, and the sentinel (ErrMalformedPayload for what is
// not JSON text, ErrInvalidDocument for JSON idxfs does not store).
type jsonProblem struct {
	at     int
	reason string
	err    error
}

// jsonChecker checks documents strictly (checkJSON). It keeps its buffers
// from one document to the next.
type jsonChecker struct {
	data  []byte
	stack []jsonFrame
	names []memberName // member names of the open objects, frame after frame
}

type jsonFrame struct {
	object bool
	first  int            // objects: index in names of the first member
	set    map[string]int // objects with many members: name → byte offset
}

type memberName struct {
	name []byte // unescaped
	at   int    // byte offset of its opening quote
}

// linearMembers is how many members an object may have before its names
// are looked up in a map rather than compared one by one.
const linearMembers = 16

var checkers = sync.Pool{New: func() any { return new(jsonChecker) }}

// checkJSON reports whether data is exactly one JSON value (RFC 8259), with
// optional white space around it, of the kind idxfs stores (the I-JSON
// rules of RFC 7493 that matter here):
//
//   - valid UTF-8 everywhere (RFC 8259 §8.1), so no raw bytes reach an
//     export;
//   - no \u escape of a lone surrogate (\ud800 without its low half, or a
//     low half alone): it names no character, and decoders replace it or fail;
//   - no object with two members of the same name, compared after
//     unescaping ("a" and "\u0061" are the same name), at any depth: parsers
//     disagree on which one counts;
//   - nesting at most maxJSONDepth deep.
//
// It returns nil, or the first problem in document order.
func checkJSON(data []byte) *jsonProblem {
	c := checkers.Get().(*jsonChecker)
	p := c.check(data)
	c.data = nil
	for i := range c.names {
		c.names[i] = memberName{}
	}
	for i := range c.stack {
		c.stack[i] = jsonFrame{}
	}
	if cap(c.names) < 1<<16 && cap(c.stack) < 1<<10 {
		checkers.Put(c)
	}
	return p
}

func malformed(at int, format string, args ...any) *jsonProblem {
	return &jsonProblem{at: at, reason: fmt.Sprintf(format, args...), err: ErrMalformedPayload}
}

func (c *jsonChecker) check(data []byte) *jsonProblem {
	c.data, c.stack, c.names = data, c.stack[:0], c.names[:0]
	i := skipSpace(data, 0)
	for {
		// A value begins at i.
		var p *jsonProblem
		var open bool
		if i, open, p = c.value(i); p != nil {
			return p
		}
		if open {
			continue // a container was opened; i is at its first value
		}
		// A value ended at i: close containers, or find the next value.
		for next := false; !next; {
			i = skipSpace(data, i)
			if len(c.stack) == 0 {
				if i < len(data) {
					return malformed(i, "data after the end of the value (%s)", quoteByte(data[i]))
				}
				return nil
			}
			if i >= len(data) {
				return malformed(i, "unexpected end of the document")
			}
			top := &c.stack[len(c.stack)-1]
			switch b := data[i]; {
			case b == ',':
				i = skipSpace(data, i+1)
				if top.object {
					if i, p = c.member(i, top); p != nil {
						return p
					}
				}
				next = true
			case b == '}' && top.object, b == ']' && !top.object:
				c.pop()
				i++
			case top.object:
				return malformed(i, "%s after an object member, where , or } belongs", quoteByte(b))
			default:
				return malformed(i, "%s after an array element, where , or ] belongs", quoteByte(b))
			}
		}
	}
}

// value checks the value at data[i]. A scalar or an empty container is
// checked whole (open false, i after it); a non-empty container is opened
// (open true, i at its first value, after its first member name).
func (c *jsonChecker) value(i int) (next int, open bool, p *jsonProblem) {
	data := c.data
	if i >= len(data) {
		return i, false, malformed(i, "unexpected end of the document, where a value belongs")
	}
	switch b := data[i]; {
	case b == '{' || b == '[':
		if len(c.stack) >= maxJSONDepth {
			return i, false, &jsonProblem{at: i, reason: fmt.Sprintf("nested more than %d levels deep", maxJSONDepth), err: ErrInvalidDocument}
		}
		c.stack = append(c.stack, jsonFrame{object: b == '{', first: len(c.names)})
		j := skipSpace(data, i+1)
		if j < len(data) && data[j] == b+2 { // '}' or ']'
			c.pop()
			return j + 1, false, nil
		}
		if b == '{' {
			j, p = c.member(j, &c.stack[len(c.stack)-1])
		}
		return j, true, p
	case b == '"':
		j, _, p := c.str(i, false)
		return j, false, p
	case b == 't':
		return c.literal(i, "true")
	case b == 'f':
		return c.literal(i, "false")
	case b == 'n':
		return c.literal(i, "null")
	case b == '-' || b >= '0' && b <= '9':
		j, p := c.number(i)
		return j, false, p
	default:
		return i, false, malformed(i, "%s where a value belongs", quoteByte(b))
	}
}

func (c *jsonChecker) pop() {
	f := &c.stack[len(c.stack)-1]
	if f.object {
		for k := f.first; k < len(c.names); k++ {
			c.names[k] = memberName{}
		}
		c.names = c.names[:f.first]
	}
	*f = jsonFrame{}
	c.stack = c.stack[:len(c.stack)-1]
}

// member reads a member name at data[i] and the ':' after it, checks that
// the object f has no member of that name yet, and returns the offset of
// the member's value.
func (c *jsonChecker) member(i int, f *jsonFrame) (int, *jsonProblem) {
	data := c.data
	if i >= len(data) || data[i] != '"' {
		if i >= len(data) {
			return i, malformed(i, "unexpected end of the document, where a member name belongs")
		}
		return i, malformed(i, "%s where a member name (a string) belongs", quoteByte(data[i]))
	}
	j, name, p := c.str(i, true)
	if p != nil {
		return j, p
	}
	if prev, dup := c.seen(f, name, i); dup {
		return i, &jsonProblem{at: i, err: ErrInvalidDocument,
			reason: fmt.Sprintf("duplicate key %q (first at byte %d): every key of an object must be unique", clip(string(name)), prev)}
	}
	j = skipSpace(data, j)
	if j >= len(data) || data[j] != ':' {
		if j >= len(data) {
			return j, malformed(j, "unexpected end of the document, where : belongs")
		}
		return j, malformed(j, "%s after a member name, where : belongs", quoteByte(data[j]))
	}
	return skipSpace(data, j+1), nil
}

// seen records name as a member of f, or returns where f already has it.
func (c *jsonChecker) seen(f *jsonFrame, name []byte, at int) (int, bool) {
	if f.set != nil {
		if prev, ok := f.set[string(name)]; ok {
			return prev, true
		}
		f.set[string(name)] = at
		return 0, false
	}
	members := c.names[f.first:]
	for _, m := range members {
		if bytes.Equal(m.name, name) {
			return m.at, true
		}
	}
	c.names = append(c.names, memberName{name: name, at: at})
	if len(members)+1 >= linearMembers {
		f.set = make(map[string]int, 2*linearMembers)
		for _, m := range c.names[f.first:] {
			f.set[string(m.name)] = m.at
		}
	}
	return 0, false
}

// str checks the string at data[i] ('"') and returns the offset after it
// and, if name, its unescaped value.
func (c *jsonChecker) str(i int, name bool) (int, []byte, *jsonProblem) {
	data := c.data
	escaped := false
	for j := i + 1; j < len(data); {
		switch b := data[j]; {
		case b == '"':
			if !name {
				return j + 1, nil, nil
			}
			if !escaped {
				return j + 1, data[i+1 : j], nil
			}
			var s string
			if err := json.Unmarshal(data[i:j+1], &s); err != nil { // checked above: cannot fail
				return j + 1, nil, malformed(i, "member name: %v", err)
			}
			return j + 1, []byte(s), nil
		case b == '\\':
			escaped = true
			var p *jsonProblem
			if j, p = c.escape(j); p != nil {
				return j, nil, p
			}
		case b < 0x20:
			return j, nil, malformed(j, "control character %#02x in a string (write it as an escape)", b)
		case b < utf8.RuneSelf:
			j++
		default:
			r, size := utf8.DecodeRune(data[j:])
			if r == utf8.RuneError && size <= 1 {
				return j, nil, malformed(j, "invalid UTF-8 (byte %#02x) in a string: a document must be UTF-8", b)
			}
			j += size
		}
	}
	return len(data), nil, malformed(len(data), "unexpected end of the document in a string that begins at byte %d", i)
}

// escape checks the escape sequence at data[j] ('\\') and returns the
// offset after it.
func (c *jsonChecker) escape(j int) (int, *jsonProblem) {
	data := c.data
	if j+1 >= len(data) {
		return j, malformed(j, "unexpected end of the document in an escape sequence")
	}
	switch data[j+1] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		return j + 2, nil
	case 'u':
	default:
		return j, malformed(j, "invalid escape sequence \\%s", string(utf8.AppendRune(nil, rune(data[j+1]))))
	}
	r, ok := hex4(data, j+2)
	if !ok {
		return j, malformed(j, "invalid \\u escape: \\u and four hex digits")
	}
	switch {
	case r >= 0xdc00 && r <= 0xdfff:
		return j, &jsonProblem{at: j, err: ErrInvalidDocument,
			reason: fmt.Sprintf("\\u%04x is a lone low surrogate (the second half of a pair, without the first): it names no character", r)}
	case r >= 0xd800 && r <= 0xdbff:
		if lo, ok := hex4(data, j+8); ok && data[j+6] == '\\' && data[j+7] == 'u' && lo >= 0xdc00 && lo <= 0xdfff {
			return j + 12, nil
		}
		return j, &jsonProblem{at: j, err: ErrInvalidDocument,
			reason: fmt.Sprintf("\\u%04x is a lone high surrogate (the first half of a pair, without the second): it names no character", r)}
	}
	return j + 6, nil
}

// hex4 decodes the four hex digits at data[i:i+4].
func hex4(data []byte, i int) (rune, bool) {
	if i+4 > len(data) {
		return 0, false
	}
	var r rune
	for _, b := range data[i : i+4] {
		switch {
		case b >= '0' && b <= '9':
			b -= '0'
		case b >= 'a' && b <= 'f':
			b -= 'a' - 10
		case b >= 'A' && b <= 'F':
			b -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(b)
	}
	return r, true
}

func (c *jsonChecker) literal(i int, lit string) (int, bool, *jsonProblem) {
	if !bytes.HasPrefix(c.data[i:], []byte(lit)) {
		return i, false, malformed(i, "invalid literal (true, false or null expected)")
	}
	return i + len(lit), false, nil
}

// number checks the number at data[i]: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (c *jsonChecker) number(i int) (int, *jsonProblem) {
	data := c.data
	j := i
	if data[j] == '-' {
		j++
	}
	digits := func() bool {
		k := j
		for j < len(data) && data[j] >= '0' && data[j] <= '9' {
			j++
		}
		return j > k
	}
	switch {
	case j < len(data) && data[j] == '0':
		j++
	case !digits():
		return j, malformed(j, "invalid number: a digit must follow -")
	}
	if j < len(data) && data[j] == '.' {
		j++
		if !digits() {
			return j, malformed(j, "invalid number: a digit must follow the decimal point")
		}
	}
	if j < len(data) && (data[j] == 'e' || data[j] == 'E') {
		j++
		if j < len(data) && (data[j] == '+' || data[j] == '-') {
			j++
		}
		if !digits() {
			return j, malformed(j, "invalid number: a digit must follow the exponent")
		}
	}
	return j, nil
}

// quoteByte names a byte in a message: 'x', or its value if it is not
// printable ASCII.
func quoteByte(b byte) string {
	if b >= 0x20 && b < 0x7f {
		return fmt.Sprintf("%q", rune(b))
	}
	return fmt.Sprintf("byte %#02x", b)
}
