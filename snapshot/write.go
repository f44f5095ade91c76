package snapshot

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"time"

	"github.com/klauspost/compress/flate"
	"golang.org/x/sync/errgroup"
)

// Defaults of WriteOptions, chosen from BenchmarkWrite (docs/FORMAT.md,
// "Choice of defaults").
const (
	DefaultLevel      = 2
	DefaultMemberSize = 1 << 20
)

// progressEvery is how many bytes of file data pass between two progress
// calls (besides the call at the end).
const progressEvery = 1 << 20

// engine is how members are compressed: Write uses enginePool; benchmarks
// measure others against it (bench_test.go).
type engine struct {
	// workers is how many members are compressed at once; 0 means
	// WriteOptions.Concurrency.
	workers int
	// compressor returns the compress function of one compressing
	// goroutine: it sets out (reset first) to one complete member, with
	// the member-length subfield, holding in.
	compressor func(o WriteOptions) (func(out *bytes.Buffer, in []byte) error, error)
}

// enginePool compresses Concurrency members at once, each on one goroutine
// with klauspost/compress/flate.
var enginePool = engine{compressor: func(o WriteOptions) (func(*bytes.Buffer, []byte) error, error) {
	mw, err := newMemberWriter(o.Level)
	if err != nil {
		return nil, err
	}
	return mw.compress, nil
}}

// ValidLevel reports whether level is a gzip level WriteOptions.Level
// accepts besides 0 (the default): 1 (fastest) to 9 (smallest), or -2 for
// Huffman coding only.
func ValidLevel(level int) bool {
	return level == flate.HuffmanOnly || level >= flate.BestSpeed && level <= flate.BestCompression
}

func (o *WriteOptions) ensureDefaults() error {
	if o.Level == 0 {
		o.Level = DefaultLevel
	}
	if !ValidLevel(o.Level) {
		return fmt.Errorf("snapshot: gzip level %d is not valid (-2 for Huffman only, 1–9)", o.Level)
	}
	if o.Concurrency <= 0 {
		o.Concurrency = runtime.GOMAXPROCS(0)
	}
	if o.MemberSize == 0 {
		o.MemberSize = DefaultMemberSize
	}
	if o.MemberSize < minMemberSize || o.MemberSize > MaxMemberSize {
		return fmt.Errorf("snapshot: member size %d is outside [%d, %d]", o.MemberSize, minMemberSize, MaxMemberSize)
	}
	return nil
}

// srcFile is one file of the checkpoint being written.
type srcFile struct {
	FileInfo
	mtime time.Time
}

// listSource reads srcDir, which must be flat: regular files only.
func listSource(srcDir string) ([]srcFile, error) {
	ents, err := os.ReadDir(srcDir)
	if err != nil {
		return nil, fmt.Errorf("snapshot: read source: %w", err)
	}
	files := make([]srcFile, 0, len(ents))
	for _, e := range ents {
		name := e.Name()
		if !e.Type().IsRegular() {
			what := "a special file"
			switch {
			case e.IsDir():
				what = "a directory"
			case e.Type()&os.ModeSymlink != 0:
				what = "a symlink"
			}
			return nil, fmt.Errorf("snapshot: source %s: %q is %s; a checkpoint must be a flat directory of regular files", srcDir, name, what)
		}
		if err := validFileName(name); err != nil {
			return nil, fmt.Errorf("snapshot: source %s: %v", srcDir, err)
		}
		fi, err := e.Info()
		if err != nil {
			return nil, fmt.Errorf("snapshot: source: %w", err)
		}
		files = append(files, srcFile{FileInfo{Name: name, Size: fi.Size()}, fi.ModTime()})
	}
	sort.Slice(files, func(i, j int) bool { return files[i].Name < files[j].Name })
	return files, nil
}

// wjob is one member on its way through the write pipeline. Jobs and their
// buffers are recycled through a free list, which bounds the memory in use.
type wjob struct {
	in       []byte
	out      bytes.Buffer
	done     chan struct{}
	err      error
	fileData int64  // bytes of file data in the member
	file     string // the file the member belongs to, "" for the others
	// part is the member's place in the archive: partFile for a file's
	// (fileIdx: which), partHead and partSums for the others.
	part    int
	fileIdx int
	// reused, if set, makes the job a copy of a previous archive's members
	// of the file instead of a compressed member.
	reused *IndexedFile
}

// Parts of an archive, for its MemberIndex.
const (
	partHead = iota
	partFile
	partSums
)

