package snapshot

import (
	"archive/tar"
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/klauspost/compress/gzip"
)

// Verify reads and checks an archive like Extract, writing nothing: it
// inflates, parses and hashes everything. The free-space check is Extract's
// alone; MaxExpandedSize applies.
//
// It checks the format only: whether the files are a database that opens
// and matches the metadata is beyond this package. `idxfs snapshot verify`
// therefore runs task.VerifyArchive (the checks of an import) instead.
func Verify(ctx context.Context, r io.Reader, opts ReadOptions) (Metadata, error) {
	return readArchive(ctx, r, opts, verifier{})
}

// verifier is Verify's sink.
type verifier struct{}

func (verifier) begin(Metadata, int64) error                 { return nil }
func (verifier) create(string, time.Time) (io.Writer, error) { return io.Discard, nil }
func (verifier) closeFile() error                            { return nil }

// Inspect reads only the metadata entry and returns it (with basic checks).
//
// It checks the format name, the format version (ErrIncompatible if newer)
// and the file list, but not the files or checksums: use Verify for that.
// It reads little more than the first gzip member.
func Inspect(r io.Reader) (md Metadata, err error) {
	src := &sourceReader{r: r}
	defer func() {
		// A failing source (an I/O error, a cancelled stdin) is not a
		// corrupt archive: say what it is.
		if err != nil && src.err != nil {
			md, err = Metadata{}, fmt.Errorf("snapshot: reading the archive: %w", src.err)
		}
	}()
	br := bufio.NewReader(src)
	if _, err := br.Peek(1); err == io.EOF {
		return Metadata{}, corrupt("empty input")
	}
	zr, err := gzip.NewReader(br)
	switch {
	case errors.Is(err, gzip.ErrHeader):
		return Metadata{}, corrupt("not a gzip stream")
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		return Metadata{}, corrupt("archive truncated in the gzip header")
	case err != nil:
		return Metadata{}, corrupt("gzip header: %v", err)
	}
	defer zr.Close()
	tr := tar.NewReader(zr)
	hdr, err := tr.Next()
	switch {
	case err == io.EOF:
		return Metadata{}, corrupt("the tar stream has no entries")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return Metadata{}, corrupt("not a tar archive, or truncated (no complete first header)")
	case err != nil:
		return Metadata{}, corrupt("reading the first entry: %v", err)
	}
	if hdr.Name != metadataName || hdr.Typeflag != tar.TypeReg {
		return Metadata{}, corrupt("first entry is %q, not the file %s", hdr.Name, metadataName)
	}
	if hdr.Size > maxMetadataSize {
		return Metadata{}, corrupt("%s is %d bytes, more than the limit of %d", metadataName, hdr.Size, maxMetadataSize)
	}
	b := make([]byte, hdr.Size)
	if _, err := io.ReadFull(tr, b); err != nil {
		return Metadata{}, corrupt("reading %s: %v", metadataName, err)
	}
	return decodeMetadata(b, 0)
}

// sourceReader remembers the first error of its reader other than io.EOF.
type sourceReader struct {
	r   io.Reader
	err error
}

func (s *sourceReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err != nil && err != io.EOF && s.err == nil {
		s.err = err
	}
	return n, err
}
