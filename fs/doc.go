// Package fs is the FUSE tree of idxfs (DESIGN §3): it turns filesystem
// operations into task-engine calls and task results into errnos, through the
// one errno table in errno.go.
package fs
