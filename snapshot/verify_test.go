package snapshot_test

import (
	"bytes"
	"errors"
	"testing"

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
