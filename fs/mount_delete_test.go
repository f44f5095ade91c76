package fs

import (
	"encoding/json"
	"os"
	"syscall"
	"testing"

	"github.com/idxfs/idxfs/task"
)

// TestMountDeleteDocumentsFile: ids written to delete-documents, one a
// line, are deleted by one documentDeletion task when the writer closes;
// a bad id fails the close with EINVAL and deletes nothing; the file is
// always empty (a read gives nothing) and a stat of it starts no task.
func TestMountDeleteDocumentsFile(t *testing.T) {
	t.Parallel()
	f := mountFS(t, map[string]int{"movies": 20}, nil)
	del := f.path("indexes", "movies", deleteDocumentsName)
	deletions := func() int { return len(f.tasks(task.DocumentDeletion)) }

	if st := f.stat("indexes", "movies", deleteDocumentsName); st.Size != 0 || st.Mode != syscall.S_IFREG|0o644&f.perm() {
		t.Errorf("stat %s: mode %o size %d, want %o and 0", deleteDocumentsName, st.Mode, st.Size, syscall.S_IFREG|0o644&f.perm())
	}
	if n := deletions(); n != 0 {
		t.Errorf("a stat started %d deletions", n)
	}
	// > (O_TRUNC): two ids, a blank line and a CRLF line end.
	if err := writeDocuments(t, del, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, []byte("3\n\n5\r\n")); err != nil {
		t.Fatalf("write 3 and 5: %v", err)
	}
	if n := f.documents("movies"); n != 18 {
		t.Errorf("%d documents after deleting 3 and 5, want 18", n)
	}
	ts := f.tasks(task.DocumentDeletion)
	if len(ts) != 1 || ts[0].Status != task.Succeeded || ts[0].IndexUID != "movies" {
		t.Fatalf("deletion tasks after one close: %+v, want one that succeeded", ts)
	}
	var d task.DocumentDeletionDetails
	if err := json.Unmarshal(ts[0].Details, &d); err != nil || d.ProvidedIDs != 2 {
		t.Errorf("deletion task details %+v, want 2 provided ids", ts[0].Details)
	}
	// >> (O_APPEND) works the same.
	if err := appendDocuments(t, del, []byte("7\n")); err != nil {
		t.Fatalf("append 7: %v", err)
	}
	if n := f.documents("movies"); n != 17 {
		t.Errorf("%d documents after deleting 7, want 17", n)
	}
	// A bad id among good ones: EINVAL at close, nothing deleted.
	if err := appendDocuments(t, del, []byte("8\nno/pe\n")); errnoIn(t, err) != syscall.EINVAL {
		t.Errorf("close after a bad id: %v, want EINVAL", err)
	}
	// Only blank lines: no id, EINVAL.
	if err := appendDocuments(t, del, []byte("\n")); errnoIn(t, err) != syscall.EINVAL {
		t.Errorf("close after no id: %v, want EINVAL", err)
	}
	if n := f.documents("movies"); n != 17 {
		t.Errorf("%d documents after refused deletions, want 17", n)
	}
	// An open that writes nothing deletes nothing and starts no task.
	before := deletions()
	if err := writeDocuments(t, del, os.O_WRONLY|os.O_TRUNC, nil); err != nil {
		t.Errorf("empty write: %v", err)
	}
	if n := deletions(); n != before {
		t.Errorf("an empty write started %d deletions", n-before)
	}
	// A read gives nothing (what was written is not kept); a truncate by
	// path is refused.
	if b, err := os.ReadFile(del); err != nil || len(b) != 0 {
		t.Errorf("read: %q, %v; want nothing", b, err)
	}
	if err := syscall.Truncate(del, 0); err != syscall.EPERM {
		t.Errorf("truncate by path: %v, want EPERM", err)
	}
	if st := f.stat("indexes", "movies", deleteDocumentsName); st.Size != 0 {
		t.Errorf("size after writes: %d, want 0", st.Size)
	}
}
