// Package snapshottest builds archives by hand, valid or not, for tests of
// code that reads snapshot archives: any tar entries, compressed as one gzip
// member (as GNU tar and gzip do) or as members of the snapshot format with
// any recorded length. It is independent of snapshot.Write, so tests that use
// it also check the writer against a second reading of docs/FORMAT.md.
package snapshottest

import (
	"archive/tar"
	"bytes"
	"compress/flate"
	"compress/gzip"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io"
	"sort"
	"time"

	"github.com/idxfs/idxfs/snapshot"
)

// Entry is one tar entry. Data is written as is: a Header.Size that differs
// from len(Data) is written only through TarRaw.
type Entry struct {
	Header tar.Header
	Data   []byte
}

// File returns a regular-file entry.
func File(name string, data []byte) Entry {
	return Entry{Header: tar.Header{Typeflag: tar.TypeReg, Name: name, Size: int64(len(data)), Mode: 0o644, ModTime: Time, Format: tar.FormatUSTAR}, Data: data}
}

// Dir returns a directory entry.
func Dir(name string) Entry {
	return Entry{Header: tar.Header{Typeflag: tar.TypeDir, Name: name, Mode: 0o755, ModTime: Time, Format: tar.FormatUSTAR}}
}

// Time is the mtime of the entries built here.
var Time = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)

// Metadata returns a metadata entry for m, as the writer would fill it for
// files (names and sizes, sorted by name).
func Metadata(m snapshot.Metadata, files map[string][]byte) snapshot.Metadata {
	m.Format, m.FormatVersion = snapshot.FormatName, snapshot.FormatVersion
	m.Files = []snapshot.FileInfo{}
	for _, name := range sortedNames(files) {
		m.Files = append(m.Files, snapshot.FileInfo{Name: name, Size: int64(len(files[name]))})
	}
	return m
}

// MetadataEntry returns the metadata.json entry holding m.
func MetadataEntry(m snapshot.Metadata) Entry {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		panic(err)
	}
	return File("metadata.json", append(b, '\n'))
}

// SumsEntry returns a SHA256SUMS entry for files, in name order.
func SumsEntry(files map[string][]byte) Entry {
	var b bytes.Buffer
	for _, name := range sortedNames(files) {
		sum := sha256.Sum256(files[name])
		fmt.Fprintf(&b, "%s  index/%s\n", hex.EncodeToString(sum[:]), name)
	}
	return File("SHA256SUMS", b.Bytes())
}

// Entries returns the entries of a valid archive of files with metadata m:
// metadata.json, index/, index/NAME in name order, SHA256SUMS.
func Entries(m snapshot.Metadata, files map[string][]byte) []Entry {
	es := []Entry{MetadataEntry(Metadata(m, files)), Dir("index/")}
	for _, name := range sortedNames(files) {
		es = append(es, File("index/"+name, files[name]))
	}
	return append(es, SumsEntry(files))
}

func sortedNames(files map[string][]byte) []string {
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// Tar returns the tar stream of entries, with the end-of-archive blocks if
// eoa is set. It panics if archive/tar refuses an entry.
func Tar(entries []Entry, eoa bool) []byte {
	var b bytes.Buffer
	for _, seg := range TarSegments(entries) {
		b.Write(seg)
	}
	if eoa {
		b.Write(make([]byte, 1024))
	}
	return b.Bytes()
}

// TarSegments returns each entry's header(s), data and padding as one
// slice: the pieces the writer puts in members of their own.
func TarSegments(entries []Entry) [][]byte {
	var segs [][]byte
	for _, e := range entries {
		var b bytes.Buffer
		tw := tar.NewWriter(&b)
		h := e.Header
		if err := tw.WriteHeader(&h); err != nil {
			panic(fmt.Sprintf("snapshottest: entry %q: %v", h.Name, err))
		}
		if _, err := tw.Write(e.Data); err != nil {
			panic(fmt.Sprintf("snapshottest: entry %q: %v", h.Name, err))
		}
		if err := tw.Flush(); err != nil {
			panic(fmt.Sprintf("snapshottest: entry %q: %v", h.Name, err))
		}
		segs = append(segs, b.Bytes())
	}
	return segs
}

// Gzip compresses b as one plain gzip member, as gzip and GNU tar do.
func Gzip(b []byte) []byte {
	var out bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&out, gzip.BestSpeed)
	zw.Write(b)
	zw.Close()
	return out.Bytes()
}

// Member returns one gzip member of the snapshot format holding data. It
// records length as its length, or its true length if length is 0.
func Member(data []byte, length uint64) []byte {
	var out bytes.Buffer
	out.Write([]byte{0x1f, 0x8b, 8, 4, 0, 0, 0, 0, 0, 255, 12, 0, 'I', 'X', 8, 0})
	out.Write(make([]byte, 8))
	fw, _ := flate.NewWriter(&out, flate.BestSpeed)
	fw.Write(data)
	fw.Close()
	var tr [8]byte
	binary.LittleEndian.PutUint32(tr[:], crc32.ChecksumIEEE(data))
	binary.LittleEndian.PutUint32(tr[4:], uint32(len(data)))
	out.Write(tr[:])
	b := out.Bytes()
	if length == 0 {
		length = uint64(len(b))
	}
	binary.LittleEndian.PutUint64(b[16:], length)
	return b
}

// Members compresses each piece as a member of the snapshot format and
// concatenates them.
func Members(pieces ...[]byte) []byte {
	var out []byte
	for _, p := range pieces {
		out = append(out, Member(p, 0)...)
	}
	return out
}

// Archive returns entries as an archive in the snapshot format's member
// layout: one member per entry, the end-of-archive blocks in the last one.
func Archive(entries []Entry) []byte {
	segs := TarSegments(entries)
	if len(segs) == 0 {
		return Member(make([]byte, 1024), 0)
	}
	segs[len(segs)-1] = append(segs[len(segs)-1], make([]byte, 1024)...)
	return Members(segs...)
}

// SplitMembers cuts an archive of the snapshot format into its members,
// using their recorded lengths. It fails on a member without the subfield.
func SplitMembers(archive []byte) ([][]byte, error) {
	var ms [][]byte
	for len(archive) > 0 {
		if len(archive) < 24 || archive[0] != 0x1f || archive[1] != 0x8b || archive[3]&4 == 0 || archive[12] != 'I' || archive[13] != 'X' {
			return nil, fmt.Errorf("snapshottest: member %d has no member-length subfield", len(ms))
		}
		n := binary.LittleEndian.Uint64(archive[16:])
		if n > uint64(len(archive)) || n < 24 {
			return nil, fmt.Errorf("snapshottest: member %d: bad length %d", len(ms), n)
		}
		ms = append(ms, archive[:n])
		archive = archive[n:]
	}
	return ms, nil
}

// Gunzip inflates a gzip stream of any number of members.
func Gunzip(archive []byte) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(archive))
	if err != nil {
		return nil, err
	}
	return io.ReadAll(zr)
}

// Unarchive inflates and parses an archive (any gzip members) into its
// entries: with Archive, a way to change one entry of a real archive.
func Unarchive(archive []byte) ([]Entry, error) {
	b, err := Gunzip(archive)
	if err != nil {
		return nil, err
	}
	return Untar(b)
}

// Untar parses a tar stream into entries.
func Untar(b []byte) ([]Entry, error) {
	tr := tar.NewReader(bytes.NewReader(b))
	var es []Entry
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return es, nil
		}
		if err != nil {
			return nil, err
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			return nil, err
		}
		es = append(es, Entry{Header: *h, Data: data})
	}
}
