// Command gendemo writes the demo data set embedded in idxfs: a few thousand
// movie documents (id, title, overview, genres, year, rating), generated from
// a fixed seed so that every run writes the same bytes.
//
//	go run ./scripts/gendemo -n 4000 -o cmd/idxfs/demo/movies.ndjson.gz
package main

import (
	"bufio"
	"compress/gzip"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
)

var (
	adjectives = strings.Fields("Silent Crimson Last Hidden Broken Golden Distant Frozen Savage Endless Hollow Burning Quiet Iron Wild Lost Secret Midnight Electric Paper Glass Velvet Northern Fading Restless Bitter Gentle Shattered Sunken Wandering")
	nouns      = strings.Fields("River Garden Empire Harbor Frontier Mirror Orchard Signal Kingdom Voyage Lantern Horizon Archive Citadel Desert Engine Island Letter Machine Meridian Monument Passage Prophecy Station Tide Valley Whisper Window Winter Witness")
	patterns   = []string{"The %a %n", "%n of the %a %n", "Return to the %n", "%a %n", "The %n", "Beyond the %a %n", "A %n in %c", "The %n of %c", "%c %a", "Escape from %c"}
	cities     = strings.Fields("Lisbon Kyoto Marseille Oslo Havana Cairo Prague Montreal Tangier Valparaiso Glasgow Bombay Istanbul Tallinn Dakar Reykjavik Naples Odessa Saigon Lima")
	heroes     = []string{"a retired detective", "a young cartographer", "two estranged sisters", "a disgraced surgeon", "an ambitious reporter", "a lighthouse keeper", "a stubborn farmer", "a chess prodigy", "a former smuggler", "an aging jazz pianist", "a rookie astronaut", "a small-town mayor", "a runaway heiress", "a weary ship captain", "a translator"}
	incidents  = []string{"uncovers a forgotten conspiracy", "must deliver a letter before dawn", "inherits a house full of secrets", "is drawn into a deadly game", "sets out to find a missing friend", "witnesses a crime nobody else saw", "tries to win back a lost love", "races against a coming storm", "discovers a map that should not exist", "is mistaken for a notorious spy", "returns home after twenty years", "joins an expedition into the unknown"}
	twists     = []string{"but nothing is what it seems", "while an old enemy closes in", "and learns the price of the truth", "as the city falls apart around them", "with the help of an unlikely ally", "before time runs out", "and finds something far more valuable", "only to question everything they believed"}
	genres     = strings.Fields("Drama Comedy Thriller Romance Adventure Mystery Science-Fiction Horror Animation Documentary Crime Fantasy War Western Musical Family")
)

type movie struct {
	ID       int      `json:"id"`
	Title    string   `json:"title"`
	Overview string   `json:"overview"`
	Genres   []string `json:"genres"`
	Year     int      `json:"year"`
	Rating   float64  `json:"rating"`
	Runtime  int      `json:"runtime"`
	Director string   `json:"director"`
}

var firstNames = strings.Fields("Ana Bruno Chen Dara Elif Farid Greta Hugo Ines Jonas Kenji Lena Marco Nadia Omar Paula Quentin Rosa Sami Tove Ugo Vera Wim Yara Zoltan")
var lastNames = strings.Fields("Almeida Berg Castillo Duval Eriksen Fontaine Garcia Hoffmann Ishikawa Jovanovic Kowalski Lindqvist Moreau Novak Okafor Petrov Quiroga Rossi Sato Tanaka Urbina Varga Weber Yilmaz Zanetti")

func pick[T any](r *rand.Rand, xs []T) T { return xs[r.IntN(len(xs))] }

func title(r *rand.Rand) string {
	p := pick(r, patterns)
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		if p[i] == '%' && i+1 < len(p) {
			switch p[i+1] {
			case 'a':
				b.WriteString(pick(r, adjectives))
			case 'n':
				b.WriteString(pick(r, nouns))
			case 'c':
				b.WriteString(pick(r, cities))
			}
			i++
			continue
		}
		b.WriteByte(p[i])
	}
	return b.String()
}

func main() {
	n := flag.Int("n", 4000, "number of movies")
	out := flag.String("o", "cmd/idxfs/demo/movies.ndjson.gz", "output file (.gz)")
	flag.Parse()
	if err := write(*out, *n); err != nil {
		fmt.Fprintln(os.Stderr, "gendemo:", err)
		os.Exit(1)
	}
}

func write(path string, n int) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	zw, _ := gzip.NewWriterLevel(f, gzip.BestCompression)
	bw := bufio.NewWriter(zw)
	enc := json.NewEncoder(bw)
	r := rand.New(rand.NewPCG(2026, 11))
	for i := 1; i <= n; i++ {
		m := movie{
			ID:       i,
			Title:    title(r),
			Overview: fmt.Sprintf("In %s, %s %s, %s.", pick(r, cities), pick(r, heroes), pick(r, incidents), pick(r, twists)),
			Year:     1950 + r.IntN(76),
			Rating:   float64(10+r.IntN(90)) / 10,
			Runtime:  75 + r.IntN(90),
			Director: pick(r, firstNames) + " " + pick(r, lastNames),
		}
		seen := map[string]bool{}
		for k := 1 + r.IntN(3); len(m.Genres) < k; {
			g := pick(r, genres)
			if !seen[g] {
				seen[g] = true
				m.Genres = append(m.Genres, g)
			}
		}
		if err := enc.Encode(m); err != nil {
			return err
		}
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	return f.Close()
}
