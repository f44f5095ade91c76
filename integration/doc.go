// Package integration holds end-to-end tests: they build the idxfs binary,
// run it on a temporary data directory (and, once the mount exists, mount it)
// and drive it with real tools. They import nothing of idxfs but the binary.
package integration
