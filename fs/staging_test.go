package fs

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

func newTestStaging(t *testing.T) *staging {
	t.Helper()
	s, err := newStaging(t.TempDir(), "test-*")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.remove)
	return s
}

// TestStagingStreams: a streaming reader gets the bytes as they arrive and
// EOF only once the writer is done.
func TestStagingStreams(t *testing.T) {
	t.Parallel()
	s := newTestStaging(t)
	r := s.reader(true)
	got := make(chan []byte)
	go func() {
		b, _ := io.ReadAll(r)
		got <- b
	}()
	var want []byte
	for i := range 100 {
		p := bytes.Repeat([]byte{byte(i)}, 1000+i)
		if _, err := s.WriteAt(p, int64(len(want))); err != nil {
			t.Fatal(err)
		}
		want = append(want, p...)
	}
	s.finish()
	if b := <-got; !bytes.Equal(b, want) {
		t.Fatalf("streamed %d bytes, want %d identical", len(b), len(want))
	}
}

// TestStagingRewrite: rewriting bytes a streaming reader already read breaks
// the stream; a complete reader afterwards reads the final bytes.
func TestStagingRewrite(t *testing.T) {
	t.Parallel()
	s := newTestStaging(t)
	s.WriteAt([]byte("hello world"), 0)
	r := s.reader(true)
	buf := make([]byte, 5)
	if _, err := io.ReadFull(r, buf); err != nil {
		t.Fatal(err)
	}
	s.WriteAt([]byte("J"), 0)
	if _, err := r.Read(buf); !errors.Is(err, errRewritten) {
		t.Fatalf("read after a rewrite: %v, want errRewritten", err)
	}
	if !r.Rewritten() {
		t.Error("staging not marked broken")
	}
	s.finish()
	b, err := io.ReadAll(s.reader(false))
	if err != nil || string(b) != "Jello world" {
		t.Errorf("complete reader: %q, %v", b, err)
	}
}

// TestStagingHoleAndTruncate: bytes after a hole are not streamed until the
// writer is done; truncation below what was read breaks the stream.
func TestStagingHoleAndTruncate(t *testing.T) {
	t.Parallel()
	s := newTestStaging(t)
	s.WriteAt([]byte("abc"), 0)
	s.WriteAt([]byte("xyz"), 10) // a hole at 3..10
	r := s.reader(true)
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
	s.Truncate(1)
	if !r.Rewritten() {
		t.Error("truncating read bytes did not break the stream")
	}
}

// TestStagingAbort: Abort ends a reader blocked for data; removal ends all.
func TestStagingAbort(t *testing.T) {
	t.Parallel()
	s := newTestStaging(t)
	r := s.reader(true)
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
	// Another reader of the same file is not aborted.
	s.WriteAt([]byte("ok"), 0)
	s.finish()
	if b, err := io.ReadAll(s.reader(false)); err != nil || string(b) != "ok" {
		t.Errorf("second reader: %q, %v", b, err)
	}
	s.remove()
	if _, err := s.reader(false).Read(make([]byte, 1)); err == nil {
		t.Error("read after remove succeeded")
	}
}
