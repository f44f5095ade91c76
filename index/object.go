package index

import (
	"encoding/json"
)

// object is a valid JSON object (checked by parseDocument or json.Compact).
// Its top-level members are found by a light scan that relies on that
// validity, instead of decoding the whole object into a map.
type object []byte

// members calls fn with the name (still quoted, as in the input) and the raw
// value of each top-level member, in order, until fn returns false.
func (o object) members(fn func(quotedName, value []byte) bool) {
	i := skipSpace(o, 0) + 1 // '{'
	for {
		i = skipSpace(o, i)
		if i >= len(o) || o[i] == '}' {
			return
		}
		if o[i] == ',' {
			i = skipSpace(o, i+1)
		}
		end := stringEnd(o, i)
		name := o[i:end]
		i = skipSpace(o, end) + 1 // ':'
		i = skipSpace(o, i)
		vend := valueEnd(o, i)
		if !fn(name, o[i:vend]) {
			return
		}
		i = vend
	}
}

// field returns the value of the member called name (the last one, as
// encoding/json does, if the name repeats).
func (o object) field(name string) (value []byte, ok bool) {
	o.members(func(q, v []byte) bool {
		if nameEquals(q, name) {
			value, ok = v, true
		}
		return true
	})
	return value, ok
}

// names returns the (unquoted) names of the top-level members.
func (o object) names() []string {
	var names []string
	o.members(func(q, _ []byte) bool {
		names = append(names, unquoteName(q))
		return true
	})
	return names
}

// nameEquals reports whether the quoted JSON string q decodes to name.
func nameEquals(q []byte, name string) bool {
	raw := q[1 : len(q)-1]
	if plain(raw) {
		return string(raw) == name
	}
	return unquoteName(q) == name
}

func unquoteName(q []byte) string {
	raw := q[1 : len(q)-1]
	if plain(raw) {
		return string(raw)
	}
	var s string
	json.Unmarshal(q, &s) // valid by construction
	return s
}

// plain reports whether a string's raw bytes are its value: no escapes and
// only ASCII (encoding/json replaces invalid UTF-8).
func plain(raw []byte) bool {
	for _, c := range raw {
		if c == '\\' || c >= 0x80 {
			return false
		}
	}
	return true
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	return i
}

// stringEnd returns the index just after the string starting at b[i] ('"').
func stringEnd(b []byte, i int) int {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return len(b)
}

// valueEnd returns the index just after the value starting at b[i].
func valueEnd(b []byte, i int) int {
	switch b[i] {
	case '"':
		return stringEnd(b, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				j = stringEnd(b, j) - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1
				}
			}
		}
		return len(b)
	default: // number, true, false, null
		j := i
		for j < len(b) && b[j] != ',' && b[j] != '}' && b[j] != ']' && !isSpace(b[j]) {
			j++
		}
		return j
	}
}
