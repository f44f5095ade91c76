package index

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// waitFor polls cond until it holds, for at most 10 s.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 10 s")
		}
		time.Sleep(time.Millisecond)
	}
}

// docs returns the exported documents of uid.
func docs(t *testing.T, s *Store, uid string) string {
	t.Helper()
	var b bytes.Buffer
	if _, err := s.Export(context.Background(), uid, &b); err != nil {
		t.Fatalf("export %q: %v", uid, err)
	}
	return b.String()
}

// withDocs creates index uid holding n documents of size bytes from id
// first.
func withDocs(t *testing.T, s *Store, uid string, first, n, size int) Info {
	t.Helper()
	info := mustCreate(t, s, uid, "")
	add(t, s, uid, genNDJSON(first, n, size))
	return info
}

func TestRename(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "data")
	s := openStore(t, dir)
	a := withDocs(t, s, "a", 1, 10, 50)
	mustCreate(t, s, "c", "")
	want := docs(t, s, "a")
	for _, tc := range []struct {
		from, to string
		err      error
	}{
		{"nope", "x", ErrNotFound},
		{"a", "c", ErrExists},
		{"a", "bad name", ErrInvalidUID},
		{"bad name", "x", ErrInvalidUID},
	} {
		if err := s.Rename(ctx, tc.from, tc.to); !errors.Is(err, tc.err) {
			t.Errorf("Rename(%q, %q) = %v, want %v", tc.from, tc.to, err, tc.err)
		}
	}
	if err := s.Rename(ctx, "a", "a"); err != nil {
		t.Errorf("rename to itself: %v", err)
	}
	if err := s.Rename(ctx, "a", "b"); err != nil {
		t.Fatal(err)
	}
	if s.Exists("a") || !s.Exists("b") {
		t.Fatalf("after rename: a %v, b %v", s.Exists("a"), s.Exists("b"))
	}
	info, err := s.Get(ctx, "b")
	if err != nil || info.UID != "b" || info.ID != a.ID || info.Documents != 10 {
		t.Errorf("b = %+v, %v; want the database of a (%s) with 10 documents", info, err, a.ID)
	}
	if got := docs(t, s, "b"); got != want {
		t.Error("b's documents are not a's")
	}
	add(t, s, "b", genNDJSON(100, 1, 50)) // writable under its new name
	if name, ok := s.NameOf(a.Lineage); !ok || name != "b" || info.Lineage != a.Lineage {
		t.Errorf("NameOf(a's lineage) = %q, %v; b's lineage %q, want a's %q", name, ok, info.Lineage, a.Lineage)
	}
	s.Close()

	s = openStore(t, dir)
	if s.Exists("a") || !s.Exists("b") || !s.Exists("c") {
		t.Fatalf("after reopen: a %v, b %v, c %v", s.Exists("a"), s.Exists("b"), s.Exists("c"))
	}
	if info, _ := s.Get(ctx, "b"); info.Documents != 11 || info.ID != a.ID {
		t.Errorf("b after reopen = %+v", info)
	}
}

func TestSwap(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "data")
	s := openStore(t, dir)
	a := withDocs(t, s, "a", 1, 10, 50)
	b := withDocs(t, s, "b", 1, 3, 50)
	wantA, wantB := docs(t, s, "a"), docs(t, s, "b")
	if err := s.Swap(ctx, "a", "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("swap with a missing index: %v", err)
	}
	if err := s.Swap(ctx, "a", "a"); err != nil {
		t.Errorf("swap with itself: %v", err)
	}
	if err := s.Swap(ctx, "a", "b"); err != nil {
		t.Fatal(err)
	}
	check := func() {
		t.Helper()
		ia, _ := s.Get(ctx, "a")
		ib, _ := s.Get(ctx, "b")
		if ia.ID != b.ID || ia.UID != "a" || ib.ID != a.ID || ib.UID != "b" {
			t.Errorf("after swap: a = %+v, b = %+v", ia, ib)
		}
		if docs(t, s, "a") != wantB || docs(t, s, "b") != wantA {
			t.Error("the documents did not swap")
		}
	}
	check()
	s.Close()
	s = openStore(t, dir)
	check()
}

