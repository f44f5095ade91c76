// Package snapshot is the single-index archive format, version 1 (see
// docs/FORMAT.md): it writes a checkpoint's files and their metadata as a
// .tar.gz made of independent gzip members, and reads, verifies, inspects and
// extracts such archives, rejecting anything malformed before it can reach a
// data directory.
//
// It is pure format and files. It reports progress through a callback and
// knows nothing of tasks, index stores or FUSE.
package snapshot

//go:generate go test -run TestGenerateTestdata -update .
