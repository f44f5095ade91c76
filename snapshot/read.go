package snapshot

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"path"
	"runtime"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"
)

// sink is where a read sends what it has checked: Extract's writes files,
// Verify's discards them.
type sink interface {
	// begin is called once the metadata is checked, before any file.
	begin(m Metadata, total int64) error
	// create returns where the data of file name goes.
	create(name string, mtime time.Time) (io.Writer, error)
	// closeFile is called once all of the current file's data is written.
	closeFile() error
}

// readArchive reads and checks an archive from r, sending the files to sk.
func readArchive(ctx context.Context, r io.Reader, opts ReadOptions, sk sink) (Metadata, error) {
	if opts.Concurrency <= 0 {
		opts.Concurrency = runtime.GOMAXPROCS(0)
	}
	g, gctx := errgroup.WithContext(ctx)
	s := startGunzip(gctx, g, r, opts.Concurrency)
	var meta Metadata
	g.Go(func() error {
		w := &walker{s: s, opts: opts, sink: sk}
		var err error
		meta, err = w.walk()
		return err
	})
	if err := g.Wait(); err != nil {
		if ctx.Err() != nil {
			return Metadata{}, ctx.Err()
		}
		return Metadata{}, err
	}
	return meta, nil
}

// walker checks the tar stream entry by entry (docs/FORMAT.md, "What a
// reader checks").
type walker struct {
	s    *gunzipStream
	tr   *tar.Reader
	opts ReadOptions
	sink sink

	meta  Metadata
	index map[string]int // file name → position in meta.Files
	seen  []bool
	sums  [][32]byte

	sawDir                bool
	done, total, reported int64
	file                  string
	buf                   []byte // file data is copied through it
}

func corrupt(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrCorrupt}, args...)...)
}

// streamErr turns an error met while reading the tar stream into the
// error to return.
func (w *walker) streamErr(err error, where string) error {
	switch {
	case err == nil:
		return nil
	case w.s.err != nil && err == w.s.err:
		return err // the gzip layer's own, already described
	case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
		return corrupt("archive truncated after %d bytes (%s)", w.s.inputBytes(), where)
	default:
		return corrupt("invalid tar stream after %d bytes (%s): %v", w.s.inputBytes(), where, err)
	}
}

func (w *walker) walk() (Metadata, error) {
	w.tr = tar.NewReader(w.s)
	if err := w.readMetadata(); err != nil {
		return Metadata{}, err
	}
	for {
		hdr, err := w.tr.Next()
		if err == io.EOF {
			for i, f := range w.meta.Files {
				if !w.seen[i] {
					return Metadata{}, corrupt("archive ends after %d bytes without entry %q listed in metadata (truncated, or the file is missing)", w.s.inputBytes(), indexDirName+f.Name)
				}
			}
			return Metadata{}, corrupt("archive ends after %d bytes without %s (truncated, or SHA256SUMS is missing)", w.s.inputBytes(), sumsName)
		}
		if err != nil {
			return Metadata{}, w.streamErr(err, "reading the entry after "+w.lastEntry())
		}
		if err := checkEntry(hdr); err != nil {
			return Metadata{}, err
		}
		switch name := hdr.Name; {
		case name == metadataName:
			return Metadata{}, corrupt("entry %q appears twice", name)
		case name == sumsName:
			if err := w.readSums(hdr); err != nil {
				return Metadata{}, err
			}
			if err := w.readEnd(hdr.Size); err != nil {
				return Metadata{}, err
			}
			w.report()
			return w.meta, nil
		case name == indexDirName:
			if hdr.Typeflag != tar.TypeDir {
				return Metadata{}, corrupt("entry %q is not a directory", name)
			}
			if w.sawDir {
				return Metadata{}, corrupt("entry %q appears twice", name)
			}
			if w.file != "" {
				return Metadata{}, corrupt("entry %q comes after files under it", name)
			}
			w.sawDir = true
		case strings.HasPrefix(name, indexDirName):
			if err := w.readFile(hdr); err != nil {
				return Metadata{}, err
			}
		default:
			return Metadata{}, corrupt("entry %q lies outside %s", name, indexDirName)
		}
	}
}

