package index

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestCheckJSON(t *testing.T) {
	t.Parallel()
	deep := strings.Repeat("[", maxJSONDepth) + strings.Repeat("]", maxJSONDepth)
	for _, tc := range []struct {
		name, doc string
		err       error  // nil: accepted
		at        int    // where the problem is
		says      string // the reason names this
	}{
		{"object", `{"id":1,"a":[1,-2.5e+3,true,false,null,{"b":"c"}],"e":{}}`, nil, 0, ""},
		{"white space", " \t\r\n{ \"a\" : [ ] , \"b\" : { } }\n", nil, 0, ""},
		{"scalars", `"x"`, nil, 0, ""},
		{"escapes", `{"a":"\"\\\/\b\f\n\r\t\u00e9\uD83D\uDE00"}`, nil, 0, ""},
		{"UTF-8", `{"é":"日本語 😀"}`, nil, 0, ""},
		{"noncharacter", "{\"a\":\"\uFFFE\"}", nil, 0, ""},
		{"same name in sibling objects", `{"a":{"x":1},"b":{"x":2},"c":[{"x":1},{"x":1}]}`, nil, 0, ""},
		{"many members", manyMembers(100, false), nil, 0, ""},
		{"deep", deep, nil, 0, ""},

		{"duplicate key", `{"id":"a","id":"b"}`, ErrInvalidDocument, 10, `duplicate key "id" (first at byte 1)`},
		{"duplicate key after escapes", `{"a":1,"\u0061":2}`, ErrInvalidDocument, 7, `duplicate key "a"`},
		{"duplicate nested key", `{"id":1,"n":[{"x":1,"y":2,"x":3}]}`, ErrInvalidDocument, 26, `duplicate key "x" (first at byte 14)`},
		{"duplicate among many", manyMembers(100, true), ErrInvalidDocument, -1, `duplicate key "k0"`},
		{"invalid UTF-8 in a value", "{\"a\":\"caf\xe9\"}", ErrMalformedPayload, 9, "invalid UTF-8"},
		{"invalid UTF-8 in a key", "{\"\xff\":1}", ErrMalformedPayload, 2, "invalid UTF-8"},
		{"UTF-8 of a surrogate", "{\"a\":\"\xed\xa0\x80\"}", ErrMalformedPayload, 6, "invalid UTF-8"},
		{"truncated UTF-8", "{\"a\":\"\xe6\x97\"}", ErrMalformedPayload, 6, "invalid UTF-8"},
		{"lone high surrogate", `{"a":"x\ud800"}`, ErrInvalidDocument, 7, "lone high surrogate"},
		{"high surrogate then another escape", `{"a":"\ud800\u0041"}`, ErrInvalidDocument, 6, "lone high surrogate"},
		{"lone low surrogate", `{"a":"\uDC00"}`, ErrInvalidDocument, 6, "lone low surrogate"},
		{"lone surrogate in a key", `{"\ud800":1}`, ErrInvalidDocument, 2, "lone high surrogate"},
		{"too deep", "[" + deep + "]", ErrInvalidDocument, maxJSONDepth, "nested more than"},

		{"empty", ``, ErrMalformedPayload, 0, "unexpected end"},
		{"unclosed", `{"a":1`, ErrMalformedPayload, 6, "unexpected end"},
		{"unclosed string", `{"a":"x`, ErrMalformedPayload, 7, "in a string"},
		{"trailing comma", `{"a":1,}`, ErrMalformedPayload, 7, "member name"},
		{"trailing comma in array", `[1,]`, ErrMalformedPayload, 3, "where a value belongs"},
		{"two values", `{} {}`, ErrMalformedPayload, 3, "after the end"},
		{"bare word", `{"a":nul}`, ErrMalformedPayload, 5, "literal"},
		{"unquoted key", `{a:1}`, ErrMalformedPayload, 1, "member name"},
		{"missing colon", `{"a" 1}`, ErrMalformedPayload, 5, ":"},
		{"leading zero", `{"a":01}`, ErrMalformedPayload, 6, "after an object member"},
		{"bad fraction", `[1.]`, ErrMalformedPayload, 3, "decimal point"},
		{"bad exponent", `[1e]`, ErrMalformedPayload, 3, "exponent"},
		{"minus alone", `[-]`, ErrMalformedPayload, 2, "digit"},
		{"control character", "{\"a\":\"x\ty\"}", ErrMalformedPayload, 7, "control character"},
		{"bad escape", `{"a":"\x"}`, ErrMalformedPayload, 6, "escape"},
		{"short \\u escape", `{"a":"\u12"}`, ErrMalformedPayload, 6, "escape"},
		{"mismatched bracket", `{"a":[1}}`, ErrMalformedPayload, 7, "after an array element"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := checkJSON([]byte(tc.doc))
			if tc.err == nil {
				if p != nil {
					t.Fatalf("refused: %s at %d", p.reason, p.at)
				}
				return
			}
			switch {
			case p == nil:
				t.Fatal("accepted")
			case p.err != tc.err || (tc.at >= 0 && p.at != tc.at) || !strings.Contains(p.reason, tc.says):
				t.Fatalf("%v: %s at %d; want %v saying %q at %d", p.err, p.reason, p.at, tc.err, tc.says, tc.at)
			}
			if why := refStrictProblem([]byte(tc.doc)); json.Valid([]byte(tc.doc)) && why == "" {
				t.Errorf("the reference accepts it")
			}
		})
	}
}

