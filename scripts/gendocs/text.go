package main

import (
	"fmt"
	"io"
	"math/rand/v2"
	"strconv"
	"strings"
)

// The text-like generator (-kind text): documents of about 1.8 KB whose
// body is 150 words drawn from a fixed 20,000-word vocabulary with a
// Zipf-like frequency (rank k has weight ∝ (k+2)^-1.1, as math/rand/v2's
// Zipf with s = 1.1, v = 2: the most frequent word makes ~8 % of a body,
// the 100 most frequent ones ~56 %, the 1000 most frequent ~78 %), plus a few short fields. Real prose
// compresses less than the default generator's 100-word uniform vocabulary
// and more than random letters; this is the closer stand-in for it.
const (
	textVocab     = 20000
	textBodyWords = 150
	textSeed      = 0x7e47 // the vocabulary's seed
	textZipfS     = 1.1
	textZipfV     = 2
)

// vocabulary is built once from textSeed: words of 4–15 lowercase letters
// (mean 9.5, so that a 150-word body is about 1.6 KB), all distinct.
var vocabulary = func() []string {
	r := rand.New(rand.NewPCG(textSeed, 1))
	seen := make(map[string]bool, textVocab)
	v := make([]string, 0, textVocab)
	for len(v) < textVocab {
		b := make([]byte, 4+r.IntN(12))
		for i := range b {
			b[i] = byte('a' + r.IntN(26))
		}
		if w := string(b); !seen[w] {
			seen[w] = true
			v = append(v, w)
		}
	}
	return v
}()

var textTags = strings.Fields("news sport science culture economy politics travel health opinion technology")

// textDocument returns text-like document i: the same i always gives the
// same bytes, whatever documents come before it.
func textDocument(i int) []byte {
	r := rand.New(rand.NewPCG(uint64(i), textSeed))
	z := rand.NewZipf(r, textZipfS, textZipfV, textVocab-1)
	words := func(n int) string {
		var b strings.Builder
		for j := range n {
			if j > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(vocabulary[z.Uint64()])
		}
		return b.String()
	}
	d := make([]byte, 0, 2048)
	d = append(d, `{"id":`...)
	d = strconv.AppendInt(d, int64(i), 10)
	d = append(d, `,"title":`...)
	d = strconv.AppendQuote(d, words(4+r.IntN(4)))
	d = append(d, `,"author":`...)
	d = strconv.AppendQuote(d, words(2))
	d = append(d, `,"tags":["`...)
	d = append(d, textTags[r.IntN(len(textTags))]...)
	d = append(d, `","`...)
	d = append(d, textTags[r.IntN(len(textTags))]...)
	d = append(d, `"],"published":`...)
	d = strconv.AppendInt(d, 946684800+r.Int64N(850000000), 10)
	d = append(d, `,"score":`...)
	d = strconv.AppendFloat(d, float64(r.IntN(1000))/10, 'f', 1, 64)
	d = append(d, `,"body":`...)
	d = strconv.AppendQuote(d, words(textBodyWords))
	d = append(d, '}')
	return d
}

// writeText writes text-like documents from..from+n-1 as NDJSON.
func writeText(w io.Writer, from, n int) error {
	for i := from; i < from+n; i++ {
		if _, err := w.Write(append(textDocument(i), '\n')); err != nil {
			return fmt.Errorf("write: %w", err)
		}
	}
	return nil
}
