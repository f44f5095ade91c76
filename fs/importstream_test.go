package fs

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

func (s *importStream) isRemoved() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.removed
}

// newTestStream is an import stream in a directory of its own, holding at
// most memory bytes in memory and letting in-order writes run window bytes
// ahead of its reader.
func newTestStream(t *testing.T, window, memory int64) (*importStream, string) {
	t.Helper()
	dir := t.TempDir()
	s := newImportStream(dir)
	s.window, s.memory = window, memory
	t.Cleanup(s.remove)
	return s, dir
}

func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/251)
	}
	return b
}

// readAll reads r in the background.
func readAll(r io.Reader) <-chan []byte {
	got := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(r)
		got <- b
	}()
	return got
}

// TestStreamInOrder: the reader gets the bytes as they arrive and EOF only
// once the writer is done; nothing touches the disk.
func TestStreamInOrder(t *testing.T) {
	t.Parallel()
	s, dir := newTestStream(t, 1<<10, 4<<10)
	got := readAll(s.reader(nil))
	want := pattern(100 << 10)
	for off := 0; off < len(want); off += 1000 {
		if _, err := s.WriteAt(context.Background(), want[off:min(off+1000, len(want))], int64(off)); err != nil {
			t.Fatal(err)
		}
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("in-order writes made %d files", len(ents))
	}
	s.finish()
	if b := <-got; !bytes.Equal(b, want) {
		t.Fatalf("streamed %d bytes, want %d identical", len(b), len(want))
	}
}

// TestStreamBackPressure: an in-order write waits while the reader has the
// window's worth to read, and returns once it reads; the wait ends with
// EINTR if the writer is interrupted, and at once if the import has ended.
func TestStreamBackPressure(t *testing.T) {
	t.Parallel()
	s, _ := newTestStream(t, 1<<10, 1<<20)
	r := s.reader(nil)
	ctx := context.Background()
	if _, err := s.WriteAt(ctx, pattern(1<<10), 0); err != nil {
		t.Fatal(err)
	}
	wrote := make(chan error, 1)
	go func() {
		_, err := s.WriteAt(ctx, pattern(10), 1<<10)
		wrote <- err
	}()
	select {
	case err := <-wrote:
		t.Fatalf("a write past the window returned (%v) before the reader read", err)
	case <-time.After(50 * time.Millisecond):
	}
	if _, err := io.ReadFull(r, make([]byte, 512)); err != nil {
		t.Fatal(err)
	}
	if err := <-wrote; err != nil {
		t.Fatal(err)
	}
	// Still more than the window ahead: interrupted.
	s.WriteAt(ctx, pattern(1<<10), 1<<10+10)
	cctx, cancel := context.WithCancel(ctx)
	go func() { time.Sleep(10 * time.Millisecond); cancel() }()
	if _, err := s.WriteAt(cctx, pattern(1), 2<<10+10); !errors.Is(err, syscall.EINTR) {
		t.Errorf("interrupted wait: %v, want EINTR", err)
	}
	// The import has ended: writes are held without waiting.
	r.Abort(errors.New("ended"))
	if _, err := s.WriteAt(ctx, pattern(1), 2<<10+10); err != nil {
		t.Error(err)
	}
}

// TestStreamEndedImport: a writer waiting for an import that has finished
// (alive says no) stops waiting.
func TestStreamEndedImport(t *testing.T) {
	t.Parallel()
	s, _ := newTestStream(t, 1<<10, 1<<20)
	var mu sync.Mutex
	alive := true
	s.reader(func() bool { mu.Lock(); defer mu.Unlock(); return alive })
	s.WriteAt(context.Background(), pattern(1<<10), 0)
	wrote := make(chan error, 1)
	go func() {
		_, err := s.WriteAt(context.Background(), pattern(1), 1<<10)
		wrote <- err
	}()
	mu.Lock()
	alive = false
	mu.Unlock()
	select {
	case err := <-wrote:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("a write still waits for an import that has ended")
	}
}

// TestStreamShuffled: 1 KiB blocks written in shuffled order, and four
// concurrent writers of one quarter each, reach the reader in order; what
// memory cannot hold is parked in a file that is gone after remove.
func TestStreamShuffled(t *testing.T) {
	t.Parallel()
	want := pattern(256 << 10)
	for _, tc := range []struct {
		name    string
		writers int
	}{{"shuffled", 1}, {"quarters", 4}} {
		t.Run(tc.name, func(t *testing.T) {
			s, dir := newTestStream(t, 4<<10, 16<<10)
			got := readAll(s.reader(nil))
			var wg sync.WaitGroup
			part := len(want) / tc.writers
			for w := range tc.writers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					blocks := rand.Perm(part / 1024)
					if tc.writers > 1 {
						for i := range blocks {
							blocks[i] = i // each writer in order, all at once
						}
					}
					for _, b := range blocks {
						off := w*part + b*1024
						if _, err := s.WriteAt(context.Background(), want[off:off+1024], int64(off)); err != nil {
							t.Error(err)
						}
					}
				}()
			}
			wg.Wait()
			s.mu.Lock()
			mem := s.mem
			s.mu.Unlock()
			if mem > 16<<10 {
				t.Errorf("%d bytes held in memory, want at most 16 KiB", mem)
			}
			s.finish()
			if b := <-got; !bytes.Equal(b, want) {
				t.Fatalf("streamed %d bytes, want %d identical", len(b), len(want))
			}
			s.remove()
			if ents, _ := os.ReadDir(dir); len(ents) != 0 {
				t.Errorf("%d files left after remove", len(ents))
			}
		})
	}
}