// manyMembers is an object of n members k0, k1, ..., with k0 again at the
// end if dup: past linearMembers, names are found in a map.
func manyMembers(n int, dup bool) string {
	var b strings.Builder
	b.WriteString("{")
	for i := range n {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString(`"k` + strings.Repeat("x", i%3) + strconv.Itoa(i) + `":1`)
	}
	if dup {
		b.WriteString(`,"k0":2`)
	}
	b.WriteString("}")
	return b.String()
}

// refStrictProblem says why a text that encoding/json accepts breaks a rule
// of checkJSON ("" if none), by other means than checkJSON's: the oracle of
// the fuzz targets.
func refStrictProblem(data []byte) string {
	if !utf8.Valid(data) {
		return "invalid UTF-8"
	}
	if loneSurrogateEscape(data) {
		return "lone surrogate"
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	type frame struct {
		object bool
		keys   map[string]bool
		key    bool // the next string token is a key
	}
	var stack []*frame
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return ""
		}
		if err != nil {
			return "" // not JSON: not this function's business
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		isKey := top != nil && top.object && top.key
		if top != nil && top.object {
			top.key = !top.key
		}
		switch v := tok.(type) {
		case json.Delim:
			switch v {
			case '{':
				stack = append(stack, &frame{object: true, keys: map[string]bool{}, key: true})
			case '[':
				stack = append(stack, &frame{})
			default:
				stack = stack[:len(stack)-1]
				if len(stack) > 0 && stack[len(stack)-1].object {
					stack[len(stack)-1].key = true
				}
			}
			if v == '{' || v == '[' {
				if top != nil && top.object {
					top.key = false // a container value: the key comes after it
				}
			}
		case string:
			if isKey {
				if top.keys[v] {
					return "duplicate key"
				}
				top.keys[v] = true
			}
		}
	}
}

// loneSurrogateEscape reports whether a JSON text has a \u escape of a
// surrogate that is not a high one directly followed by a low one.
func loneSurrogateEscape(data []byte) bool {
	in := false
	for i := 0; i < len(data); i++ {
		switch c := data[i]; {
		case !in:
			in = c == '"'
		case c == '"':
			in = false
		case c == '\\' && i+1 < len(data) && data[i+1] == 'u':
			r, ok := hex4(data, i+2)
			if !ok {
				return false
			}
			switch {
			case r >= 0xdc00 && r <= 0xdfff:
				return true
			case r >= 0xd800 && r <= 0xdbff:
				lo, ok := hex4(data, i+8)
				if !ok || data[i+6] != '\\' || data[i+7] != 'u' || lo < 0xdc00 || lo > 0xdfff {
					return true
				}
				i += 11
			default:
				i += 5
			}
		case c == '\\':
			i++
		}
	}
	return false
}

