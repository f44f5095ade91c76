package snapshot

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"testing"

	"github.com/klauspost/compress/flate"
)

// TestMemberSlicingKeepsOutput: compressing a member in compressSlice
// pieces (with Gosched in between) gives the bytes one Write of the whole
// member gives, at every level Write accepts — so archives stay
// byte-identical to those of earlier versions, and reuse and rsync still
// find the same members.
func TestMemberSlicingKeepsOutput(t *testing.T) {
	t.Parallel()
	var data []byte
	for i := 0; len(data) < 3*compressSlice+777; i++ {
		data = append(data, []byte("lorem ipsum dolor sit amet ")...)
		data = binary.LittleEndian.AppendUint32(data, crc32.ChecksumIEEE([]byte{byte(i), byte(i >> 8)}))
	}
	for _, level := range []int{flate.HuffmanOnly, 1, 2, 3, 5, 9} {
		mw, err := newMemberWriter(level)
		if err != nil {
			t.Fatal(err)
		}
		var sliced bytes.Buffer
		if err := mw.compress(&sliced, data); err != nil {
			t.Fatal(err)
		}
		var whole bytes.Buffer
		fw, err := flate.NewWriter(&whole, level)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := fw.Write(data); err != nil {
			t.Fatal(err)
		}
		if err := fw.Close(); err != nil {
			t.Fatal(err)
		}
		got := sliced.Bytes()[memberHeaderLen : sliced.Len()-memberTrailerLen]
		if !bytes.Equal(got, whole.Bytes()) {
			t.Errorf("level %d: sliced deflate data (%d bytes) differs from one Write's (%d bytes)", level, len(got), whole.Len())
		}
	}
}
