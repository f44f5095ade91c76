package fs

import "testing"

func TestImportIndexName(t *testing.T) {
	t.Parallel()
	for name, want := range map[string]string{
		"movies":              "movies",
		"movies.tar.gz":       "movies",
		"movies.tgz":          "movies",
		"movies.idx.snapshot": "movies",
		"movies_20261125T185700.123456Z.idx.snapshot": "movies",
		"my_index_20261125T185700Z.idx.snapshot":      "my_index",
		"movies_2026.idx.snapshot":                    "movies_2026",
		".tar.gz":                                     ".tar.gz",
		"a.tar.gz.tar.gz":                             "a.tar.gz",
		"backup.zip":                                  "backup.zip",
	} {
		if got := importIndexName(name); got != want {
			t.Errorf("importIndexName(%q) = %q, want %q", name, got, want)
		}
	}
	for name, temp := range map[string]bool{".movies.tar.gz.AbC123": true, "movies": false, "m.x": false} {
		if isTempName(name) != temp {
			t.Errorf("isTempName(%q) = %v", name, !temp)
		}
	}
}
