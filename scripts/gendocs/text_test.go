package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// TestTextDocument: text documents are valid JSON with an integer id and a
// 150-word body from the vocabulary, about 1.8 KB on average, the same bytes
// for the same id, and the most frequent word far more common than the
// median one (Zipf-like, not uniform).
func TestTextDocument(t *testing.T) {
	t.Parallel()
	if !bytes.Equal(textDocument(77), textDocument(77)) {
		t.Fatal("document 77 differs between two calls")
	}
	var b bytes.Buffer
	const n = 2000
	if err := writeText(&b, 1, n); err != nil {
		t.Fatal(err)
	}
	if avg := b.Len() / n; avg < 1650 || avg > 1950 {
		t.Errorf("mean document size %d bytes, want about 1.8 KB", avg)
	}
	inVocab := make(map[string]bool, len(vocabulary))
	for _, w := range vocabulary {
		inVocab[w] = true
	}
	if len(inVocab) != textVocab {
		t.Fatalf("%d distinct words, want %d", len(inVocab), textVocab)
	}
	count := map[string]int{}
	for i, line := range strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n") {
		var d struct {
			ID   int    `json:"id"`
			Body string `json:"body"`
		}
		if err := json.Unmarshal([]byte(line), &d); err != nil {
			t.Fatalf("line %d: %v", i+1, err)
		}
		if d.ID != i+1 {
			t.Fatalf("line %d has id %d", i+1, d.ID)
		}
		words := strings.Fields(d.Body)
		if len(words) != textBodyWords {
			t.Fatalf("document %d: %d body words, want %d", d.ID, len(words), textBodyWords)
		}
		for _, w := range words {
			if !inVocab[w] {
				t.Fatalf("document %d: %q is not in the vocabulary", d.ID, w)
			}
			count[w]++
		}
	}
	top := count[vocabulary[0]]
	if share := float64(top) / (n * textBodyWords); share < 0.06 || share > 0.10 {
		t.Errorf("the most frequent word makes %.3f of the body words, want about 0.08", share)
	}
	if len(count) < 5000 {
		t.Errorf("only %d distinct words in %d documents", len(count), n)
	}
}
