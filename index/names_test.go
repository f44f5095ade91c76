package index

import (
	"bytes"
	"errors"
	"slices"
	"sort"
	"strings"
	"testing"
)

func TestValidateUID(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		uid string
		ok  bool
	}{
		{"movies", true},
		{"a", true},
		{"A-z_0-9", true},
		{strings.Repeat("x", 400), true},
		{strings.Repeat("x", 401), false},
		{"", false},
		{"with space", false},
		{"dot.ted", false},
		{"slash/ed", false},
		{"..", false},
		{"é", false},
		{"nul\x00", false},
	} {
		err := ValidateUID(tc.uid)
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrInvalidUID)) {
			t.Errorf("ValidateUID(%q) = %v, want ok=%v", clip(tc.uid), err, tc.ok)
		}
	}
}

func TestValidateDocumentID(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		id string
		ok bool
	}{
		{"7", true},
		{"abc-DEF_123", true},
		{"-5", true}, // a string may start with '-'
		{strings.Repeat("9", 511), true},
		{strings.Repeat("9", 512), false},
		{"", false},
		{"a b", false},
		{"a.b", false},
		{"ü", false},
	} {
		err := ValidateDocumentID(tc.id)
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrInvalidDocumentID)) {
			t.Errorf("ValidateDocumentID(%q) = %v, want ok=%v", clip(tc.id), err, tc.ok)
		}
	}
}

func TestDocumentIDFromJSON(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		raw, want string // want "" means rejected
	}{
		{`"abc"`, "abc"},
		{`7`, "7"},
		{`"7"`, "7"},
		{`0`, "0"},
		{`"007"`, "007"},
		{`12345678901234567890`, "12345678901234567890"},
		{`123456789012345678901234`, "123456789012345678901234"},
		{`"` + strings.Repeat("a", 511) + `"`, strings.Repeat("a", 511)},
		{`"` + strings.Repeat("a", 512) + `"`, ""},
		{strings.Repeat("1", 512), ""},
		{`-5`, ""},
		{`-0`, ""},
		{`1.5`, ""},
		{`1.0`, ""},
		{`1e3`, ""},
		{`""`, ""},
		{`"a b"`, ""},
		{`"\u00e9"`, ""},
		{`true`, ""},
		{`null`, ""},
		{`[1]`, ""},
		{`{"a":1}`, ""},
	} {
		id, reason := documentIDFromJSON([]byte(tc.raw))
		if id != tc.want || (tc.want == "") != (reason != "") {
			t.Errorf("documentIDFromJSON(%s) = %q, %q; want %q", clip(tc.raw), id, reason, tc.want)
		}
	}
}

func TestDocumentKeyOrder(t *testing.T) {
	t.Parallel()
	// The order Export must produce: numbers numerically (up to 20 digits),
	// then every other id bytewise.
	want := []string{"0", "1", "2", "9", "10", "11", "99", "100", "18446744073709551615", "99999999999999999999",
		"-1", "00", "007", "100000000000000000000", "A", "Z", "_", "a", "a1", "b", "z"}
	keys := make([][]byte, len(want))
	for i, id := range want {
		keys[i] = documentKey(id)
	}
	shuffled := slices.Clone(keys)
	slices.Reverse(shuffled)
	sort.Slice(shuffled, func(i, j int) bool { return bytes.Compare(shuffled[i], shuffled[j]) < 0 })
	var got []string
	for _, k := range shuffled {
		id, err := documentIDFromKey(k)
		if err != nil {
			t.Fatalf("documentIDFromKey(%q): %v", k, err)
		}
		got = append(got, id)
	}
	if !slices.Equal(got, want) {
		t.Errorf("order\n got %v\nwant %v", got, want)
	}
	for _, bad := range []string{"d", "d\x00\x02" + "1", "d\x00\x0101", "d\x017", "d\x02x", "dx", "d\x01a b"} {
		if _, err := documentIDFromKey([]byte(bad)); err == nil {
			t.Errorf("documentIDFromKey(%q) accepted", bad)
		}
	}
}
