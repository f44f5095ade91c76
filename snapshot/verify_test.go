package snapshot_test

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/idxfs/idxfs/snapshot"
	st "github.com/idxfs/idxfs/snapshot/snapshottest"
)

func TestInspect(t *testing.T) {
	t.Parallel()
	m, err := snapshot.Inspect(bytes.NewReader(validArchive(t)))
	if err != nil {
		t.Fatal(err)
	}
	sameMetadata(t, m, st.Metadata(testMetadata(), baseFiles()))
	for _, tc := range malformedCases() {
		switch tc.name {
		case "garbage", "empty", "plain tar", "gzip of non-tar", "missing metadata", "future format version", "wrong format name":
		default:
			continue
		}
		if _, err := snapshot.Inspect(bytes.NewReader(tc.build(t))); !errors.Is(err, tc.want) {
			t.Errorf("%s: Inspect: %v, want %v", tc.name, err, tc.want)
		}
	}
}

// TestInspectSourceError: a failing reader is reported as such, not as a
// corrupt archive.
func TestInspectSourceError(t *testing.T) {
	t.Parallel()
	boom := errors.New("disk on fire")
	_, err := snapshot.Inspect(io.MultiReader(strings.NewReader("\x1f\x8b"), iotest.ErrReader(boom)))
	if !errors.Is(err, boom) || errors.Is(err, snapshot.ErrCorrupt) {
		t.Errorf("Inspect of a failing reader: %v; want the reader's error, not ErrCorrupt", err)
	}
	if _, err := snapshot.Inspect(strings.NewReader("not gzip at all")); !errors.Is(err, snapshot.ErrCorrupt) {
		t.Errorf("Inspect of garbage: %v; want ErrCorrupt", err)
	}
}
