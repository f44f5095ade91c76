package snapshot_test

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/idxfs/idxfs/snapshot"
	st "github.com/idxfs/idxfs/snapshot/snapshottest"
)

// randBytes returns n pseudo-random bytes, the same for the same seed.
func randBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, 1))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// baseFiles is the content of the archives the malformed ones derive from.
func baseFiles() map[string][]byte {
	return map[string][]byte{
		"000004.sst":      randBytes(1, 200<<10),
		"MANIFEST-000001": randBytes(2, 700),
		"OPTIONS-000003":  []byte("[Version]\n  pebble_version=0.1\n"),
	}
}

// baseEntries are the valid entries of baseFiles.
func baseEntries() []st.Entry { return st.Entries(testMetadata(), baseFiles()) }

// withMeta returns the base entries with the metadata changed by f.
func withMeta(f func(m *snapshot.Metadata)) []st.Entry {
	es := baseEntries()
	m := st.Metadata(testMetadata(), baseFiles())
	f(&m)
	es[0] = st.MetadataEntry(m)
	return es
}

// withRawMeta returns the base entries with metadata.json's JSON object
// changed by f.
func withRawMeta(f func(m map[string]any)) []st.Entry {
	es := baseEntries()
	var m map[string]any
	if err := json.Unmarshal(es[0].Data, &m); err != nil {
		panic(err)
	}
	f(m)
	b, _ := json.Marshal(m)
	es[0] = st.File("metadata.json", b)
	return es
}

// insert returns es with e inserted before position i.
func insert(es []st.Entry, i int, e ...st.Entry) []st.Entry {
	return append(es[:i:i], append(e, es[i:]...)...)
}

func remove(es []st.Entry, i int) []st.Entry { return append(es[:i:i], es[i+1:]...) }

// validArchive is baseFiles written by snapshot.Write in small members.
func validArchive(t testing.TB) []byte {
	dir := makeSource(t, baseFiles())
	return writeArchive(t, dir, testMetadata(), snapshot.WriteOptions{MemberSize: 64 << 10})
}

// members returns the archive's members.
func members(t testing.TB, a []byte) [][]byte {
	ms, err := st.SplitMembers(a)
	if err != nil {
		t.Fatal(err)
	}
	return ms
}

func concat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// memberOf returns the index of the first member whose inflated data holds
// the tar header of entry name.
func memberOf(t testing.TB, ms [][]byte, name string) int {
	for i, m := range ms {
		data, err := st.Gunzip(m)
		if err != nil {
			t.Fatal(err)
		}
		for off := 0; off+512 <= len(data); off += 512 {
			if bytes.HasPrefix(data[off:], append([]byte(name), 0)) {
				return i
			}
		}
	}
	t.Fatalf("no member holds the header of %q", name)
	return -1
}

type malformed struct {
	name  string
	build func(t testing.TB) []byte
	opts  snapshot.ReadOptions
	want  error  // sentinel
	msg   string // the message names the problem with this
	// Verify's, where they differ (Verify has no free-space check)
	verifyWant error
	verifyMsg  string
}