// TestSwapKeepsReader: an export that has the index open across a swap
// reads the database it started with, whole; the next export of the name
// reads the other one.
func TestSwapKeepsReader(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openStore(t, "")
	withDocs(t, s, "a", 1, 2000, 500) // more than the export buffer
	withDocs(t, s, "b", 1, 5, 50)
	wantA, wantB := docs(t, s, "a"), docs(t, s, "b")
	w := &blockingWriter{started: make(chan struct{}), release: make(chan struct{})}
	exported := make(chan error, 1)
	go func() { _, err := s.Export(ctx, "a", w); exported <- err }()
	<-w.started
	// The swap does not wait for the reader.
	if err := s.Swap(ctx, "a", "b"); err != nil {
		t.Fatal(err)
	}
	if got := docs(t, s, "a"); got != wantB {
		t.Error("a new export of a after the swap does not read b's database")
	}
	add(t, s, "b", genNDJSON(5000, 1, 50)) // a write to the database being read
	close(w.release)
	if err := <-exported; err != nil {
		t.Fatal(err)
	}
	if w.buf.String() != wantA {
		t.Errorf("the export across the swap read %d bytes, want a's %d as they were", w.buf.Len(), len(wantA))
	}
}

// TestRemapCrash: a crash before the map write leaves the old mapping; the
// write is the whole change, so after it the new mapping is there.
func TestRemapCrash(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "data")
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	a := mustCreate(t, s, "a", "")
	b := mustCreate(t, s, "b", "")
	crash := errors.New("crash")
	s.hooks.beforeMapCommit = func() error { return crash }
	if err := s.Swap(ctx, "a", "b"); !errors.Is(err, crash) {
		t.Fatal(err)
	}
	if err := s.Rename(ctx, "a", "c"); !errors.Is(err, crash) {
		t.Fatal(err)
	}
	s.Close()
	s = openStore(t, dir)
	ia, _ := s.Get(ctx, "a")
	ib, _ := s.Get(ctx, "b")
	if ia.ID != a.ID || ib.ID != b.ID || s.Exists("c") {
		t.Errorf("after a crash before the map write: a = %s, b = %s, c %v; want the old mapping", ia.ID, ib.ID, s.Exists("c"))
	}
}

// TestReplace: the new database takes the name in one map write, the old
// one is removed, and an export of the old one in flight finishes first.
func TestReplace(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "data")
	s := openStore(t, dir)
	old := withDocs(t, s, "a", 1, 2000, 500)
	wantOld := docs(t, s, "a")
	withDocs(t, s, "src", 1, 7, 50)
	wantNew := docs(t, s, "src")
	ck := filepath.Join(s.TmpDir(), "ck")
	if _, err := s.Checkpoint(ctx, "src", ck); err != nil {
		t.Fatal(err)
	}

	w := &blockingWriter{started: make(chan struct{}), release: make(chan struct{})}
	exported := make(chan error, 1)
	go func() { _, err := s.Export(ctx, "a", w); exported <- err }()
	<-w.started
	type result struct {
		info     Info
		replaced bool
		err      error
	}
	replaced := make(chan result, 1)
	go func() {
		info, ok, err := s.Replace(ctx, "a", ck)
		replaced <- result{info, ok, err}
	}()
	// The name switches before Replace waits for the reader.
	waitFor(t, func() bool { i, _ := s.Get(ctx, "a"); return i.ID != old.ID })
	if got := docs(t, s, "a"); got != wantNew {
		t.Error("a does not hold the new database")
	}
	close(w.release)
	if err := <-exported; err != nil || w.buf.String() != wantOld {
		t.Errorf("the export across the replace: %v, %d bytes, want %d", err, w.buf.Len(), len(wantOld))
	}
	r := <-replaced
	if r.err != nil || !r.replaced || r.info.Documents != 7 {
		t.Fatalf("Replace = %+v", r)
	}
	if r.info.Lineage != old.Lineage || r.info.ID == old.ID {
		t.Errorf("the new database's lineage %q (id %s), want the old one's %q (id %s)", r.info.Lineage, r.info.ID, old.Lineage, old.ID)
	}
	if _, err := os.Stat(s.indexDir(old.ID)); !os.IsNotExist(err) {
		t.Errorf("the old database remains: %v", err)
	}
	if names := dirNames(t, s.TmpDir()); len(names) != 0 {
		t.Errorf("tmp holds %v", names)
	}
	// Onto a name that does not exist, Replace is Adopt.
	ck2 := filepath.Join(s.TmpDir(), "ck2")
	if _, err := s.Checkpoint(ctx, "src", ck2); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := s.Replace(ctx, "fresh", ck2); err != nil || ok {
		t.Errorf("Replace of a new name: replaced %v, %v", ok, err)
	}
	s.Close()
	s = openStore(t, dir)
	if got := docs(t, s, "a"); got != wantNew {
		t.Error("after reopen a does not hold the new database")
	}
}

