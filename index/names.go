package index

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// ValidateUID reports whether uid is a valid index name: 1–MaxUIDLength
// bytes of [A-Za-z0-9_-]. The error wraps ErrInvalidUID and says why.
func ValidateUID(uid string) error {
	if reason := checkName(uid, MaxUIDLength); reason != "" {
		return &nameError{name: clip(uid), reason: reason, err: ErrInvalidUID}
	}
	return nil
}

// ValidateDocumentID checks a document id's canonical string form:
// 1–MaxDocumentIDLength bytes of [A-Za-z0-9_-]. The error wraps
// ErrInvalidDocumentID and says why.
func ValidateDocumentID(id string) error {
	if reason := checkName(id, MaxDocumentIDLength); reason != "" {
		return &nameError{name: clip(id), reason: reason, err: ErrInvalidDocumentID}
	}
	return nil
}

// checkName returns why s is not 1–max bytes of [A-Za-z0-9_-], or "".
func checkName(s string, max int) string {
	if s == "" {
		return "empty"
	}
	if len(s) > max {
		return fmt.Sprintf("%d bytes long, more than %d", len(s), max)
	}
	for i := 0; i < len(s); i++ {
		if !nameByte(s[i]) {
			return fmt.Sprintf("character %q at byte %d is not one of A-Z a-z 0-9 _ -", s[i], i)
		}
	}
	return ""
}

func nameByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}

// clip shortens s for an error message.
func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

// documentIDFromJSON returns the canonical form of a primary key value (a
// JSON string, or a non-negative JSON integer in decimal), or why it is not a
// valid document id.
func documentIDFromJSON(raw json.RawMessage) (id, reason string) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "", "empty value"
	}
	switch c := raw[0]; {
	case c == '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", fmt.Sprintf("bad string %s", clip(string(raw)))
		}
		if r := checkName(s, MaxDocumentIDLength); r != "" {
			return "", fmt.Sprintf("document id %q: %s", clip(s), r)
		}
		return s, ""
	case c >= '0' && c <= '9':
		for _, d := range raw {
			if d < '0' || d > '9' {
				return "", fmt.Sprintf("document id %s is a number but not an integer", clip(string(raw)))
			}
		}
		if r := checkName(string(raw), MaxDocumentIDLength); r != "" {
			return "", fmt.Sprintf("document id %s: %s", clip(string(raw)), r)
		}
		return string(raw), ""
	case c == '-':
		return "", fmt.Sprintf("document id %s is a negative number", clip(string(raw)))
	default:
		return "", fmt.Sprintf("document id %s is not a string or an integer", clip(string(raw)))
	}
}

// Document keys: see the package doc.
const (
	prefixDocument  = 'd'
	docKindNumber   = 0x00
	docKindString   = 0x01
	maxNumberDigits = 20
)

var (
	docKeyLower = []byte{prefixDocument}
	docKeyUpper = []byte{prefixDocument + 1}
)

// documentKey encodes a canonical (valid) document id as a key.
func documentKey(id string) []byte {
	return appendDocumentKey(make([]byte, 0, len(id)+3), id)
}

func appendDocumentKey(dst []byte, id string) []byte {
	if isNumberID(id) {
		dst = append(dst, prefixDocument, docKindNumber, byte(len(id)))
	} else {
		dst = append(dst, prefixDocument, docKindString)
	}
	return append(dst, id...)
}

func isNumberID(id string) bool {
	if len(id) == 0 || len(id) > maxNumberDigits || (id[0] == '0' && len(id) > 1) {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] < '0' || id[i] > '9' {
			return false
		}
	}
	return true
}

// documentIDFromKey decodes a document key, checking that it is one
// documentKey could have written.
func documentIDFromKey(key []byte) (string, error) {
	if len(key) < 3 || key[0] != prefixDocument {
		return "", fmt.Errorf("key %q is not a document key", clip(string(key)))
	}
	var id string
	switch key[1] {
	case docKindNumber:
		id = string(key[3:])
		if int(key[2]) != len(id) || !isNumberID(id) {
			return "", fmt.Errorf("key %q is not a valid numeric document key", clip(string(key)))
		}
	case docKindString:
		id = string(key[2:])
		if isNumberID(id) {
			return "", fmt.Errorf("key %q holds a numeric id as a string", clip(string(key)))
		}
	default:
		return "", fmt.Errorf("key %q has unknown document kind %d", clip(string(key)), key[1])
	}
	if err := ValidateDocumentID(id); err != nil {
		return "", fmt.Errorf("key %q: %v", clip(string(key)), err)
	}
	return id, nil
}
