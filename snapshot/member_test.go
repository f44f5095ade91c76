package snapshot

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"io"
	"strings"
	"testing"
)

func TestMemberRoundTrip(t *testing.T) {
	t.Parallel()
	for _, level := range []int{-2, 1, 2, 9} {
		mw, err := newMemberWriter(level)
		if err != nil {
			t.Fatal(err)
		}
		data := bytes.Repeat([]byte("some data "), 10000)
		var out bytes.Buffer
		if err := mw.compress(&out, data); err != nil {
			t.Fatal(err)
		}
		m := out.Bytes()
		// Any gzip reader reads it.
		zr, err := gzip.NewReader(bytes.NewReader(m))
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(zr)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("level %d: gzip reads %d bytes, %v", level, len(got), err)
		}
		if zr.Header.OS != osUnknown || !bytes.Equal(zr.Header.Extra[:4], []byte{'I', 'X', 8, 0}) {
			t.Fatalf("level %d: header %+v", level, zr.Header)
		}
		// The subfield records the member's length; the reader finds it.
		h, err := readMemberHeader(bufio.NewReader(bytes.NewReader(m)), nil)
		if err != nil || h.total != uint64(len(m)) || h.len != memberHeaderLen {
			t.Fatalf("level %d: header %+v, %v (member %d bytes)", level, h, err, len(m))
		}
		var out2 []byte
		if err := newMemberReader().inflate(&out2, m[h.len:]); err != nil || !bytes.Equal(out2, data) {
			t.Fatalf("level %d: inflate: %v", level, err)
		}
	}
}

func TestReadMemberHeaderOptionalFields(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Name, zw.Comment = "name.tar", "a comment"
	zw.Extra = []byte{'A', 'B', 2, 0, 1, 2}
	zw.Write([]byte("x"))
	zw.Close()
	var rec []byte
	h, err := readMemberHeader(bufio.NewReader(bytes.NewReader(b.Bytes())), &rec)
	if err != nil {
		t.Fatal(err)
	}
	if h.total != 0 || h.len != 10+2+6+len("name.tar")+1+len("a comment")+1 || !bytes.Equal(rec, b.Bytes()[:h.len]) {
		t.Fatalf("header %+v, recorded %d bytes", h, len(rec))
	}
}

func TestInflateRejects(t *testing.T) {
	t.Parallel()
	mw, _ := newMemberWriter(1)
	var out bytes.Buffer
	mw.compress(&out, []byte(strings.Repeat("hello ", 1000)))
	good := out.Bytes()[memberHeaderLen:]
	mod := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	for name, rest := range map[string][]byte{
		"crc":          mod(func(b []byte) []byte { b[len(b)-8] ^= 1; return b }),
		"size smaller": mod(func(b []byte) []byte { binary.LittleEndian.PutUint32(b[len(b)-4:], 10); return b }),
		"size larger":  mod(func(b []byte) []byte { binary.LittleEndian.PutUint32(b[len(b)-4:], 7000); return b }),
		"size huge":    mod(func(b []byte) []byte { binary.LittleEndian.PutUint32(b[len(b)-4:], MaxMemberSize+1); return b }),
		"extra byte":   mod(func(b []byte) []byte { return append(b[:len(b)-8:len(b)-8], append([]byte{0}, b[len(b)-8:]...)...) }),
		"bad deflate":  mod(func(b []byte) []byte { b[0] = 0xff; return b }),
		"too short":    good[:5],
	} {
		var o []byte
		if err := newMemberReader().inflate(&o, rest); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
