package task

import "testing"

func TestHumanBytes(t *testing.T) {
	t.Parallel()
	for n, want := range map[int64]string{
		0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 1536: "1.5 KiB",
		5 << 20: "5.0 MiB", 3 << 30: "3.0 GiB", 1 << 40: "1.0 TiB",
	} {
		if got := HumanBytes(n); got != want {
			t.Errorf("HumanBytes(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestProgressText(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		p    Progress
		want string
	}{
		{Progress{Steps: []StepProgress{{"writing archive", 1, 3}}, Percentage: 42}, "writing archive (step 2 of 3), 42.0%"},
		{Progress{Steps: []StepProgress{{"importing", 0, 2}, {"extracting", 2, 4}}, Percentage: 12.34, BytesDone: 1536, BytesTotal: 3 << 30},
			"importing (step 1 of 2) / extracting (step 3 of 4), 12.3%, 1.5 KiB of 3.0 GiB"},
	} {
		if got := tt.p.Text(); got != tt.want {
			t.Errorf("Text() = %q, want %q", got, tt.want)
		}
	}
}
