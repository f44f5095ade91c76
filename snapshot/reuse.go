package snapshot

import (
	"archive/tar"
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"runtime/debug"
	"syscall"

	"github.com/klauspost/compress/flate"
	"github.com/klauspost/compress/gzip"
	"golang.org/x/sys/unix"
)

// Reuse of a previous archive's members (docs/FORMAT.md §4, "Reuse"): an
// unchanged file (same name, size and mtime) compresses to the same members
// in every archive written with the same encoder, so Write may copy them
// from the previous archive instead of reading and compressing the file
// again. What it needs to find them is a MemberIndex, which every Write
// returns and its caller keeps next to the archive.

// MemberIndexVersion is the version of the MemberIndex layout.
const MemberIndexVersion = 1

// encoderRevision names the bytes memberWriter produces for a given level
// and member size beyond what the compress module's version says: bump it
// whenever member.go's output changes (another engine, other flate
// settings), or reuse would copy members a cold Write no longer writes.
const encoderRevision = 1

// MemberIndex says where each file's members lie in an archive.
type MemberIndex struct {
	Version int `json:"version"`
	// Encoder names what made the members: the compress module's version,
	// encoderRevision, level and member size. Members are reused only
	// from an archive of the same encoder.
	Encoder string `json:"encoder"`
	// ArchiveSize is the archive's size in bytes.
	ArchiveSize int64 `json:"archiveSize"`
	// SumsOffset is where the members of SHA256SUMS (and the end of the
	// archive) start.
	SumsOffset int64         `json:"sumsOffset"`
	Files      []IndexedFile `json:"files"`
	// ReusedFiles and ReusedBytes say how many files (and bytes of them)
	// the archive's Write copied from a previous archive.
	ReusedFiles int   `json:"reusedFiles"`
	ReusedBytes int64 `json:"reusedBytes"`
	// DatabaseID is the caller's: the database the archive was taken of
	// (Write leaves it empty).
	DatabaseID string `json:"databaseId,omitempty"`
}

// IndexedFile is one file's members in an archive.
type IndexedFile struct {
	Name       string `json:"name"`
	Size       int64  `json:"size"`
	MTimeNanos int64  `json:"mtimeNanos"` // the source file's mtime, to the nanosecond
	Offset     int64  `json:"offset"`     // of its first member
	Length     int64  `json:"length"`     // of all its members
	Members    int    `json:"members"`
	// CRC32C is the Castagnoli CRC of the Length bytes at Offset: a copy
	// is made only of bytes that still have it.
	CRC32C uint32 `json:"crc32c"`
}

// Reusable is a previous archive that Write may copy members from.
type Reusable struct {
	File  *os.File    // the archive, open for reading
	Index MemberIndex // its index, as Write returned it
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// encoderID names the encoder of o (ensureDefaults done).
func encoderID(o WriteOptions) string {
	ver := "unknown"
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == "github.com/klauspost/compress" {
				ver = d.Version
				if d.Replace != nil {
					ver += "=>" + d.Replace.Path + "@" + d.Replace.Version
				}
			}
		}
	}
	return fmt.Sprintf("klauspost/compress@%s/rev%d/level=%d/member=%d", ver, encoderRevision, o.Level, o.MemberSize)
}

// reuser is what Write knows of the previous archive: the files it may
// copy and their checksums from its SHA256SUMS. Nil when there is none or
// it is unusable; Write then compresses every file.
type reuser struct {
	f     *os.File
	files map[string]IndexedFile
	sums  map[string][32]byte
	o     WriteOptions
}

// newReuser checks the previous archive as a whole (encoder, size, index,
// SHA256SUMS). It returns nil and the reason when reuse is off.
func newReuser(r *Reusable, o WriteOptions) (*reuser, error) {
	if r == nil || r.File == nil {
		return nil, errors.New("no previous archive")
	}
	ix := r.Index
	if ix.Version != MemberIndexVersion {
		return nil, fmt.Errorf("member index version %d", ix.Version)
	}
	if want := encoderID(o); ix.Encoder != want {
		return nil, fmt.Errorf("encoder %q, not %q", ix.Encoder, want)
	}
	fi, err := r.File.Stat()
	if err != nil {
		return nil, err
	}
	if fi.Size() != ix.ArchiveSize {
		return nil, fmt.Errorf("archive is %d bytes, its index says %d", fi.Size(), ix.ArchiveSize)
	}
	files := make(map[string]IndexedFile, len(ix.Files))
	end := int64(0)
	for _, f := range ix.Files {
		if f.Offset < end || f.Length < minMemberLen || f.Offset+f.Length > ix.SumsOffset || f.Members < 1 {
			return nil, fmt.Errorf("index entry of %q out of place", f.Name)
		}
		end = f.Offset + f.Length
		files[f.Name] = f
	}
	if ix.SumsOffset > ix.ArchiveSize {
		return nil, errors.New("SHA256SUMS offset past the end")
	}
	sums, err := readPrevSums(r.File, ix.SumsOffset, ix.ArchiveSize-ix.SumsOffset)
	if err != nil {
		return nil, fmt.Errorf("SHA256SUMS: %w", err)
	}
	return &reuser{f: r.File, files: files, sums: sums, o: o}, nil
}

