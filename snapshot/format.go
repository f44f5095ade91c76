package snapshot

import (
	"archive/tar"
	"bufio"
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Entry names of the archive (docs/FORMAT.md, "Tar entries").
const (
	metadataName = "metadata.json"
	indexDirName = "index/"
	sumsName     = "SHA256SUMS"
)

// Limits on what a reader accepts before it has verified anything. They bound
// the memory an archive can make a reader use.
const (
	// maxMetadataSize is the largest metadata.json accepted (about 40,000
	// files' worth).
	maxMetadataSize = 4 << 20
	// maxSumsSize is the largest SHA256SUMS accepted.
	maxSumsSize = 8 << 20
	// maxFileNameLen keeps "index/"+name within a USTAR name field.
	maxFileNameLen = 100 - len(indexDirName)
	// maxTrailingZeros is how many zero bytes may follow SHA256SUMS (its
	// padding, the end-of-archive blocks and a tar record's padding, even
	// with a large blocking factor).
	maxTrailingZeros = 16 << 20
)

// blockSize is the tar block size.
const blockSize = 512

// padding returns how many zero bytes follow n bytes of entry data.
func padding(n int64) int64 { return -n & (blockSize - 1) }

// validFileName reports why name cannot be a file of index/, or nil. Names
// are single, printable path components: a pebble checkpoint is flat.
func validFileName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("empty file name")
	case name == "." || name == "..":
		return fmt.Errorf("file name %q is not a plain file name", name)
	case len(name) > maxFileNameLen:
		return fmt.Errorf("file name %q is longer than %d bytes", name, maxFileNameLen)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c <= ' ' || c >= 0x7f || c == '/' || c == '\\' {
			return fmt.Errorf("file name %q is not a plain file name (byte %#02x at %d)", name, c, i)
		}
	}
	return nil
}

// tarTime is mtime as a tar header stores it: whole seconds, clamped to
// what a USTAR header can hold.
func tarTime(t time.Time) time.Time {
	const maxUSTARTime = 1<<33 - 1 // 11 octal digits
	s := t.Unix()
	if t.IsZero() || s < 0 {
		s = 0
	}
	if s > maxUSTARTime {
		s = maxUSTARTime
	}
	return time.Unix(s, 0)
}

// tarHeader returns the deterministic USTAR header block of one entry.
func tarHeader(name string, typ byte, size int64, mtime time.Time) ([]byte, error) {
	mode := int64(0o644)
	if typ == tar.TypeDir {
		mode = 0o755
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	err := tw.WriteHeader(&tar.Header{
		Typeflag: typ,
		Name:     name,
		Size:     size,
		Mode:     mode,
		ModTime:  tarTime(mtime),
		Format:   tar.FormatUSTAR,
	})
	if err != nil {
		return nil, fmt.Errorf("snapshot: tar header for %q: %w", name, err)
	}
	// The header block is written at once; the writer is abandoned before
	// it expects the data.
	if buf.Len() != blockSize {
		return nil, fmt.Errorf("snapshot: tar header for %q: got %d bytes, want %d", name, buf.Len(), blockSize)
	}
	return buf.Bytes(), nil
}

// encodeMetadata returns metadata.json's content.
func encodeMetadata(m Metadata) ([]byte, error) {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("snapshot: encode metadata: %w", err)
	}
	return append(b, '\n'), nil
}

// decodeMetadata parses and checks metadata.json's content. maxPebble, if
// not 0, is the newest pebble format accepted.
func decodeMetadata(b []byte, maxPebble uint64) (Metadata, error) {
	var m Metadata
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&m); err != nil {
		return Metadata{}, fmt.Errorf("%w: %s: %v", ErrCorrupt, metadataName, err)
	}
	if dec.More() {
		return Metadata{}, fmt.Errorf("%w: %s: data after the JSON object", ErrCorrupt, metadataName)
	}
	if err := checkMetadata(m, maxPebble); err != nil {
		return Metadata{}, err
	}
	return m, nil
}