// TestStreamParkedFile: bytes parked beyond the memory bound land in a
// sparse file in the directory, at their offsets, which remove deletes.
func TestStreamParkedFile(t *testing.T) {
	t.Parallel()
	s, dir := newTestStream(t, 1<<10, 1<<10)
	ctx := context.Background()
	s.WriteAt(ctx, pattern(1<<10), 4<<10)
	s.WriteAt(ctx, pattern(1<<10), 8<<10)
	parked, _ := filepath.Glob(filepath.Join(dir, "import-*.parked"))
	if len(parked) != 1 {
		t.Fatalf("parking files: %v, want one", parked)
	}
	s.remove()
	if _, err := os.Stat(parked[0]); !os.IsNotExist(err) {
		t.Errorf("parking file after remove: %v", err)
	}
}

// TestStreamRewrite: a write or truncation into bytes the reader read
// fails with errConsumed, and so does reading them back; bytes not yet read
// may be written again; truncating to nothing starts the reader over.
func TestStreamRewrite(t *testing.T) {
	t.Parallel()
	s, _ := newTestStream(t, 1<<20, 1<<20)
	ctx := context.Background()
	s.WriteAt(ctx, []byte("hello world"), 0)
	r := s.reader(nil)
	buf := make([]byte, 5)
	if _, err := io.ReadFull(r, buf); err != nil {
		t.Fatal(err)
	}
	if _, err := s.WriteAt(ctx, []byte("J"), 0); !errors.Is(err, errConsumed) {
		t.Errorf("rewrite of read bytes: %v, want errConsumed", err)
	}
	if err := s.Truncate(3); !errors.Is(err, errConsumed) {
		t.Errorf("truncation into read bytes: %v, want errConsumed", err)
	}
	if _, err := s.ReadAt(buf, 0); !errors.Is(err, errConsumed) {
		t.Errorf("read back of read bytes: %v, want errConsumed", err)
	}
	if _, err := s.WriteAt(ctx, []byte("W"), 6); err != nil {
		t.Errorf("rewrite of bytes not yet read: %v", err)
	}
	if n, err := s.ReadAt(buf, 5); err != nil || string(buf[:n]) != " Worl" {
		t.Errorf("read back = %q, %v", buf[:n], err)
	}
	if r.Rewritten() {
		t.Error("Rewritten before any truncation to nothing")
	}
	if err := s.Truncate(0); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Read(buf); !errors.Is(err, errRestarted) || !r.Rewritten() {
		t.Fatalf("read after truncation to nothing: %v (Rewritten %v)", err, r.Rewritten())
	}
	again := r.Reopen()
	s.WriteAt(ctx, []byte("new"), 0)
	s.finish()
	if b, err := io.ReadAll(again); err != nil || string(b) != "new" {
		t.Errorf("reopened reader: %q, %v", b, err)
	}
}

// TestStreamHoleAndTruncate: bytes after a hole wait for the hole until
// the writer is done, then the hole reads as zeros; a truncation drops the
// held bytes beyond it.
func TestStreamHoleAndTruncate(t *testing.T) {
	t.Parallel()
	s, _ := newTestStream(t, 1<<20, 1<<20)
	ctx := context.Background()
	s.WriteAt(ctx, []byte("abc"), 0)
	s.WriteAt(ctx, []byte("xyz"), 10) // a hole at 3..10
	s.WriteAt(ctx, []byte("cut"), 20)
	if err := s.Truncate(13); err != nil {
		t.Fatal(err)
	}
	r := s.reader(nil)
	buf := make([]byte, 100)
	n, err := r.Read(buf)
	if err != nil || string(buf[:n]) != "abc" {
		t.Fatalf("read = %q, %v; want only the contiguous abc", buf[:n], err)
	}
	s.finish()
	rest, _ := io.ReadAll(r)
	if want := append(make([]byte, 7), "xyz"...); !bytes.Equal(rest, want) {
		t.Errorf("after finish = %q, want zeros then xyz", rest)
	}
}

// TestStreamAbort: Abort ends a reader blocked for data; remove ends all.
func TestStreamAbort(t *testing.T) {
	t.Parallel()
	s, _ := newTestStream(t, 1<<20, 1<<20)
	r := s.reader(nil)
	done := make(chan error)
	go func() {
		_, err := r.Read(make([]byte, 10))
		done <- err
	}()
	stop := errors.New("stop")
	r.Abort(stop)
	if err := <-done; !errors.Is(err, stop) {
		t.Fatalf("aborted read: %v", err)
	}
	s.remove()
	if _, err := s.reader(nil).Read(make([]byte, 1)); err == nil {
		t.Error("read after remove succeeded")
	}
	if _, err := s.WriteAt(context.Background(), []byte("x"), 0); err == nil {
		t.Error("write after remove succeeded")
	}
}