// readPrevSums reads SHA256SUMS from the members at off (n bytes up to the
// end of the archive).
func readPrevSums(f *os.File, off, n int64) (map[string][32]byte, error) {
	zr, err := gzip.NewReader(io.NewSectionReader(f, off, n))
	if err != nil {
		return nil, err
	}
	tr := tar.NewReader(zr)
	hdr, err := tr.Next()
	if err != nil {
		return nil, err
	}
	if hdr.Name != sumsName || hdr.Size > maxSumsSize {
		return nil, fmt.Errorf("entry %q where SHA256SUMS should be", hdr.Name)
	}
	b, err := io.ReadAll(tr)
	if err != nil {
		return nil, err
	}
	return decodeSums(b)
}

// candidate returns the previous archive's members of f if they are f's:
// same name, size, mtime, and bytes that pass check. ok is false, with the
// reason, otherwise.
func (ru *reuser) candidate(f srcFile) (IndexedFile, [32]byte, error) {
	pf, ok := ru.files[f.Name]
	if !ok {
		return pf, [32]byte{}, errors.New("not in the previous archive")
	}
	if pf.Size != f.Size || pf.MTimeNanos != f.mtime.UnixNano() {
		return pf, [32]byte{}, errors.New("changed (size or mtime)")
	}
	sum, ok := ru.sums[f.Name]
	if !ok {
		return pf, [32]byte{}, errors.New("not in the previous SHA256SUMS")
	}
	if err := ru.check(pf, f); err != nil {
		return pf, [32]byte{}, err
	}
	return pf, sum, nil
}

// check reads the members of pf and verifies that they are what a cold
// Write of f would produce, as far as can be told without inflating them:
// the bytes have their recorded CRC-32C; the member headers are the
// writer's and their lengths chain exactly over the range; each member
// inflates (its trailer says) to MemberSize bytes but the last, in all
// to f's header, data and padding; and the first member starts with the
// tar header Write would write.
func (ru *reuser) check(pf IndexedFile, f srcFile) error {
	br := bufio.NewReaderSize(io.NewSectionReader(ru.f, pf.Offset, pf.Length), 256<<10)
	crc := crc32.New(castagnoli)
	want := blockSize + f.Size + padding(f.Size)
	var got int64
	var hdr, tr [memberHeaderLen]byte
	for m := 0; m < pf.Members; m++ {
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			return fmt.Errorf("member %d: %v", m, err)
		}
		crc.Write(hdr[:])
		total := binary.LittleEndian.Uint64(hdr[memberLenOffset:])
		var exp [memberHeaderLen]byte
		putMemberHeader(exp[:], ru.o.Level, total)
		if hdr != exp || total < minMemberLen+memberHeaderLen-10 || total > maxMemberCompressed {
			return fmt.Errorf("member %d: not a member header of this writer", m)
		}
		body := int64(total) - memberHeaderLen - memberTrailerLen
		if m == 0 {
			if err := ru.checkTarHeader(pf.Offset+memberHeaderLen, body, f); err != nil {
				return err
			}
		}
		if _, err := io.CopyN(crc, br, body); err != nil {
			return fmt.Errorf("member %d: %v", m, err)
		}
		if _, err := io.ReadFull(br, tr[:memberTrailerLen]); err != nil {
			return fmt.Errorf("member %d: %v", m, err)
		}
		crc.Write(tr[:memberTrailerLen])
		size := int64(binary.LittleEndian.Uint32(tr[4:]))
		got += size
		if last := m == pf.Members-1; !last && size != int64(ru.o.MemberSize) || last && size != want-int64(m)*int64(ru.o.MemberSize) {
			return fmt.Errorf("member %d inflates to %d bytes, not what the file's size makes", m, size)
		}
	}
	if _, err := br.ReadByte(); err != io.EOF {
		return errors.New("members do not add up to the recorded length")
	}
	if got != want {
		return fmt.Errorf("members inflate to %d bytes, the file takes %d", got, want)
	}
	if crc.Sum32() != pf.CRC32C {
		return errors.New("CRC-32C mismatch: the previous archive changed")
	}
	return nil
}

// checkTarHeader inflates the first 512 bytes of the member whose deflate
// data is the n bytes at off and compares them with f's tar header.
func (ru *reuser) checkTarHeader(off, n int64, f srcFile) error {
	want, err := tarHeader(indexDirName+f.Name, tar.TypeReg, f.Size, f.mtime)
	if err != nil {
		return err
	}
	fr := flate.NewReader(io.NewSectionReader(ru.f, off, n))
	defer fr.Close()
	got := make([]byte, blockSize)
	if _, err := io.ReadFull(fr, got); err != nil {
		return fmt.Errorf("first member: %v", err)
	}
	if !bytes.Equal(got, want) {
		return errors.New("first member does not hold the file's tar header")
	}
	return nil
}

// copyRange copies n bytes at off of src to w: by copy_file_range when w is
// a file (the kernel copies, or reflinks where the file system can), else
// (a rate limiter, a pipe) by reads and writes through w.
func copyRange(w io.Writer, src *os.File, off, n int64) (int64, error) {
	if dst, ok := w.(*os.File); ok {
		var done int64
		for done < n {
			roff := off + done
			c, err := unix.CopyFileRange(int(src.Fd()), &roff, int(dst.Fd()), nil, int(min(n-done, 1<<30)), 0)
			if err != nil {
				if done == 0 && (errors.Is(err, syscall.EXDEV) || errors.Is(err, syscall.ENOSYS) || errors.Is(err, syscall.EOPNOTSUPP) || errors.Is(err, syscall.EINVAL)) {
					break // not supported here: copy by hand
				}
				return done, err
			}
			if c == 0 {
				return done, io.ErrUnexpectedEOF
			}
			done += int64(c)
		}
		if done == n {
			return done, nil
		}
	}
	return io.Copy(w, io.NewSectionReader(src, off, n))
}
