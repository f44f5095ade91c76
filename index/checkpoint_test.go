package index

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/cockroachdb/pebble/v2"
)

// TestCheckpointVersionIsExact checkpoints in a loop while writers change
// the index and checks each checkpoint holds exactly what Checkpoint said.
func TestCheckpointVersionIsExact(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openStore(t, "")
	mustCreate(t, s, "i", "")
	add(t, s, "i", genNDJSON(1, 50, 200))
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				var err error
				if i%5 == 4 {
					_, err = s.DeleteDocuments(ctx, "i", []string{fmt.Sprint(w*1000 + i - 1)})
				} else {
					_, err = s.AddDocuments(ctx, "i", strings.NewReader(genNDJSON(w*1000+i, 3, 200)), WriteOptions{})
				}
				if err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	var versions []uint64
	for n := range 15 {
		dir := filepath.Join(t.TempDir(), fmt.Sprintf("ckpt%d", n))
		cp, err := s.Checkpoint(ctx, "i", dir)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Inspect(ctx, dir, InspectOptions{Deep: true})
		if err != nil {
			t.Fatal(err)
		}
		if got.Version != cp.Version || got.Documents != cp.Documents || got.PrimaryKey != cp.PrimaryKey ||
			!got.UpdatedAt.Equal(cp.UpdatedAt) || !got.CreatedAt.Equal(cp.CreatedAt) || got.PebbleFormat != cp.PebbleFormat {
			t.Fatalf("checkpoint %d: Checkpoint said %+v, Inspect found %+v", n, cp, got)
		}
		if cp.PebbleFormat == 0 || cp.PebbleFormat > MaxPebbleFormat() || cp.UID != "i" || cp.Dir != dir || !validID(cp.ID) {
			t.Fatalf("checkpoint %d: %+v", n, cp)
		}
		versions = append(versions, cp.Version)
	}
	close(stop)
	wg.Wait()
	if versions[0] == versions[len(versions)-1] {
		t.Errorf("writers made no progress during the checkpoints: %v", versions)
	}
	if _, err := s.Checkpoint(ctx, "i", t.TempDir()); err == nil {
		t.Error("Checkpoint into an existing dir succeeded")
	}
	if _, err := s.Checkpoint(ctx, "nope", filepath.Join(t.TempDir(), "x")); !errors.Is(err, ErrNotFound) {
		t.Errorf("Checkpoint of a missing index: %v", err)
	}
}

func TestAdopt(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "data")
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { s.Close() }()
	src := mustCreate(t, s, "src", "")
	add(t, s, "src", genNDJSON(1, 500, 300))
	mustCreate(t, s, "taken", "")
	want := export(t, s, "src")
	srcInfo := mustGet(t, s, "src")

	ckpt := filepath.Join(s.TmpDir(), "import-1")
	if _, err := s.Checkpoint(ctx, "src", ckpt); err != nil {
		t.Fatal(err)
	}
	if _, err := Inspect(ctx, ckpt, InspectOptions{Deep: true}); err != nil {
		t.Fatal(err)
	}
	files := dirNames(t, ckpt)

	for _, tc := range []struct {
		uid string
		err error
	}{{"taken", ErrExists}, {"src", ErrExists}, {"bad name", ErrInvalidUID}} {
		if _, err := s.Adopt(ctx, tc.uid, ckpt); !errors.Is(err, tc.err) {
			t.Errorf("Adopt(%q) = %v, want %v", tc.uid, err, tc.err)
		}
		if got := dirNames(t, ckpt); !slices.Equal(got, files) {
			t.Fatalf("a refused Adopt touched the directory: %v -> %v", files, got)
		}
	}
	if got := export(t, s, "taken"); got != "" {
		t.Errorf("a refused Adopt changed the existing index: %q", got)
	}

	info, err := s.Adopt(ctx, "copy", ckpt)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(ckpt); !os.IsNotExist(err) {
		t.Errorf("the adopted directory is still in tmp: %v", err)
	}
	if info.ID == src.ID || info.Documents != srcInfo.Documents || info.Version != srcInfo.Version ||
		info.PrimaryKey != srcInfo.PrimaryKey || !info.CreatedAt.Equal(srcInfo.CreatedAt) || !info.UpdatedAt.Equal(srcInfo.UpdatedAt) {
		t.Errorf("adopted %+v from %+v", info, srcInfo)
	}
	if got := export(t, s, "copy"); got != want {
		t.Error("the adopted index exports differently")
	}
	// It is an index like any other, and survives a reopen.
	add(t, s, "copy", genNDJSON(1000, 1, 100))
	s.Close()
	s = openStore(t, dir)
	if got := mustGet(t, s, "copy"); got.Documents != 501 || got.Version != srcInfo.Version+1 {
		t.Errorf("after reopen: %+v", got)
	}
	if got := export(t, s, "src"); got != want {
		t.Error("the source changed")
	}
}

