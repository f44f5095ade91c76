package task

import (
	"encoding/json"
	"testing"
	"time"
)

func TestKindWireNames(t *testing.T) {
	t.Parallel()
	want := []string{"indexCreation", "indexDeletion", "documentAdditionOrUpdate", "documentDeletion",
		"singleIndexSnapshotCreation", "singleIndexSnapshotImport"}
	if len(Kinds) != len(want) {
		t.Fatalf("%d kinds, want %d", len(Kinds), len(want))
	}
	for i, w := range want {
		k, err := ParseKind(w)
		if err != nil || k != Kinds[i] {
			t.Errorf("ParseKind(%q) = %q, %v", w, k, err)
		}
		b, err := json.Marshal(k)
		if err != nil || string(b) != `"`+w+`"` {
			t.Errorf("marshal %q = %s, %v", w, b, err)
		}
		var back Kind
		if err := json.Unmarshal(b, &back); err != nil || back != k {
			t.Errorf("unmarshal %s = %q, %v", b, back, err)
		}
		if len(Steps(k)) == 0 {
			t.Errorf("kind %s has no steps", k)
		}
		for _, s := range Steps(k) {
			if s.Name == "" || s.Weight <= 0 {
				t.Errorf("kind %s: bad step %+v", k, s)
			}
		}
	}
	for _, bad := range []string{"", "IndexCreation", "snapshotCreation"} {
		if _, err := ParseKind(bad); err == nil {
			t.Errorf("ParseKind(%q) accepted", bad)
		}
		var k Kind
		if err := json.Unmarshal([]byte(`"`+bad+`"`), &k); err == nil {
			t.Errorf("unmarshal %q accepted", bad)
		}
	}
	if _, err := json.Marshal(Kind("nope")); err == nil {
		t.Error("marshal of an unknown kind succeeded")
	}
}

func TestSnapshotSteps(t *testing.T) {
	t.Parallel()
	for k, want := range map[Kind][]string{
		SingleIndexSnapshotCreation: {"starting", "checkpointing", "writing archive", "finalizing"},
		SingleIndexSnapshotImport:   {"reading", "extracting", "verifying", "registering"},
	} {
		got := Steps(k)
		if len(got) != len(want) {
			t.Fatalf("%s steps = %v", k, got)
		}
		for i := range want {
			if got[i].Name != want[i] {
				t.Errorf("%s step %d = %q, want %q", k, i, got[i].Name, want[i])
			}
		}
	}
}

func TestStatus(t *testing.T) {
	t.Parallel()
	for _, s := range Statuses {
		if p, err := ParseStatus(string(s)); err != nil || p != s {
			t.Errorf("ParseStatus(%q) = %q, %v", s, p, err)
		}
	}
	if _, err := ParseStatus("done"); err == nil {
		t.Error("ParseStatus accepted done")
	}
	for s, fin := range map[Status]bool{Enqueued: false, Processing: false, Succeeded: true, Failed: true, Canceled: true} {
		if s.Finished() != fin {
			t.Errorf("%s.Finished() = %v", s, !fin)
		}
	}
}

func TestDuration(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		d    time.Duration
		wire string
	}{
		{1250 * time.Millisecond, `"PT1.25S"`},
		{0, `"PT0S"`},
		{90 * time.Minute, `"PT5400S"`},
	} {
		b, err := json.Marshal(Duration(tt.d))
		if err != nil || string(b) != tt.wire {
			t.Errorf("marshal %v = %s, %v; want %s", tt.d, b, err, tt.wire)
		}
		var back Duration
		if err := json.Unmarshal(b, &back); err != nil || time.Duration(back) != tt.d {
			t.Errorf("unmarshal %s = %v, %v", b, time.Duration(back), err)
		}
	}
	var d Duration
	if err := json.Unmarshal([]byte(`"1.5s"`), &d); err == nil {
		t.Error("unmarshal of a Go duration string accepted")
	}
}