// writer is the state of one Write.
type writer struct {
	opts   WriteOptions
	engine engine
	srcDir string
	files  []srcFile
	meta   Metadata

	free    chan *wjob // idle jobs
	work    chan *wjob // jobs to compress
	ordered chan *wjob // jobs in archive order, for output
	total   int64      // bytes of file data
	// handedOut ends when produce has handed out the last member (or the
	// Write ends): the context of Throttle calls.
	handedOut context.Context

	reuse     *reuser // nil: compress every file
	reuseNote string  // why reuse is off, if it is
	reusedN   int     // files copied from the previous archive
	reusedB   int64   // and their bytes
	index     MemberIndex
}

// Write streams srcDir (a checkpoint: a flat directory of pebble files) to w
// as an archive: meta (with Files filled in from srcDir) first, the files
// under index/ in a deterministic order with deterministic tar headers, the
// SHA-256 checksums last. It returns at ctx's cancellation with ctx.Err().
//
// Write sets meta.Format, meta.FormatVersion and meta.Files, and meta.CreatedAt
// to the current time if it is zero. srcDir must hold only regular files
// (a subdirectory, symlink or special file is an error). The output depends
// only on srcDir's files, meta, Level and MemberSize, not on Concurrency.
func Write(ctx context.Context, w io.Writer, srcDir string, meta Metadata, opts WriteOptions) (WriteResult, error) {
	return write(ctx, w, srcDir, meta, opts, enginePool)
}

func write(ctx context.Context, w io.Writer, srcDir string, meta Metadata, opts WriteOptions, eng engine) (WriteResult, error) {
	if err := opts.ensureDefaults(); err != nil {
		return WriteResult{}, err
	}
	files, err := listSource(srcDir)
	if err != nil {
		return WriteResult{}, err
	}
	meta.Format, meta.FormatVersion = FormatName, FormatVersion
	if meta.CreatedAt.IsZero() {
		meta.CreatedAt = time.Now().UTC().Truncate(time.Second)
	}
	meta.Files = make([]FileInfo, len(files))
	wr := &writer{opts: opts, engine: eng, srcDir: srcDir, files: files}
	for i, f := range files {
		meta.Files[i] = f.FileInfo
		wr.total += f.Size
	}
	wr.meta = meta
	wr.index = MemberIndex{Version: MemberIndexVersion, Encoder: encoderID(opts), Files: make([]IndexedFile, 0, len(files))}
	if opts.Reuse != nil {
		if wr.reuse, err = newReuser(opts.Reuse, opts); err != nil {
			wr.reuseNote = err.Error()
		}
	}

	workers := opts.Concurrency
	if eng.workers > 0 {
		workers = eng.workers
	}
	njobs := 2*workers + 1
	wr.free = make(chan *wjob, njobs)
	for range njobs {
		wr.free <- &wjob{done: make(chan struct{})}
	}
	wr.work = make(chan *wjob, workers)
	wr.ordered = make(chan *wjob, njobs)

	g, gctx := errgroup.WithContext(ctx)
	handedOut, allOut := context.WithCancel(gctx)
	defer allOut()
	wr.handedOut = handedOut
	g.Go(func() error { defer allOut(); return wr.produce(gctx) })
	for i := range workers {
		g.Go(func() error { return wr.compress(gctx, i) })
	}
	var res WriteResult
	g.Go(func() (err error) {
		res.CompressedSize, err = wr.output(gctx, w)
		return err
	})
	if err := g.Wait(); err != nil {
		if ctx.Err() != nil {
			return WriteResult{}, ctx.Err()
		}
		return WriteResult{}, err
	}
	res.Metadata = meta
	res.UncompressedSize = wr.total
	res.ReusedFiles, res.ReusedBytes, res.ReuseNote = wr.reusedN, wr.reusedB, wr.reuseNote
	wr.index.ArchiveSize = res.CompressedSize
	wr.index.ReusedFiles, wr.index.ReusedBytes = wr.reusedN, wr.reusedB
	res.Index = wr.index
	return res, nil
}