// checkMetadata checks what a reader relies on: the format, the versions
// and a sane file list.
func checkMetadata(m Metadata, maxPebble uint64) error {
	if m.Format != FormatName {
		return fmt.Errorf("%w: %s: format is %q, want %q", ErrCorrupt, metadataName, m.Format, FormatName)
	}
	if m.FormatVersion < 1 {
		return fmt.Errorf("%w: %s: formatVersion %d is not valid", ErrCorrupt, metadataName, m.FormatVersion)
	}
	if m.FormatVersion > FormatVersion {
		return fmt.Errorf("%w: format version %d is newer than the newest supported (%d)", ErrIncompatible, m.FormatVersion, FormatVersion)
	}
	if maxPebble != 0 && m.PebbleFormatVersion > maxPebble {
		return fmt.Errorf("%w: pebble format version %d is newer than the newest supported (%d)", ErrIncompatible, m.PebbleFormatVersion, maxPebble)
	}
	if m.Files == nil {
		return fmt.Errorf("%w: %s: no files list", ErrCorrupt, metadataName)
	}
	seen := make(map[string]bool, len(m.Files))
	var total int64
	for _, f := range m.Files {
		if err := validFileName(f.Name); err != nil {
			return fmt.Errorf("%w: %s: %v", ErrCorrupt, metadataName, err)
		}
		if seen[f.Name] {
			return fmt.Errorf("%w: %s: file %q listed twice", ErrCorrupt, metadataName, f.Name)
		}
		seen[f.Name] = true
		if f.Size < 0 {
			return fmt.Errorf("%w: %s: file %q has negative size %d", ErrCorrupt, metadataName, f.Name, f.Size)
		}
		if total+f.Size < total {
			return fmt.Errorf("%w: %s: file sizes overflow", ErrCorrupt, metadataName)
		}
		total += f.Size
	}
	return nil
}

// totalSize is the sum of the listed file sizes (checked not to overflow).
func totalSize(files []FileInfo) int64 {
	var n int64
	for _, f := range files {
		n += f.Size
	}
	return n
}

// encodeSums returns SHA256SUMS's content: one "<hex>  index/NAME" line
// per file, in the order given, as sha256sum writes it.
func encodeSums(files []FileInfo, sums [][32]byte) []byte {
	var b bytes.Buffer
	for i, f := range files {
		b.WriteString(hex.EncodeToString(sums[i][:]))
		b.WriteString("  ")
		b.WriteString(indexDirName)
		b.WriteString(f.Name)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// decodeSums parses SHA256SUMS into file name → checksum. Every line must be
// exactly "<64 lowercase hex>  index/NAME\n" and name a file once.
func decodeSums(b []byte) (map[string][32]byte, error) {
	sums := make(map[string][32]byte)
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<10)
	line := 0
	if len(b) > 0 && b[len(b)-1] != '\n' {
		return nil, fmt.Errorf("%w: %s: last line has no newline", ErrCorrupt, sumsName)
	}
	for sc.Scan() {
		line++
		l := sc.Text()
		hexSum, path, ok := strings.Cut(l, "  ")
		if !ok || len(hexSum) != 64 || strings.ToLower(hexSum) != hexSum {
			return nil, fmt.Errorf("%w: %s: line %d is not \"<sha256>  index/NAME\"", ErrCorrupt, sumsName, line)
		}
		var sum [32]byte
		if _, err := hex.Decode(sum[:], []byte(hexSum)); err != nil {
			return nil, fmt.Errorf("%w: %s: line %d: bad checksum %q", ErrCorrupt, sumsName, line, hexSum)
		}
		name, ok := strings.CutPrefix(path, indexDirName)
		if !ok {
			return nil, fmt.Errorf("%w: %s: line %d: %q is not under %s", ErrCorrupt, sumsName, line, path, indexDirName)
		}
		if err := validFileName(name); err != nil {
			return nil, fmt.Errorf("%w: %s: line %d: %v", ErrCorrupt, sumsName, line, err)
		}
		if _, dup := sums[name]; dup {
			return nil, fmt.Errorf("%w: %s: %q listed twice", ErrCorrupt, sumsName, path)
		}
		sums[name] = sum
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: %s: line %d: %v", ErrCorrupt, sumsName, line+1, err)
	}
	return sums, nil
}
