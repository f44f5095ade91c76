package task

import "testing"

func TestCount(t *testing.T) {
	for _, c := range []struct {
		got, want string
	}{
		{Count(0, "document"), "0 documents"},
		{Count(uint64(1), "document"), "1 document"},
		{Count(int64(2), "file"), "2 files"},
		{Count(-1, "task"), "-1 tasks"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}