func malformedCases() []malformed {
	tarOf := func(es []st.Entry) func(testing.TB) []byte {
		return func(testing.TB) []byte { return st.Archive(es) }
	}
	flipped := func(es []st.Entry, entry int, at int) []st.Entry {
		d := bytes.Clone(es[entry].Data)
		d[at] ^= 0x40
		es[entry].Data = d
		return es
	}
	corrupt, incompatible, tooLarge := snapshot.ErrCorrupt, snapshot.ErrIncompatible, snapshot.ErrTooLarge
	return []malformed{
		{name: "garbage", build: func(testing.TB) []byte { return randBytes(9, 5000) }, want: corrupt, msg: "not a gzip stream"},
		{name: "empty", build: func(testing.TB) []byte { return nil }, want: corrupt, msg: "empty input"},
		{name: "plain tar", build: func(testing.TB) []byte { return st.Tar(baseEntries(), true) }, want: corrupt, msg: "not a gzip stream"},
		{name: "gzip of non-tar", build: func(testing.TB) []byte { return st.Gzip(bytes.Repeat([]byte("not a tar file\n"), 1000)) }, want: corrupt, msg: "not a tar archive"},
		{name: "gzip of short non-tar", build: func(testing.TB) []byte { return st.Gzip([]byte("hello\n")) }, want: corrupt, msg: "not a tar archive"},
		{name: "gzip of nothing", build: func(testing.TB) []byte { return st.Gzip(nil) }, want: corrupt, msg: "no entries"},
		{name: "truncated inside the first member", build: func(t testing.TB) []byte { return validArchive(t)[:40] }, want: corrupt, msg: "truncated after 40 bytes"},
		{name: "truncated inside the first header", build: func(t testing.TB) []byte { return validArchive(t)[:15] }, want: corrupt, msg: "truncated after 15 bytes"},
		{name: "truncated at a member boundary", build: func(t testing.TB) []byte {
			ms := members(t, validArchive(t))
			return concat(ms[:3]...)
		}, want: corrupt, msg: "truncated"},
		{name: "truncated inside file data", build: func(t testing.TB) []byte {
			a := validArchive(t)
			ms := members(t, a)
			i := memberOf(t, ms, "index/000004.sst")
			return concat(append(ms[:i+1:i+1], ms[i+1][:len(ms[i+1])/2])...)
		}, want: corrupt, msg: "truncated after"},
		{name: "truncated inside SHA256SUMS", build: func(t testing.TB) []byte {
			a := validArchive(t)
			return a[:len(a)-20]
		}, want: corrupt, msg: "truncated after"},
		{name: "truncated just before end-of-archive", build: func(testing.TB) []byte {
			return st.Members(st.TarSegments(baseEntries())...)
		}, want: corrupt, msg: "end-of-archive"},
		{name: "truncated single member", build: func(testing.TB) []byte {
			a := st.Gzip(st.Tar(baseEntries(), true))
			return a[:len(a)/2]
		}, want: corrupt, msg: "truncated after"},
		{name: "single member without end-of-archive", build: func(testing.TB) []byte {
			return st.Gzip(st.Tar(baseEntries(), false))
		}, want: corrupt, msg: "end-of-archive"},
		{name: "flipped byte in file data", build: tarOf(flipped(baseEntries(), 2, 1000)), want: corrupt, msg: `"index/000004.sst": SHA-256 mismatch`},
		{name: "flipped byte in compressed data", build: func(t testing.TB) []byte {
			a := bytes.Clone(validArchive(t))
			ms := members(t, a)
			i := memberOf(t, ms, "index/000004.sst")
			off := len(concat(ms[:i+1]...)) + 100
			a[off] ^= 0x40
			return a
		}, want: corrupt, msg: "gzip member"},
		{name: "flipped byte in metadata", build: tarOf(flipped(baseEntries(), 0, 0)), want: corrupt, msg: "metadata.json"},
		{name: "wrong checksum in SHA256SUMS", build: func(testing.TB) []byte {
			es := baseEntries()
			d := bytes.Clone(es[5].Data)
			d[3] = "01"[min(1, int(d[3]-'0'))] // another hex digit
			es[5].Data = d
			return st.Archive(es)
		}, want: corrupt, msg: "SHA-256 mismatch"},
		{name: "malformed SHA256SUMS", build: tarOf(flipped(baseEntries(), 5, 64)), want: corrupt, msg: "SHA256SUMS: line 1"},
		{name: "SHA256SUMS lists an extra file", build: func(testing.TB) []byte {
			es := baseEntries()
			f := baseFiles()
			f["000009.sst"] = []byte("x")
			es[5] = st.SumsEntry(f)
			return st.Archive(es)
		}, want: corrupt, msg: `lists "index/000009.sst"`},
		{name: "missing SHA256SUMS", build: tarOf(baseEntries()[:5]), want: corrupt, msg: "without SHA256SUMS"},
		{name: "missing metadata", build: tarOf(baseEntries()[1:]), want: corrupt, msg: `first entry is "index/"`},
		{name: "metadata not first", build: func(testing.TB) []byte {
			es := baseEntries()
			es[0], es[1] = es[1], es[0]
			return st.Archive(es)
		}, want: corrupt, msg: "first entry"},
		{name: "index dir twice", build: tarOf(insert(baseEntries(), 2, st.Dir("index/"))), want: corrupt, msg: `"index/" appears twice`},
		{name: "index dir after files", build: tarOf(insert(remove(baseEntries(), 1), 3, st.Dir("index/"))), want: corrupt, msg: `"index/" comes after files`},
		{name: "metadata twice", build: func(testing.TB) []byte {
			es := baseEntries()
			return st.Archive(insert(es, 2, es[0]))
		}, want: corrupt, msg: `"metadata.json" appears twice`},
		{name: "metadata is a directory", build: tarOf(insert(baseEntries()[1:], 0, st.Dir("metadata.json"))), want: corrupt, msg: `"metadata.json" is not a regular file`},
		{name: "file size differs from metadata", build: tarOf(withMeta(func(m *snapshot.Metadata) { m.Files[1].Size = 5678 })), want: corrupt, msg: `entry "index/MANIFEST-000001": size 700 differs from metadata (5678)`},
		{name: "file missing", build: tarOf(remove(baseEntries(), 3)), want: corrupt, msg: `"index/MANIFEST-000001" listed in metadata is missing`},
		{name: "extra file", build: tarOf(insert(baseEntries(), 3, st.File("index/000099.sst", []byte("extra")))), want: corrupt, msg: `"index/000099.sst" is not listed in metadata`},
		{name: "duplicate entry", build: func(testing.TB) []byte {
			es := baseEntries()
			return st.Archive(insert(es, 3, es[2]))
		}, want: corrupt, msg: `"index/000004.sst" appears twice`},
		{name: "absolute path", build: tarOf(insert(baseEntries(), 2, st.File("/etc/evil", []byte("x")))), want: corrupt, msg: `"/etc/evil" has an absolute path`},
		{name: "dot-dot path", build: tarOf(insert(baseEntries(), 2, st.File("index/../../evil", []byte("x")))), want: corrupt, msg: `".." path element`},
		{name: "symlink", build: func(testing.TB) []byte {
			e := st.File("index/link", nil)
			e.Header.Typeflag, e.Header.Linkname = tar.TypeSymlink, "/etc/passwd"
			return st.Archive(insert(baseEntries(), 2, e))
		}, want: corrupt, msg: `"index/link" is a symbolic link`},
		{name: "hardlink", build: func(testing.TB) []byte {
			e := st.File("index/link", nil)
			e.Header.Typeflag, e.Header.Linkname = tar.TypeLink, "index/000004.sst"
			return st.Archive(insert(baseEntries(), 3, e))
		}, want: corrupt, msg: `"index/link" is a hard link`},
		{name: "device", build: func(testing.TB) []byte {
			e := st.File("index/dev", nil)
			e.Header.Typeflag, e.Header.Devmajor = tar.TypeChar, 1
			return st.Archive(insert(baseEntries(), 2, e))
		}, want: corrupt, msg: `"index/dev" is a device`},
		{name: "fifo", build: func(testing.TB) []byte {
			e := st.File("index/fifo", nil)
			e.Header.Typeflag = tar.TypeFifo
			return st.Archive(insert(baseEntries(), 2, e))
		}, want: corrupt, msg: `"index/fifo" is a FIFO`},
		{name: "entry outside index", build: tarOf(insert(baseEntries(), 2, st.File("other/file", []byte("x")))), want: corrupt, msg: `"other/file" lies outside index/`},
		{name: "nested entry", build: tarOf(insert(baseEntries(), 2, st.File("index/sub/file", []byte("x")))), want: corrupt, msg: `"index/sub/file" is not a regular file directly under index/`},
		{name: "entry after SHA256SUMS", build: tarOf(append(baseEntries(), st.File("index/late", []byte("x")))), want: corrupt, msg: "data after SHA256SUMS"},
		{name: "wrong format name", build: tarOf(withMeta(func(m *snapshot.Metadata) { m.Format = "something-else" })), want: corrupt, msg: `format is "something-else"`},
		{name: "metadata lists a file twice", build: tarOf(withMeta(func(m *snapshot.Metadata) { m.Files = append(m.Files, m.Files[0]) })), want: corrupt, msg: "listed twice"},
		{name: "metadata lists a path", build: tarOf(withMeta(func(m *snapshot.Metadata) { m.Files[0].Name = "../x" })), want: corrupt, msg: "not a plain file name"},
		{name: "metadata without files", build: tarOf(withRawMeta(func(m map[string]any) { delete(m, "files") })), want: corrupt, msg: "no files list"},
		{name: "metadata negative size", build: tarOf(withRawMeta(func(m map[string]any) { m["files"].([]any)[0].(map[string]any)["size"] = -1 })), want: corrupt, msg: "negative size"},
		{name: "future format version", build: tarOf(withMeta(func(m *snapshot.Metadata) { m.FormatVersion = 2 })), want: incompatible, msg: "format version 2 is newer"},
		{name: "future pebble format", build: tarOf(withMeta(func(m *snapshot.Metadata) { m.PebbleFormatVersion = 99 })),
			opts: snapshot.ReadOptions{MaxPebbleFormat: 20}, want: incompatible, msg: "pebble format version 99 is newer"},
		{name: "over MaxExpandedSize", build: tarOf(baseEntries()), opts: snapshot.ReadOptions{MaxExpandedSize: 100 << 10}, want: tooLarge, msg: "more than the limit of 102400"},
		{name: "over free space", build: tarOf(withMeta(func(m *snapshot.Metadata) { m.Files[0].Size = 1 << 60 })), want: syscall.ENOSPC, msg: "no space left on device: the archive expands to 1073741824.0 GiB of files, ",
			verifyWant: corrupt, verifyMsg: "differs from metadata"},
		{name: "trailing garbage", build: func(t testing.TB) []byte { return concat(validArchive(t), []byte("garbage!!!!!")) }, want: corrupt, msg: "trailing garbage"},
		{name: "trailing zeros", build: func(t testing.TB) []byte { return concat(validArchive(t), make([]byte, 100)) }, want: corrupt, msg: "trailing garbage"},
		{name: "trailing garbage after single member", build: func(testing.TB) []byte { return concat(st.Gzip(st.Tar(baseEntries(), true)), []byte("garbage!!!!!")) }, want: corrupt, msg: "trailing garbage"},
		{name: "bogus member length: huge", build: func(t testing.TB) []byte {
			ms := members(t, validArchive(t))
			seg := st.TarSegments(baseEntries())
			return concat(ms[0], st.Member(seg[1], 1<<40))
		}, want: corrupt, msg: "recorded length 1099511627776 is impossible"},
		{name: "bogus member length: short", build: func(t testing.TB) []byte {
			seg := st.TarSegments(baseEntries())
			m := st.Member(seg[2], 0)
			return concat(st.Member(seg[0], 0), st.Member(seg[1], 0), st.Member(seg[2], uint64(len(m)-3)), m[len(m)-3:])
		}, want: corrupt, msg: "gzip member 2"},
		{name: "bogus member length: long", build: func(t testing.TB) []byte {
			seg := st.TarSegments(baseEntries())
			m := st.Member(seg[1], 0)
			return concat(st.Member(seg[0], 0), st.Member(seg[1], uint64(len(m)+30)), st.Member(seg[2], 0))
		}, want: corrupt, msg: "gzip member 1"},
		{name: "member without length after members with", build: func(t testing.TB) []byte {
			seg := st.TarSegments(baseEntries())
			return concat(st.Member(seg[0], 0), st.Gzip(concat(seg[1:]...)))
		}, want: corrupt, msg: "no member-length subfield"},
	}
}