func (w *walker) lastEntry() string {
	if w.file == "" {
		return metadataName
	}
	return indexDirName + w.file
}

// checkEntry rejects entries that are never acceptable, whatever their
// place: absolute paths, "..", links, devices, FIFOs, unknown types.
func checkEntry(hdr *tar.Header) error {
	name := hdr.Name
	switch {
	case strings.HasPrefix(name, "/"):
		return corrupt("entry %q has an absolute path", name)
	case name == ".." || strings.HasPrefix(name, "../") || strings.HasSuffix(name, "/..") || strings.Contains(name, "/../"):
		return corrupt("entry %q has a \"..\" path element", name)
	case strings.ContainsRune(name, 0) || strings.Contains(name, "\\"):
		return corrupt("entry %q has a NUL or backslash in its name", name)
	}
	switch hdr.Typeflag {
	case tar.TypeReg, tar.TypeDir:
		return nil
	case tar.TypeSymlink:
		return corrupt("entry %q is a symbolic link (to %q)", name, hdr.Linkname)
	case tar.TypeLink:
		return corrupt("entry %q is a hard link (to %q)", name, hdr.Linkname)
	case tar.TypeChar, tar.TypeBlock:
		return corrupt("entry %q is a device", name)
	case tar.TypeFifo:
		return corrupt("entry %q is a FIFO", name)
	default:
		return corrupt("entry %q has unsupported type %q", name, hdr.Typeflag)
	}
}

// readMetadata reads and checks the first entry.
func (w *walker) readMetadata() error {
	hdr, err := w.tr.Next()
	switch {
	case err == io.EOF:
		return corrupt("the tar stream has no entries")
	case errors.Is(err, io.ErrUnexpectedEOF) && (w.s.err == nil || w.s.err == io.EOF):
		return corrupt("not a tar archive, or truncated after %d bytes (no complete first header)", w.s.inputBytes())
	case errors.Is(err, tar.ErrHeader):
		return corrupt("not a tar archive (invalid first header)")
	case err != nil:
		return w.streamErr(err, "reading the first entry")
	}
	if hdr.Name != metadataName {
		if err := checkEntry(hdr); err != nil {
			return err
		}
		return corrupt("first entry is %q, not %s", hdr.Name, metadataName)
	}
	if hdr.Typeflag != tar.TypeReg {
		return corrupt("entry %q is not a regular file", hdr.Name)
	}
	if hdr.Size > maxMetadataSize {
		return corrupt("%s is %d bytes, more than the limit of %d", metadataName, hdr.Size, maxMetadataSize)
	}
	b := make([]byte, hdr.Size)
	if _, err := io.ReadFull(w.tr, b); err != nil {
		return w.streamErr(err, "in "+metadataName)
	}
	m, err := decodeMetadata(b, w.opts.MaxPebbleFormat)
	if err != nil {
		return err
	}
	w.meta = m
	w.total = totalSize(m.Files)
	if w.opts.MaxExpandedSize > 0 && w.total > w.opts.MaxExpandedSize {
		return fmt.Errorf("%w: it expands to %d bytes of files, more than the limit of %d", ErrTooLarge, w.total, w.opts.MaxExpandedSize)
	}
	if err := w.sink.begin(m, w.total); err != nil {
		return err
	}
	if w.opts.OnMetadata != nil {
		if err := w.opts.OnMetadata(m); err != nil {
			return err
		}
	}
	w.index = make(map[string]int, len(m.Files))
	for i, f := range m.Files {
		w.index[f.Name] = i
	}
	w.seen = make([]bool, len(m.Files))
	w.sums = make([][32]byte, len(m.Files))
	return nil
}

// copyBufferSize is the size of the buffer a file's data is copied through.
const copyBufferSize = 1 << 20

