package fs

import (
	"os"
	"sync"
)

// staging is the file in DATA/tmp that writes to documents.ndjson and
// delete-documents land in until the close hands it to a task. It accepts
// random writes, truncation and reads like any file. (Writes to import/NAME
// do not stage: they stream to their import, importstream.go.)
type staging struct {
	path string
	f    *os.File

	mu      sync.Mutex
	removed bool
}

func newStaging(dir, pattern string) (*staging, error) {
	f, err := os.CreateTemp(dir, pattern)
	if err != nil {
		return nil, err
	}
	return &staging{path: f.Name(), f: f}, nil
}

// WriteAt writes p at off.
func (s *staging) WriteAt(p []byte, off int64) (int, error) {
	if s.isRemoved() {
		return 0, os.ErrClosed
	}
	return s.f.WriteAt(p, off)
}

// Truncate sets the size.
func (s *staging) Truncate(size int64) error {
	if s.isRemoved() {
		return os.ErrClosed
	}
	return s.f.Truncate(size)
}

// ReadAt reads the staged bytes, for a tool that reads back what it wrote.
func (s *staging) ReadAt(p []byte, off int64) (int, error) { return s.f.ReadAt(p, off) }

func (s *staging) isRemoved() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.removed
}

// remove closes and deletes the file.
func (s *staging) remove() {
	s.mu.Lock()
	if s.removed {
		s.mu.Unlock()
		return
	}
	s.removed = true
	s.mu.Unlock()
	s.f.Close()
	os.Remove(s.path)
}
