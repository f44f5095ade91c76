// Command gendocs writes the deterministic benchmark documents (about 1 KiB
// each, see index/indextest.Document) as NDJSON to stdout.
//
//	go run ./scripts/gendocs -n 2700000 | idxfs documents add bench -
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"

	"github.com/idxfs/idxfs/index/indextest"
)

func main() {
	from := flag.Int("from", 1, "id of the first document")
	n := flag.Int("n", 1000, "number of documents")
	flag.Parse()
	w := bufio.NewWriterSize(os.Stdout, 1<<20)
	if err := indextest.WriteNDJSON(w, *from, *n); err != nil {
		fmt.Fprintln(os.Stderr, "gendocs:", err)
		os.Exit(1)
	}
	if err := w.Flush(); err != nil {
		fmt.Fprintln(os.Stderr, "gendocs:", err)
		os.Exit(1)
	}
}
