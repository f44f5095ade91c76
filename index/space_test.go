package index

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/idxfs/idxfs/integration/bintest"
)

// TestApplyRollsBackOnFailure fails pass 2 of a write after some batches
// were committed (the disk filling up from elsewhere): the write fails with
// ENOSPC and the index is exactly as before — documents, counter, version
// and primary key — for an addition and a replace, also when the failing
// write set the primary key.
func TestApplyRollsBackOnFailure(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	initial := genNDJSON(1, 300, 500)
	payload := genNDJSON(200, 400, 600) + genNDJSON(250, 10, 700) // overlaps and duplicates
	for _, tt := range []struct {
		name    string
		replace bool
		initial string // "" : an empty index without a primary key
	}{
		{"add", false, initial},
		{"replace", true, initial},
		{"add to an empty index", false, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := openStore(t, "")
			s.batchSize = 32 << 10
			mustCreate(t, s, "i", "")
			if tt.initial != "" {
				add(t, s, "i", tt.initial)
			}
			before, beforeDocs := mustGet(t, s, "i"), export(t, s, "i")
			commits := 0
			s.hooks.beforeCommit = func(n int) error {
				commits = n
				if n == 3 {
					return fmt.Errorf("injected: %w", syscall.ENOSPC)
				}
				return nil
			}
			write := s.AddDocuments
			if tt.replace {
				write = s.ReplaceDocuments
			}
			_, err := write(ctx, "i", strings.NewReader(payload), WriteOptions{})
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("err = %v, want ENOSPC", err)
			}
			if commits != 3 {
				t.Fatalf("the write stopped at commit %d, not at the third", commits)
			}
			unchanged(t, s, "i", before, beforeDocs)
			// And the index takes the write once the disk has room.
			s.hooks.beforeCommit = nil
			if _, err := write(ctx, "i", strings.NewReader(payload), WriteOptions{}); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// unchanged checks that index uid is as before (but its size on disk) and
// holds exactly the documents docs.
func unchanged(t *testing.T, s *Store, uid string, before Info, docs string) {
	t.Helper()
	after := mustGet(t, s, uid)
	before.SizeOnDisk, after.SizeOnDisk = 0, 0
	if after != before {
		t.Errorf("index after the failed write:\n%+v\nbefore:\n%+v", after, before)
	}
	if got := export(t, s, uid); got != docs {
		t.Errorf("documents changed by a failed write: %d lines, before %d", strings.Count(got, "\n"), strings.Count(docs, "\n"))
	}
}

// TestFatalErrorFailsTheDatabaseNotTheProcess: pebble's Fatalf (a failed WAL
// or MANIFEST write) becomes an error of the call and marks the database
// failed; it refuses writes from then on, and reads go on.
func TestFatalErrorFailsTheDatabaseNotTheProcess(t *testing.T) {
	t.Parallel()
	s := openStore(t, "")
	mustCreate(t, s, "i", "id")
	add(t, s, "i", genNDJSON(1, 3, 100))
	h, err := s.acquire("i")
	if err != nil {
		t.Fatal(err)
	}
	defer s.releaseHandle(h)
	err = func() (err error) {
		defer catchFatal(&err, h.dbFailed)
		pebbleLogger{l: slog.New(slog.DiscardHandler)}.Fatalf("pebble: fatal commit error: %v", fmt.Errorf("write 000004.log: %w", syscall.ENOSPC))
		return nil
	}()
	if !errors.Is(err, ErrFailed) || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("err = %v, want ErrFailed and ENOSPC", err)
	}
	if _, err := s.AddDocuments(context.Background(), "i", strings.NewReader(genDoc(9, 50)), WriteOptions{}); !errors.Is(err, ErrFailed) {
		t.Errorf("a write after the fatal error: %v, want ErrFailed", err)
	}
	if got := strings.Count(export(t, s, "i"), "\n"); got != 3 {
		t.Errorf("export after the fatal error: %d documents, want 3", got)
	}
}

// TestReadOnlyOpenWritesNothing: a read-only store (what the CLI's reading
// commands open) changes no file of the data dir, also with tasks' records
// in the meta database's WAL and files in tmp/.
func TestReadOnlyOpenWritesNothing(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	s := openStore(t, dir)
	mustCreate(t, s, "i", "id")
	add(t, s, "i", genNDJSON(1, 10, 100))
	if err := s.Meta("tasks").Set([]byte("k"), []byte("v")); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, tmpDir, "left"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	before := treeState(t, dir)
	r, err := Open(dir, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(export(t, r, "i"), "\n"); got != 10 {
		t.Errorf("read-only export: %d documents", got)
	}
	if v, ok, err := r.Meta("tasks").Get([]byte("k")); err != nil || !ok || string(v) != "v" {
		t.Errorf("read-only meta get: %q %v %v", v, ok, err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if after := treeState(t, dir); after != before {
		t.Errorf("a read-only open changed the data dir:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

// treeState lists every file under dir with its size and mtime, but the
// LOCK files (the data dir's and pebble's, which a reader locks too).
func treeState(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if fi.Name() == lockFile {
			return nil
		}
		fmt.Fprintf(&b, "%s %d %d\n", strings.TrimPrefix(p, dir), fi.Size(), fi.ModTime().UnixNano())
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestRealDiskFullDuringApply fills a real small filesystem in the middle of
// pass 2, so that pebble's own write meets ENOSPC (issue 7, item 1: the
// process died in pebble's rotateWAL): the ballast is released and the
// write retried in its room, the write fails with ENOSPC and is rolled back,
// the store keeps working, and once there is room again it takes the same
// write and makes its ballast again.
func TestRealDiskFullDuringApply(t *testing.T) {
	dir := filepath.Join(bintest.SmallFS(t, 48<<20), "data")
	s := openStore(t, dir)
	s.batchSize = 256 << 10
	mustCreate(t, s, "i", "")
	add(t, s, "i", genNDJSON(1, 500, 1000))
	before, beforeDocs := mustGet(t, s, "i"), export(t, s, "i")
	ballast := filepath.Join(dir, ballastFile)
	if _, err := os.Stat(ballast); err != nil {
		t.Fatalf("no ballast: %v", err)
	}

	var release func()
	s.hooks.beforeCommit = func(n int) error {
		if n == 3 {
			release = bintest.Fill(t, filepath.Dir(dir), 0)
		}
		return nil
	}
	payload := genNDJSON(400, 4000, 1000) // 4 MB: 16 batches
	_, err := s.AddDocuments(context.Background(), "i", strings.NewReader(payload), WriteOptions{})
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("err = %v, want ENOSPC", err)
	}
	if release == nil {
		t.Fatal("the write ended before the disk was filled")
	}
	if _, err := os.Stat(ballast); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the ballast is still there after pebble met a full disk: %v", err)
	}
	unchanged(t, s, "i", before, beforeDocs)
	// Still full: refused before pebble writes anything.
	s.hooks.beforeCommit = nil
	if _, err := s.AddDocuments(context.Background(), "i", strings.NewReader(payload), WriteOptions{}); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("a write while the disk is full: %v, want ENOSPC", err)
	}

	release()
	if _, err := s.AddDocuments(context.Background(), "i", strings.NewReader(payload), WriteOptions{}); err != nil {
		t.Fatalf("the write once there is room: %v", err)
	}
	if got := mustGet(t, s, "i").Documents; got != 4399 {
		t.Errorf("%d documents, want 4399", got)
	}
	if _, err := os.Stat(ballast); err != nil {
		t.Errorf("the ballast was not made again: %v", err)
	}
}

// TestBackgroundErrorsAreRateLimited: pebble retries a failed flush at
// once and forever; on a full disk the store slows the retries, logs once
// (not millions of lines, issue 7 item 2), tells OnBackgroundError and
// refuses large writes.
func TestBackgroundErrorsAreRateLimited(t *testing.T) {
	t.Parallel()
	var logs strings.Builder
	var called int
	sp := newSpace(t.TempDir(), slog.New(slog.NewTextHandler(&logs, nil)), false)
	sp.onError = func(error) { called++ }
	start := time.Now()
	for range 4 {
		sp.backgroundError(fmt.Errorf("flush: write 000012.sst: %w", syscall.ENOSPC))
	}
	if took := time.Since(start); took < 4*backgroundBackoff {
		t.Errorf("4 background ENOSPC took %v: not slowed down", took)
	}
	if n := strings.Count(logs.String(), "\n"); n != 1 {
		t.Errorf("%d log lines for 4 background errors, want 1:\n%s", n, logs.String())
	}
	if called != 4 {
		t.Errorf("OnBackgroundError called %d times, want 4", called)
	}
	if !sp.isFull() {
		t.Error("the store is not full after a background ENOSPC")
	}
}

// TestFatalErrorInBackground: a Fatalf from pebble's background goroutines
// (a MANIFEST write of a flush) must not panic, where nothing recovers and
// the process would end; it fails the database.
func TestFatalErrorInBackground(t *testing.T) {
	t.Parallel()
	h := newHandle("i", "", "", time.Time{})
	l := pebbleLogger{l: slog.New(slog.DiscardHandler), failed: h.dbFailed}
	done := make(chan any)
	go func() {
		defer func() { done <- recover() }()
		l.Fatalf("MANIFEST flush failed: %v", syscall.ENOSPC)
	}()
	if r := <-done; r != nil {
		t.Fatalf("Fatalf panicked in a background goroutine: %v", r)
	}
	if err := h.dbErr(); !errors.Is(err, ErrFailed) || !errors.Is(err, syscall.ENOSPC) {
		t.Errorf("the database's error: %v, want ErrFailed and ENOSPC", err)
	}
}
