// Command gendocs writes deterministic benchmark documents as NDJSON to
// stdout. Two kinds:
//
//   - default: about 1 KiB each, a 920-byte overview drawn uniformly from a
//     100-word vocabulary (see index/indextest.Document);
//   - text: about 1.8 KB each, a 150-word body drawn from a 20,000-word
//     vocabulary with a Zipf-like frequency, plus a few short fields — closer
//     to real text (see text.go).
//
// Document i is the same bytes whatever -from and -n are.
//
//	go run ./scripts/gendocs -n 2700000 | idxfs documents add bench -
//	go run ./scripts/gendocs -kind text -n 550000 | idxfs documents add bench -
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/idxfs/idxfs/index/indextest"
)

func main() {
	from := flag.Int("from", 1, "id of the first document")
	n := flag.Int("n", 1000, "number of documents")
	kind := flag.String("kind", "default", `generator: "default" (~1 KiB, small uniform vocabulary) or "text" (~1.8 KB, 20,000-word Zipf vocabulary)`)
	flag.Parse()
	var gen func(io.Writer, int, int) error
	switch *kind {
	case "default":
		gen = indextest.WriteNDJSON
	case "text":
		gen = writeText
	default:
		fmt.Fprintf(os.Stderr, "gendocs: unknown -kind %q (default or text)\n", *kind)
		os.Exit(2)
	}
	w := bufio.NewWriterSize(os.Stdout, 1<<20)
	if err := gen(w, *from, *n); err != nil {
		fmt.Fprintln(os.Stderr, "gendocs:", err)
		os.Exit(1)
	}
	if err := w.Flush(); err != nil {
		fmt.Fprintln(os.Stderr, "gendocs:", err)
		os.Exit(1)
	}
}
