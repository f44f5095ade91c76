package index

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestCreateGetList(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openStore(t, "")
	for _, tc := range []struct {
		uid string
		err error
	}{
		{"movies", nil},
		{"b", nil},
		{strings.Repeat("u", 400), nil},
		{strings.Repeat("u", 401), ErrInvalidUID},
		{"", ErrInvalidUID},
		{"bad name", ErrInvalidUID},
		{"movies", ErrExists},
	} {
		info, err := s.Create(ctx, tc.uid, "")
		if tc.err != nil {
			if !errors.Is(err, tc.err) {
				t.Errorf("Create(%q) = %v, want %v", clip(tc.uid), err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("Create(%q): %v", clip(tc.uid), err)
		}
		if info.UID != tc.uid || !validID(info.ID) || info.Version != 1 || info.CreatedAt.IsZero() || info.SizeOnDisk == 0 {
			t.Errorf("Create(%q) = %+v", clip(tc.uid), info)
		}
		if !s.Exists(tc.uid) {
			t.Errorf("Exists(%q) = false", clip(tc.uid))
		}
	}
	list, err := s.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var uids []string
	for _, i := range list {
		uids = append(uids, i.UID)
	}
	if !slices.Equal(uids, []string{"b", "movies", strings.Repeat("u", 400)}) {
		t.Errorf("List = %v", uids)
	}
	if _, err := s.Get(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get(nope) = %v", err)
	}
	if _, err := s.Get(ctx, "bad name"); !errors.Is(err, ErrInvalidUID) {
		t.Errorf("Get(bad name) = %v", err)
	}
	if s.Exists("nope") {
		t.Error("Exists(nope)")
	}
	// Nothing is left in tmp/ by Create.
	if names := dirNames(t, s.TmpDir()); len(names) != 0 {
		t.Errorf("tmp holds %v", names)
	}
}

func TestDelete(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openStore(t, "")
	info := mustCreate(t, s, "a", "")
	add(t, s, "a", genNDJSON(1, 100, 100))
	mustCreate(t, s, "b", "")
	if err := s.Delete(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if s.Exists("a") {
		t.Error("still exists")
	}
	if _, err := os.Stat(s.indexDir(info.ID)); !os.IsNotExist(err) {
		t.Errorf("directory remains: %v", err)
	}
	if err := s.Delete(ctx, "a"); !errors.Is(err, ErrNotFound) {
		t.Errorf("second Delete = %v", err)
	}
	if _, err := s.Export(ctx, "a", io.Discard); !errors.Is(err, ErrNotFound) {
		t.Errorf("Export after Delete = %v", err)
	}
	// The name is free again, for a new, empty index.
	if info2 := mustCreate(t, s, "a", ""); info2.ID == info.ID || info2.Documents != 0 {
		t.Errorf("re-created: %+v", info2)
	}
	if names := dirNames(t, s.TmpDir()); len(names) != 0 {
		t.Errorf("tmp holds %v", names)
	}
}

// TestDeleteCrash stops Delete after the map entry is gone (as a crash
// would) and checks that the next Open shows no trace of the index.
func TestDeleteCrash(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "data")
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	info := mustCreate(t, s, "a", "")
	add(t, s, "a", genNDJSON(1, 10, 100))
	mustCreate(t, s, "b", "")
	crash := errors.New("crash")
	s.hooks.afterMapDelete = func() error { return crash }
	if err := s.Delete(ctx, "a"); !errors.Is(err, crash) {
		t.Fatal(err)
	}
	if s.Exists("a") {
		t.Error("the name survives its map entry")
	}
	if _, err := os.Stat(s.indexDir(info.ID)); err != nil {
		t.Fatalf("the hook should leave the directory: %v", err)
	}
	s.Close()

	s = openStore(t, dir)
	if s.Exists("a") {
		t.Error("index came back")
	}
	if _, err := os.Stat(s.indexDir(info.ID)); !os.IsNotExist(err) {
		t.Errorf("half-deleted directory remains after reopen: %v", err)
	}
	if list, _ := s.List(ctx); len(list) != 1 || list[0].UID != "b" {
		t.Errorf("List = %+v", list)
	}
}

// blockingWriter blocks the first Write until released.
type blockingWriter struct {
	started, release chan struct{}
	once             sync.Once
	buf              bytes.Buffer
}

func (w *blockingWriter) Write(p []byte) (int, error) {
	w.once.Do(func() { close(w.started); <-w.release })
	return w.buf.Write(p)
}

func TestDeleteWaitsForExport(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openStore(t, "")
	mustCreate(t, s, "a", "")
	add(t, s, "a", genNDJSON(1, 2000, 500)) // more than the export buffer
	w := &blockingWriter{started: make(chan struct{}), release: make(chan struct{})}
	exported := make(chan error, 1)
	go func() {
		n, err := s.Export(ctx, "a", w)
		if err == nil && n != 2000 {
			err = errors.New("short export")
		}
		exported <- err
	}()
	<-w.started
	deleted := make(chan error, 1)
	go func() { deleted <- s.Delete(ctx, "a") }()
	select {
	case err := <-deleted:
		t.Fatalf("Delete returned during an export: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	if s.Exists("a") {
		t.Error("the name is still visible while Delete waits")
	}
	close(w.release)
	if err := <-exported; err != nil {
		t.Fatalf("export under Delete: %v", err)
	}
	if err := <-deleted; err != nil {
		t.Fatal(err)
	}
}

func TestCloseWaitsForCalls(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, err := Open(filepath.Join(t.TempDir(), "data"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	mustCreate(t, s, "a", "")
	add(t, s, "a", genNDJSON(1, 2000, 500))
	w := &blockingWriter{started: make(chan struct{}), release: make(chan struct{})}
	exported := make(chan error, 1)
	go func() { _, err := s.Export(ctx, "a", w); exported <- err }()
	<-w.started
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	time.Sleep(50 * time.Millisecond)
	if _, err := s.Get(ctx, "a"); !errors.Is(err, ErrClosed) {
		t.Errorf("Get while closing = %v", err)
	}
	close(w.release)
	if err := <-exported; err != nil {
		t.Fatal(err)
	}
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
}

// TestMapChangeWrites checks that the Writes given to a change of the index
// map are committed exactly when the change is: with a create, import or
// delete that happens, and not with one that is refused.
func TestMapChangeWrites(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openStore(t, t.TempDir())
	m := s.Meta("rec")
	with := func(k string) Writes { return m.Writes(map[string][]byte{k: []byte("done")}) }
	has := func(k string) bool {
		t.Helper()
		_, ok, err := m.Get([]byte(k))
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if _, err := s.Create(ctx, "a", "id", with("create a")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create(ctx, "a", "id", with("create a again")); !errors.Is(err, ErrExists) {
		t.Fatalf("second create: %v", err)
	}
	ck := filepath.Join(s.TmpDir(), "ck")
	if _, err := s.Checkpoint(ctx, "a", ck); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Adopt(ctx, "a", ck, with("adopt onto a")); !errors.Is(err, ErrExists) {
		t.Fatalf("adopt onto a: %v", err)
	}
	if _, err := s.Adopt(ctx, "b", ck, with("adopt b")); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, "a", with("delete a")); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, "a", with("delete a again")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
	for k, want := range map[string]bool{
		"create a": true, "create a again": false, "adopt onto a": false,
		"adopt b": true, "delete a": true, "delete a again": false,
	} {
		if has(k) != want {
			t.Errorf("record %q written: %v, want %v", k, !want, want)
		}
	}
	if err := s.Delete(ctx, "b", s.Meta("index").Writes(map[string][]byte{"x": nil})); err == nil || !s.Exists("b") {
		t.Errorf("delete with writes to a reserved namespace: %v, exists %v", err, s.Exists("b"))
	}
}

// TestLastWrite checks that a tagged document write is recorded with its
// result, and an untagged one leaves the record as it was.
func TestLastWrite(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openStore(t, t.TempDir())
	mustCreate(t, s, "a", "id")
	if tag, _, err := s.LastWrite(ctx, "a"); err != nil || tag != "" {
		t.Fatalf("new index: tag %q, %v", tag, err)
	}
	res, err := s.AddDocuments(ctx, "a", strings.NewReader(genNDJSON(1, 10, 50)), WriteOptions{Tag: "t1"})
	if err != nil {
		t.Fatal(err)
	}
	if tag, got, err := s.LastWrite(ctx, "a"); err != nil || tag != "t1" || got != res {
		t.Errorf("after add: %q %+v %v, want t1 %+v", tag, got, err, res)
	}
	n, err := s.DeleteDocuments(ctx, "a", []string{"1", "2", "99"}, DeleteOptions{Tag: "t2"})
	if err != nil || n != 2 {
		t.Fatalf("delete: %d, %v", n, err)
	}
	if tag, got, err := s.LastWrite(ctx, "a"); err != nil || tag != "t2" || got.Deleted != 2 || got.Version != res.Version+1 {
		t.Errorf("after delete: %q %+v %v", tag, got, err)
	}
	add(t, s, "a", genNDJSON(20, 1, 50))
	if tag, _, _ := s.LastWrite(ctx, "a"); tag != "t2" {
		t.Errorf("an untagged write changed the tag to %q", tag)
	}
}
