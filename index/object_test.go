package index

import (
	"encoding/json"
	"slices"
	"testing"
)

func TestObjectField(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		doc, name, want string
		ok              bool
	}{
		{`{"id":1}`, "id", `1`, true},
		{` { "a" : [1,{"id":2}] , "id" : "x\"y" } `, "id", `"x\"y"`, true},
		{`{"a":{"id":1},"b":"id"}`, "id", ``, false},
		{`{"id":1,"id":2}`, "id", `2`, true}, // (parseDocument refuses it)
		{`{"\u0069d":3}`, "id", `3`, true},
		{`{"i\\d":3}`, "id", ``, false},
		{`{"x":true,"id":null}`, "id", `null`, true},
		{`{"x":-1.5e3,"id":[]}`, "id", `[]`, true},
		{`{}`, "id", ``, false},
		{`{"é":1,"id":"}"}`, "é", `1`, true},
	} {
		got, ok := object(tc.doc).field(tc.name)
		if string(got) != tc.want || ok != tc.ok {
			t.Errorf("field(%s, %q) = %s, %v; want %s, %v", tc.doc, tc.name, got, ok, tc.want, tc.ok)
		}
	}
	if got := object(`{"b":1,"a\u0041":{"c":2},"b":3}`).names(); !slices.Equal(got, []string{"b", "aA", "b"}) {
		t.Errorf("names = %q", got)
	}
}

// FuzzObjectField checks the member scan against encoding/json.
func FuzzObjectField(f *testing.F) {
	for _, s := range []string{`{"id":1}`, `{"a":{"b":[1,"]"]},"id":"x"}`, `{"\u0069d":"\"","id":2}`, `{ "x" : null , "y" : [ ] }`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 4096 {
			t.Skip()
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(data, &m); err != nil || m == nil {
			return
		}
		doc, err := parseDocument(data, "")
		if err != nil {
			if refStrictProblem(data) != "" {
				return // encoding/json is laxer: see checkJSON
			}
			t.Fatalf("parseDocument refused what encoding/json accepts: %v", err)
		}
		names := doc.names()
		for _, n := range names {
			got, ok := doc.field(n)
			var a, b any
			json.Unmarshal(got, &a)
			json.Unmarshal(m[n], &b)
			if !ok || string(mustJSON(t, a)) != string(mustJSON(t, b)) {
				t.Fatalf("field %q = %s, encoding/json has %s", n, got, m[n])
			}
		}
		slices.Sort(names)
		names = slices.Compact(names)
		if len(names) != len(m) {
			t.Fatalf("names %q, encoding/json has %d fields", names, len(m))
		}
	})
}

func mustJSON(t *testing.T, v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
