package snapshot

import "testing"

// TestValidLevel: the levels the CLI accepts are those Write accepts.
func TestValidLevel(t *testing.T) {
	t.Parallel()
	for l := -3; l <= 10; l++ {
		want := l == -2 || l >= 1 && l <= 9
		if got := ValidLevel(l); got != want {
			t.Errorf("ValidLevel(%d) = %v, want %v", l, got, want)
		}
		o := WriteOptions{Level: l}
		if err := o.ensureDefaults(); (err == nil) != (want || l == 0) {
			t.Errorf("WriteOptions{Level: %d}: %v", l, err)
		}
	}
}