// produce reads the entries in archive order, hashes the files, and cuts the
// tar stream into members: each entry's header, data and padding go into
// members of their own, at most MemberSize bytes each.
func (wr *writer) produce(ctx context.Context) error {
	defer close(wr.work)
	defer close(wr.ordered)

	metaJSON, err := encodeMetadata(wr.meta)
	if err != nil {
		return err
	}
	seg := newSegmenter(ctx, wr)
	hdr, err := tarHeader(metadataName, tar.TypeReg, int64(len(metaJSON)), wr.meta.CreatedAt)
	if err != nil {
		return err
	}
	dirHdr, err := tarHeader(indexDirName, tar.TypeDir, 0, wr.meta.CreatedAt)
	if err != nil {
		return err
	}
	// Member(s) 0: metadata.json and the index/ directory header.
	if err := seg.add(hdr, metaJSON, make([]byte, padding(int64(len(metaJSON)))), dirHdr); err != nil {
		return err
	}
	if err := seg.flush(); err != nil {
		return err
	}

	sums := make([][32]byte, len(wr.files))
	h := sha256.New()
	seg.part = partFile
	for i, f := range wr.files {
		seg.fileIdx = i
		if ok, err := wr.reuseFile(ctx, f, i, &sums[i]); err != nil {
			return err
		} else if ok {
			continue
		}
		if err := wr.produceFile(seg, f, h); err != nil {
			return err
		}
		h.Sum(sums[i][:0])
	}

	// Last member(s): SHA256SUMS and the end-of-archive blocks.
	seg.part = partSums
	sumsData := encodeSums(wr.meta.Files, sums)
	hdr, err = tarHeader(sumsName, tar.TypeReg, int64(len(sumsData)), wr.meta.CreatedAt)
	if err != nil {
		return err
	}
	if err := seg.add(hdr, sumsData, make([]byte, padding(int64(len(sumsData)))+2*blockSize)); err != nil {
		return err
	}
	return seg.flush()
}

// reuseFile sends, in place of f's compressed members, a copy of the
// previous archive's members of f if they pass the reuser's checks, with
// its checksum from the previous SHA256SUMS into sum. It reports whether it
// did; if not, f is compressed as usual.
func (wr *writer) reuseFile(ctx context.Context, f srcFile, i int, sum *[32]byte) (bool, error) {
	if wr.reuse == nil {
		return false, nil
	}
	pf, s, err := wr.reuse.candidate(f)
	if err != nil {
		return false, nil
	}
	var j *wjob
	select {
	case j = <-wr.free:
	case <-ctx.Done():
		return false, ctx.Err()
	}
	j.in, j.err = j.in[:0], nil
	j.fileData, j.file, j.part, j.fileIdx, j.reused = f.Size, f.Name, partFile, i, &pf
	j.done = make(chan struct{})
	close(j.done)
	select {
	case wr.ordered <- j:
	case <-ctx.Done():
		return false, ctx.Err()
	}
	*sum = s
	return true, nil
}

// produceFile cuts one file's entry into members, hashing its data into h.
func (wr *writer) produceFile(seg *segmenter, f srcFile, h hash.Hash) error {
	h.Reset()
	fh, err := os.Open(filepath.Join(wr.srcDir, f.Name))
	if err != nil {
		return fmt.Errorf("snapshot: source: %w", err)
	}
	defer fh.Close()
	hdr, err := tarHeader(indexDirName+f.Name, tar.TypeReg, f.Size, f.mtime)
	if err != nil {
		return err
	}
	seg.file = f.Name
	if err := seg.add(hdr); err != nil {
		return err
	}
	left := f.Size
	for left > 0 {
		room, err := seg.room()
		if err != nil {
			return err
		}
		n := min(int64(len(room)), left)
		if _, err := io.ReadFull(fh, room[:n]); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return fmt.Errorf("snapshot: source file %q shrank while being read (expected %d bytes)", f.Name, f.Size)
			}
			return fmt.Errorf("snapshot: read source: %w", err)
		}
		h.Write(room[:n])
		seg.commit(int(n), n)
		left -= n
	}
	var one [1]byte
	if n, _ := fh.Read(one[:]); n != 0 {
		return fmt.Errorf("snapshot: source file %q grew while being read (expected %d bytes)", f.Name, f.Size)
	}
	if err := seg.add(make([]byte, padding(f.Size))); err != nil {
		return err
	}
	err = seg.flush()
	seg.file = ""
	return err
}

// segmenter fills members: it hands out room in the current job's input
// buffer and sends the job on when it is full or flushed.
type segmenter struct {
	ctx     context.Context
	wr      *writer
	cur     *wjob
	file    string
	part    int
	fileIdx int
}

func newSegmenter(ctx context.Context, wr *writer) *segmenter {
	return &segmenter{ctx: ctx, wr: wr}
}

// room returns the free part of the current member's buffer, starting a new
// member if needed.
func (s *segmenter) room() ([]byte, error) {
	if s.cur != nil && len(s.cur.in) == s.wr.opts.MemberSize {
		if err := s.flush(); err != nil {
			return nil, err
		}
	}
	if s.cur == nil {
		select {
		case j := <-s.wr.free:
			s.cur = j
		case <-s.ctx.Done():
			return nil, s.ctx.Err()
		}
		if cap(s.cur.in) < s.wr.opts.MemberSize {
			s.cur.in = make([]byte, 0, s.wr.opts.MemberSize)
			// Room for incompressible data and the member's framing,
			// so that the buffer does not grow by doubling.
			s.cur.out.Grow(s.wr.opts.MemberSize + s.wr.opts.MemberSize/64 + 1024)
		}
		s.cur.in = s.cur.in[:0]
		s.cur.fileData = 0
		s.cur.file = s.file
		s.cur.part, s.cur.fileIdx, s.cur.reused = s.part, s.fileIdx, nil
		s.cur.err = nil
		s.cur.done = make(chan struct{})
	}
	return s.cur.in[len(s.cur.in):s.wr.opts.MemberSize], nil
}