// TestMalformed checks that every malformed archive is rejected by Verify
// and by Extract, with the right sentinel and a message that names the
// problem, and that Extract leaves nothing behind.
func TestMalformed(t *testing.T) {
	cases := malformedCases()
	if len(cases) < 20 {
		t.Fatalf("only %d cases", len(cases))
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a := tc.build(t)
			vwant, vmsg := tc.want, tc.msg
			if tc.verifyWant != nil {
				vwant, vmsg = tc.verifyWant, tc.verifyMsg
			}
			_, err := snapshot.Verify(context.Background(), bytes.NewReader(a), tc.opts)
			checkErr(t, "Verify", err, vwant, vmsg)

			parent := t.TempDir()
			dst := filepath.Join(parent, "dst")
			_, err = snapshot.Extract(context.Background(), bytes.NewReader(a), dst, tc.opts)
			checkErr(t, "Extract", err, tc.want, tc.msg)
			if _, err := os.Lstat(dst); !os.IsNotExist(err) {
				t.Errorf("Extract left %s behind (%v)", dst, err)
			}
			if ents, _ := os.ReadDir(parent); len(ents) != 0 {
				t.Errorf("Extract left %d entries in the parent dir", len(ents))
			}
		})
	}
}

func checkErr(t *testing.T, op string, err, want error, msg string) {
	t.Helper()
	switch {
	case err == nil:
		t.Errorf("%s accepted it", op)
	case !errors.Is(err, want):
		t.Errorf("%s: %v, want %v", op, err, want)
	case !strings.Contains(err.Error(), msg):
		t.Errorf("%s: %q does not say %q", op, err, msg)
	default:
		t.Logf("%s: %v", op, err)
	}
}

// TestValidBaseArchives checks that the archives the malformed ones derive
// from are valid, so that each malformed case tests its one defect.
func TestValidBaseArchives(t *testing.T) {
	for name, a := range map[string][]byte{
		"snapshot.Write":           validArchive(t),
		"snapshottest.Archive":     st.Archive(baseEntries()),
		"single member (GNU-like)": st.Gzip(st.Tar(baseEntries(), true)),
		"record padding":           st.Gzip(recordPadded(st.Tar(baseEntries(), true))),
	} {
		if _, err := snapshot.Verify(context.Background(), bytes.NewReader(a), snapshot.ReadOptions{}); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// recordPadded pads a tar stream to a whole 10 KiB record, as GNU tar does.
func recordPadded(b []byte) []byte {
	return append(b, make([]byte, (10240-len(b)%10240)%10240)...)
}