// readFile checks and copies one index/NAME entry, hashing it.
func (w *walker) readFile(hdr *tar.Header) error {
	name := strings.TrimPrefix(hdr.Name, indexDirName)
	if hdr.Typeflag != tar.TypeReg || strings.Contains(name, "/") || path.Clean(hdr.Name) != hdr.Name {
		return corrupt("entry %q is not a regular file directly under %s", hdr.Name, indexDirName)
	}
	i, ok := w.index[name]
	if !ok {
		return corrupt("entry %q is not listed in metadata", hdr.Name)
	}
	if w.seen[i] {
		return corrupt("entry %q appears twice", hdr.Name)
	}
	w.seen[i] = true
	if want := w.meta.Files[i].Size; hdr.Size != want {
		return corrupt("entry %q: size %d differs from metadata (%d)", hdr.Name, hdr.Size, want)
	}
	w.file = name
	out, err := w.sink.create(name, hdr.ModTime)
	if err != nil {
		return err
	}
	h := sha256.New()
	if w.buf == nil {
		w.buf = make([]byte, copyBufferSize)
	}
	buf := w.buf
	for left := hdr.Size; left > 0; {
		n, err := io.ReadFull(w.tr, buf[:min(int64(len(buf)), left)])
		if err != nil {
			return w.streamErr(err, "in the data of "+hdr.Name)
		}
		h.Write(buf[:n])
		if _, err := out.Write(buf[:n]); err != nil {
			return err
		}
		left -= int64(n)
		w.done += int64(n)
		if w.done-w.reported >= progressEvery {
			w.report()
		}
	}
	h.Sum(w.sums[i][:0])
	return w.sink.closeFile()
}

func (w *walker) report() {
	if w.opts.Progress != nil {
		w.opts.Progress(Progress{BytesDone: w.done, BytesTotal: w.total, File: w.file})
	}
	w.reported = w.done
}

// readSums checks SHA256SUMS against the files read.
func (w *walker) readSums(hdr *tar.Header) error {
	if hdr.Typeflag != tar.TypeReg {
		return corrupt("entry %q is not a regular file", hdr.Name)
	}
	for i, f := range w.meta.Files {
		if !w.seen[i] {
			return corrupt("entry %q listed in metadata is missing from the archive", indexDirName+f.Name)
		}
	}
	if hdr.Size > maxSumsSize {
		return corrupt("%s is %d bytes, more than the limit of %d", sumsName, hdr.Size, maxSumsSize)
	}
	b := make([]byte, hdr.Size)
	if _, err := io.ReadFull(w.tr, b); err != nil {
		return w.streamErr(err, "in "+sumsName)
	}
	sums, err := decodeSums(b)
	if err != nil {
		return err
	}
	for i, f := range w.meta.Files {
		want, ok := sums[f.Name]
		if !ok {
			return corrupt("%s has no checksum for %q", sumsName, indexDirName+f.Name)
		}
		if want != w.sums[i] {
			return corrupt("entry %q: SHA-256 mismatch (%s says %s, the data hashes to %s)",
				indexDirName+f.Name, sumsName, hex.EncodeToString(want[:]), hex.EncodeToString(w.sums[i][:]))
		}
	}
	if len(sums) != len(w.meta.Files) {
		for name := range sums {
			if _, ok := w.index[name]; !ok {
				return corrupt("%s lists %q, which is not in the archive", sumsName, indexDirName+name)
			}
		}
	}
	return nil
}

// readEnd checks what follows SHA256SUMS's data: its padding, the
// end-of-archive blocks and nothing but zeros after them, then the end of
// the stream.
func (w *walker) readEnd(sumsSize int64) error {
	// archive/tar has not consumed the padding: it does so at Next, which
	// is not called again. Read the rest of the tar stream directly.
	pad := padding(sumsSize)
	buf := make([]byte, 64<<10)
	var n int64
	for {
		m, err := w.s.Read(buf)
		if !allZero(buf[:m]) {
			return corrupt("data after %s where only the end-of-archive blocks may be", sumsName)
		}
		n += int64(m)
		if n > maxTrailingZeros {
			return corrupt("more than %d bytes of zeros at the end of the tar stream", maxTrailingZeros)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return w.streamErr(err, "after "+sumsName)
		}
	}
	if n < pad+2*blockSize || (n-pad)%blockSize != 0 {
		return corrupt("archive truncated after %d bytes (incomplete end-of-archive blocks)", w.s.inputBytes())
	}
	return nil
}

func allZero(b []byte) bool {
	return len(bytes.Trim(b, "\x00")) == 0
}
