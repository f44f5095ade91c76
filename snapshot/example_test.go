package snapshot_test

import (
	"bytes"
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/idxfs/idxfs/snapshot"
)

// exampleCheckpoint stands in for a pebble checkpoint: a flat directory of
// files.
func exampleCheckpoint() string {
	dir, err := os.MkdirTemp("", "checkpoint")
	if err != nil {
		log.Fatal(err)
	}
	for name, data := range map[string]string{
		"000005.sst":      "sstable bytes",
		"MANIFEST-000001": "manifest bytes",
		"OPTIONS-000003":  "[Version]\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			log.Fatal(err)
		}
	}
	return dir
}

func ExampleWrite() {
	ckpt := exampleCheckpoint()
	defer os.RemoveAll(ckpt)

	var archive bytes.Buffer
	res, err := snapshot.Write(context.Background(), &archive, ckpt, snapshot.Metadata{
		IndexUID:     "movies",
		PrimaryKey:   "id",
		Documents:    3,
		IndexVersion: 12,
		CreatedAt:    time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC),
	}, snapshot.WriteOptions{})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("format:", res.Metadata.Format, res.Metadata.FormatVersion)
	for _, f := range res.Metadata.Files {
		fmt.Printf("index/%s %d\n", f.Name, f.Size)
	}
	fmt.Println("file data:", res.UncompressedSize, "bytes")

	// Inspect reads the metadata back without reading the files.
	m, err := snapshot.Inspect(bytes.NewReader(archive.Bytes()))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("inspect:", m.IndexUID, m.Documents, "documents")
	// Output:
	// format: idxfs-index-snapshot 1
	// index/000005.sst 13
	// index/MANIFEST-000001 14
	// index/OPTIONS-000003 10
	// file data: 37 bytes
	// inspect: movies 3 documents
}

func ExampleExtract() {
	ckpt := exampleCheckpoint()
	defer os.RemoveAll(ckpt)
	var archive bytes.Buffer
	if _, err := snapshot.Write(context.Background(), &archive, ckpt, snapshot.Metadata{IndexUID: "movies"}, snapshot.WriteOptions{}); err != nil {
		log.Fatal(err)
	}

	staging, err := os.MkdirTemp("", "staging")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(staging)
	dst := filepath.Join(staging, "movies") // must not exist yet

	m, err := snapshot.Extract(context.Background(), &archive, dst, snapshot.ReadOptions{
		MaxExpandedSize: 1 << 30,
		OnMetadata: func(m snapshot.Metadata) error {
			fmt.Println("importing", m.IndexUID, "with", len(m.Files), "files")
			return nil // an error here would stop before any file is written
		},
	})
	if err != nil {
		log.Fatal(err) // dst does not exist: Extract removed what it wrote
	}
	fmt.Println("extracted", m.IndexUID)
	ents, _ := os.ReadDir(dst)
	for _, e := range ents {
		fmt.Println(e.Name())
	}
	// Output:
	// importing movies with 3 files
	// extracted movies
	// 000005.sst
	// MANIFEST-000001
	// OPTIONS-000003
}