// TestReplaceCrash: a crash before the map write leaves the old index and
// the staged database where it was; a crash after it leaves the new index
// and an orphan old database, which the next Open removes.
func TestReplaceCrash(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, after := range []bool{false, true} {
		dir := filepath.Join(t.TempDir(), "data")
		s, err := Open(dir, Options{})
		if err != nil {
			t.Fatal(err)
		}
		old := withDocs(t, s, "a", 1, 4, 50)
		withDocs(t, s, "src", 1, 9, 50)
		ck := filepath.Join(t.TempDir(), "ck")
		if _, err := s.Checkpoint(ctx, "src", ck); err != nil {
			t.Fatal(err)
		}
		staged := filepath.Join(s.TmpDir(), "staged")
		if err := os.Rename(ck, staged); err != nil {
			t.Fatal(err)
		}
		crash := errors.New("crash")
		if after {
			s.hooks.afterMapReplace = func() error { return crash }
		} else {
			s.hooks.beforeMapCommit = func() error { return crash }
		}
		if _, _, err := s.Replace(ctx, "a", staged); !errors.Is(err, crash) {
			t.Fatal(err)
		}
		if _, err := os.Stat(staged); (err == nil) == after {
			t.Errorf("after %v: the staged database was moved: %v", after, err)
		}
		s.Close()

		s = openStore(t, dir)
		info, err := s.Get(ctx, "a")
		wantDocs, oldGone := uint64(4), false
		if after {
			wantDocs, oldGone = 9, true
		}
		if err != nil || info.Documents != wantDocs {
			t.Errorf("crash after the map write %v: a = %+v, %v; want %d documents", after, info, err, wantDocs)
		}
		if _, err := os.Stat(s.indexDir(old.ID)); os.IsNotExist(err) != oldGone {
			t.Errorf("crash after the map write %v: the old database's directory: %v", after, err)
		}
		if names := dirNames(t, filepath.Join(dir, indexesDir)); len(names) != 2 {
			t.Errorf("crash after the map write %v: indexes/ holds %v, want a's and src's", after, names)
		}
		if names := dirNames(t, s.TmpDir()); len(names) != 0 {
			t.Errorf("tmp holds %v", names)
		}
		s.Close()
	}
}

// TestRenameUnderWrite: a writer to the index goes on under the
// new name; its write lands in the renamed index.
func TestRenameUnderWrite(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openStore(t, "")
	mustCreate(t, s, "a", "")
	var once sync.Once
	res, err := s.AddDocuments(ctx, "a", strings.NewReader(genNDJSON(1, 50, 50)), WriteOptions{
		Progress: func(pass int, done, total int64) {
			if pass == 1 && done == total { // validated; about to apply
				once.Do(func() {
					if err := s.Rename(ctx, "a", "b"); err != nil {
						t.Error(err)
					}
				})
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if info, err := s.Get(ctx, "b"); err != nil || info.Documents != 50 || info.Version != res.Version {
		t.Errorf("b after a write across the rename: %+v, %v", info, err)
	}
}