// FuzzCheckJSON checks checkJSON against encoding/json plus the reference
// rules: it accepts exactly what json.Valid accepts and breaks none of them.
func FuzzCheckJSON(f *testing.F) {
	for _, s := range []string{`{"id":1,"a":[1,{"b":null}],"c":"\u00e9\ud83d\ude00"}`, `{"a":1,"a":2}`,
		`{"a":{"b":1,"\u0062":2}}`, "{\"a\":\"\xff\"}", `["\udc00"]`, `[1e5,-0.5,"x\\u"]`, ` {} `, `{"a":[}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 8192 {
			t.Skip()
		}
		p := checkJSON(data)
		want := json.Valid(data) && refStrictProblem(data) == ""
		switch {
		case p == nil && !want:
			t.Fatalf("checkJSON accepts %q; json.Valid %v, reference: %q", data, json.Valid(data), refStrictProblem(data))
		case p != nil && want:
			t.Fatalf("checkJSON refuses %q: %s at %d (%v)", data, p.reason, p.at, p.err)
		case p != nil && (p.at < 0 || p.at > len(data) || !errors.Is(p.err, ErrMalformedPayload) && !errors.Is(p.err, ErrInvalidDocument)):
			t.Fatalf("problem %+v for %q", p, data)
		}
	})
}

// TestStrictDocuments: a document with a duplicate key (at any depth),
// invalid UTF-8 or a lone surrogate escape fails the whole addition, naming
// its line or position, the key or the byte, and the index is unchanged
// (issue 7: such documents were stored, and exported raw).
func TestStrictDocuments(t *testing.T) {
	t.Parallel()
	s := openStore(t, "")
	mustCreate(t, s, "m", "id")
	add(t, s, "m", `{"id":"kept"}`)
	before := export(t, s, "m")
	for _, tc := range []struct {
		name, bad string
		err       error
		says      []string
	}{
		{"duplicate primary key", `{"id":"a","id":"b"}`, ErrInvalidDocument, []string{`duplicate key "id"`, "byte 10"}},
		{"duplicate nested key", `{"id":"a","n":{"k":1,"k":2}}`, ErrInvalidDocument, []string{`duplicate key "k"`}},
		{"invalid UTF-8 in a value", "{\"id\":\"a\",\"t\":\"caf\xe9\"}", ErrMalformedPayload, []string{"invalid UTF-8", "byte 18"}},
		{"invalid UTF-8 in a key", "{\"id\":\"a\",\"\xc3\":1}", ErrMalformedPayload, []string{"invalid UTF-8"}},
		{"lone surrogate", `{"id":"a","t":"\udead"}`, ErrInvalidDocument, []string{"lone low surrogate"}},
	} {
		for _, format := range []string{"ndjson", "array"} {
			payload, position := `{"id":1}`+"\n"+tc.bad+"\n"+`{"id":3}`+"\n", "line 2: "
			if format == "array" {
				payload, position = `[{"id":1},`+tc.bad+`,{"id":3}]`, "document 2 at byte 10: "
			}
			_, err := s.AddDocuments(context.Background(), "m", strings.NewReader(payload), WriteOptions{})
			var de *DocumentError
			if !errors.As(err, &de) || !errors.Is(err, tc.err) {
				t.Errorf("%s, %s: %v; want a *DocumentError wrapping %v", tc.name, format, err, tc.err)
				continue
			}
			for _, want := range append(tc.says, position) {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("%s, %s: %q does not say %q", tc.name, format, err, want)
				}
			}
		}
	}
	if got := export(t, s, "m"); got != before {
		t.Errorf("refused additions changed the index: %q", got)
	}
}
