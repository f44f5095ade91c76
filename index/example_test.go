package index_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"

	"github.com/idxfs/idxfs/index"
)

func Example() {
	tmp, err := os.MkdirTemp("", "idxfs-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	ctx := context.Background()

	// Open creates the data dir's layout on first use and locks it.
	s, err := index.Open(filepath.Join(tmp, "data"), index.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	if _, err := s.Create(ctx, "movies", ""); err != nil {
		log.Fatal(err)
	}
	// NDJSON or a JSON array; the primary key is inferred from the first
	// document (here "movieId"). "7" and 7 are the same document: the last
	// one wins.
	payload := `{"movieId": 7, "title": "Brazil"}
{"movieId": "alien", "title": "Alien"}
{"movieId": 12, "title": "Heat"}
{"movieId": "7", "title": "Brazil (1985)"}
`
	res, err := s.AddDocuments(ctx, "movies", strings.NewReader(payload), index.WriteOptions{})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("received %d, indexed %d, primary key %s, version %d\n", res.Received, res.Indexed, res.PrimaryKey, res.Version)

	// Export writes NDJSON in primary-key order: numbers first, numerically.
	if _, err := s.Export(ctx, "movies", os.Stdout); err != nil {
		log.Fatal(err)
	}
	// Output:
	// received 4, indexed 3, primary key movieId, version 2
	// {"movieId":"7","title":"Brazil (1985)"}
	// {"movieId":12,"title":"Heat"}
	// {"movieId":"alien","title":"Alien"}
}