// commit marks n bytes of room as used, fileData of them file data.
func (s *segmenter) commit(n int, fileData int64) {
	s.cur.in = s.cur.in[:len(s.cur.in)+n]
	s.cur.fileData += fileData
}

// add appends bytes that are not file data.
func (s *segmenter) add(parts ...[]byte) error {
	for _, p := range parts {
		for len(p) > 0 {
			room, err := s.room()
			if err != nil {
				return err
			}
			n := copy(room, p)
			s.commit(n, 0)
			p = p[n:]
		}
	}
	return nil
}

// flush sends the current member on, if it holds anything.
func (s *segmenter) flush() error {
	j := s.cur
	if j == nil {
		return nil
	}
	s.cur = nil
	select {
	case s.wr.ordered <- j:
	case <-s.ctx.Done():
		return s.ctx.Err()
	}
	select {
	case s.wr.work <- j:
	case <-s.ctx.Done():
		return s.ctx.Err()
	}
	return nil
}

// compress is compressing goroutine number worker.
func (wr *writer) compress(ctx context.Context, worker int) error {
	compress, err := wr.engine.compressor(wr.opts)
	if err != nil {
		return err
	}
	for {
		// Once every member is handed out, no goroutine waits: the
		// last ones go to whoever is free.
		if t := wr.opts.Throttle; t != nil && wr.handedOut.Err() == nil {
			if err := t(wr.handedOut, worker); err != nil && ctx.Err() != nil {
				return ctx.Err()
			}
		}
		j, ok := <-wr.work
		if !ok {
			return nil
		}
		if ctx.Err() == nil {
			j.err = compress(&j.out, j.in)
		} else {
			j.err = ctx.Err()
		}
		close(j.done)
	}
}

// output writes the members in order and reports progress.
func (wr *writer) output(ctx context.Context, w io.Writer) (int64, error) {
	var written, done, reported int64
	file := ""
	report := func() {
		if wr.opts.Progress != nil {
			wr.opts.Progress(Progress{BytesDone: done, BytesTotal: wr.total, File: file})
		}
		reported = done
	}
	for {
		var j *wjob
		select {
		case j = <-wr.ordered:
		case <-ctx.Done():
			return written, ctx.Err()
		}
		if j == nil {
			break
		}
		select {
		case <-j.done:
		case <-ctx.Done():
			return written, ctx.Err()
		}
		if j.err != nil {
			return written, fmt.Errorf("snapshot: compress: %w", j.err)
		}
		wr.indexMember(j, written)
		var n int64
		var err error
		if j.reused != nil {
			n, err = copyRange(w, wr.reuse.f, j.reused.Offset, j.reused.Length)
			wr.reusedN++
			wr.reusedB += j.fileData
		} else {
			var m int
			m, err = w.Write(j.out.Bytes())
			n = int64(m)
		}
		written += n
		if err != nil {
			return written, fmt.Errorf("snapshot: write archive: %w", err)
		}
		done += j.fileData
		if j.file != "" {
			file = j.file
		}
		if done-reported >= progressEvery {
			report()
		}
		wr.free <- j
	}
	report()
	return written, nil
}

// indexMember records member j, about to be written at off, in the
// archive's MemberIndex.
func (wr *writer) indexMember(j *wjob, off int64) {
	ix := &wr.index
	switch j.part {
	case partSums:
		if ix.SumsOffset == 0 {
			ix.SumsOffset = off
		}
		return
	case partHead:
		return
	}
	if j.reused != nil {
		f := *j.reused
		f.Offset = off
		ix.Files = append(ix.Files, f)
		return
	}
	if n := len(ix.Files); n == 0 || ix.Files[n-1].Name != j.file {
		src := wr.files[j.fileIdx]
		ix.Files = append(ix.Files, IndexedFile{Name: src.Name, Size: src.Size, MTimeNanos: src.mtime.UnixNano(), Offset: off})
	}
	f := &ix.Files[len(ix.Files)-1]
	b := j.out.Bytes()
	f.Length += int64(len(b))
	f.Members++
	f.CRC32C = crc32.Update(f.CRC32C, castagnoli, b)
}
