package task

import "strconv"

// Count writes n and noun for people, the noun plural unless n is 1:
// "1 document", "2 documents", "0 documents". Plurals add "s".
func Count[N ~int | ~int64 | ~uint64](n N, noun string) string {
	s := strconv.FormatInt(int64(n), 10)
	if n == 1 {
		return s + " " + noun
	}
	return s + " " + noun + "s"
}