// corruptCopy checkpoints a small index and applies mutate to the copy with
// pebble directly.
func corruptCopy(t *testing.T, mutate func(db *pebble.DB)) string {
	t.Helper()
	s := openStore(t, "")
	mustCreate(t, s, "i", "")
	add(t, s, "i", "{\"id\":1}\n{\"id\":\"a\"}\n")
	dir := filepath.Join(t.TempDir(), "ckpt")
	if _, err := s.Checkpoint(context.Background(), "i", dir); err != nil {
		t.Fatal(err)
	}
	db, err := pebble.Open(dir, pebbleOptions(nil, slog.New(slog.DiscardHandler), false))
	if err != nil {
		t.Fatal(err)
	}
	mutate(db)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestInspectFindsCorruption(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	set := func(k, v string) func(db *pebble.DB) {
		return func(db *pebble.DB) { db.Set([]byte(k), []byte(v), pebble.Sync) }
	}
	del := func(k string) func(db *pebble.DB) {
		return func(db *pebble.DB) { db.Delete([]byte(k), pebble.Sync) }
	}
	for _, tc := range []struct {
		name   string
		mutate func(db *pebble.DB)
		ok     bool
	}{
		{"intact", func(*pebble.DB) {}, true},
		{"counter too high", set("m/count", "\x00\x00\x00\x00\x00\x00\x00\x03"), false},
		{"document without counter", set(string(documentKey("b")), `{"id":"b"}`), false},
		{"unknown key", set("x/what", "1"), false},
		{"unknown meta key", set("m/other", "1"), false},
		{"bad document key", set("d\x017 7", `{"id":"7 7"}`), false},
		{"document under another id", set(string(documentKey("a")), `{"id":"b"}`), false},
		{"document not an object", set(string(documentKey("a")), `[1]`), false},
		{"document broken", set(string(documentKey("a")), `{"id":"a"`), false},
		{"no version", del("m/version"), false},
		{"bad version", set("m/version", "1"), false},
		{"bad updatedAt", set("m/updatedAt", "yesterday"), false},
		{"no primary key", del("m/primaryKey"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := corruptCopy(t, tc.mutate)
			got, err := Inspect(ctx, dir, InspectOptions{Deep: true})
			if tc.ok {
				if err != nil || got.Documents != 2 || got.PrimaryKey != "id" || got.Version != 2 {
					t.Fatalf("Inspect = %+v, %v", got, err)
				}
				return
			}
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Inspect = %+v, %v; want ErrCorrupt", got, err)
			}
			// A shallow inspection reads only the metadata keys: it finds
			// their faults, not the documents'.
			_, err = Inspect(ctx, dir, InspectOptions{})
			if metaFault := strings.HasPrefix(tc.name, "no ") || strings.HasPrefix(tc.name, "bad version") || strings.HasPrefix(tc.name, "bad updatedAt"); metaFault != errors.Is(err, ErrCorrupt) {
				t.Errorf("shallow Inspect = %v (metadata fault: %v)", err, metaFault)
			}
		})
	}
	for _, dir := range []string{filepath.Join(t.TempDir(), "missing"), t.TempDir()} {
		if _, err := Inspect(ctx, dir, InspectOptions{Deep: true}); !errors.Is(err, ErrCorrupt) {
			t.Errorf("Inspect(%s) = %v", dir, err)
		}
	}
}
