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
		{Progress{Steps: []StepProgress{{"writing archive", 2, 4}}, Percentage: 50, BytesDone: 1 << 30, BytesTotal: 3 << 30, BytesPerSecond: ptr(int64(25 << 20)), SecondsRemaining: ptr(int64(82))},
			"writing archive (step 3 of 4), 50.0%, 1.0 GiB of 3.0 GiB, 25.0 MiB/s, 1m22s left"},
		{Progress{Steps: []StepProgress{{"extracting", 1, 4}}, Percentage: 9, BytesDone: 10, BytesTotal: 100, BytesPerSecond: ptr(int64(0))},
			"extracting (step 2 of 4), 9.0%, 10 B of 100 B, 0 B/s"},
	} {
		if got := tt.p.Text(); got != tt.want {
			t.Errorf("Text() = %q, want %q", got, tt.want)
		}
	}
}

func ptr[T any](v T) *T { return &v }

func TestHumanSeconds(t *testing.T) {
	t.Parallel()
	for n, want := range map[int64]string{0: "0s", 59: "59s", 60: "1m00s", 125: "2m05s", 3600: "1h00m", 7322: "2h02m"} {
		if got := HumanSeconds(n); got != want {
			t.Errorf("HumanSeconds(%d) = %q, want %q", n, got, want)
		}
	}
}
