package task

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/idxfs/idxfs/index"
	"github.com/idxfs/idxfs/snapshot"
)

// checkArchive is every check an import makes of an archive, in one place
// so that an import and VerifyArchive cannot drift apart: snapshot.Extract
// into dst (which must not exist) checks the format, the entries, every
// size and SHA-256 sum, the format versions, the expansion limit and the
// free space; then index.Inspect opens the extracted database read-only and
// its primary key, document count and version must be those the metadata
// states. extracted, if set, is called between the two (the import moves
// to its verifying step). On error dst may be left behind: the caller
// removes it.
func checkArchive(ctx context.Context, src io.Reader, dst string, opts snapshot.ReadOptions, extracted func()) (snapshot.Metadata, error) {
	opts.MaxPebbleFormat = index.MaxPebbleFormat()
	md, err := snapshot.Extract(ctx, src, dst, opts)
	if err != nil {
		return md, err
	}
	if extracted != nil {
		extracted()
	}
	chk, err := index.Inspect(ctx, dst, index.InspectOptions{})
	if errors.Is(err, index.ErrCorrupt) {
		// The archive's, not one of ours: named by its place in the
		// archive, not by the temporary directory.
		msg := strings.TrimSuffix(strings.ReplaceAll(err.Error(), dst, "index"), ": "+index.ErrCorrupt.Error())
		return md, fmt.Errorf("%w: the database does not open: %s", snapshot.ErrCorrupt, strings.TrimPrefix(msg, "inspect index: "))
	}
	if err != nil {
		return md, err
	}
	switch {
	case chk.Documents != md.Documents:
		return md, fmt.Errorf("%w: the metadata says %d documents, the database holds %d", snapshot.ErrCorrupt, md.Documents, chk.Documents)
	case chk.Version != md.IndexVersion:
		return md, fmt.Errorf("%w: the metadata says index version %d, the database holds %d", snapshot.ErrCorrupt, md.IndexVersion, chk.Version)
	case chk.PrimaryKey != md.PrimaryKey:
		return md, fmt.Errorf("%w: the metadata says primary key %q, the database holds %q", snapshot.ErrCorrupt, md.PrimaryKey, chk.PrimaryKey)
	}
	return md, nil
}

// VerifyOptions configure VerifyArchive. The zero value is valid.
type VerifyOptions struct {
	// TmpDir is the directory in which VerifyArchive extracts the archive,
	// into a new directory idxfs-verify-<pid>-<random> that it removes
	// before it returns. Default: os.TempDir() ($TMPDIR, else /tmp).
	TmpDir string
	// MaxImportSize is Options.MaxImportSize: the most bytes the archive
	// may expand to. Default (0): no limit but the free space of TmpDir.
	MaxImportSize int64
	// Progress is as snapshot.ReadOptions.Progress.
	Progress func(snapshot.Progress)
}

// verifyDirPrefix begins the name of VerifyArchive's temporary directories.
const verifyDirPrefix = "idxfs-verify-"

// VerifyArchive runs every check an import of the archive read from src
// runs (checkArchive: the same function), short of registering the index:
// it extracts the archive into a temporary directory under opts.TmpDir,
// opens the database there read-only, compares it with the metadata, and
// removes the directory whatever happens, also when ctx ends (Ctrl-C).
// It returns the archive's metadata; the errors are those of an import
// (snapshot.ErrCorrupt, ErrIncompatible, ErrTooLarge, index.ErrCorrupt).
//
// A directory left by a verify that was killed (SIGKILL, a crash) is
// removed by the next VerifyArchive in the same TmpDir, once the process
// whose pid its name holds is gone.
func VerifyArchive(ctx context.Context, src io.Reader, opts VerifyOptions) (snapshot.Metadata, error) {
	parent := opts.TmpDir
	if parent == "" {
		parent = os.TempDir()
	}
	removeStaleVerifyDirs(parent)
	dir, err := os.MkdirTemp(parent, fmt.Sprintf("%s%d-", verifyDirPrefix, os.Getpid()))
	if err != nil {
		return snapshot.Metadata{}, fmt.Errorf("temporary directory: %w", err)
	}
	defer os.RemoveAll(dir)
	if err := os.Chmod(dir, 0o700); err != nil { // the index's documents
		return snapshot.Metadata{}, fmt.Errorf("temporary directory: %w", err)
	}
	return checkArchive(ctx, src, filepath.Join(dir, "index"), snapshot.ReadOptions{
		MaxExpandedSize: opts.MaxImportSize,
		Progress:        opts.Progress,
	}, nil)
}

// removeStaleVerifyDirs removes the directories of verifies killed before
// they could: those whose pid no longer runs. Errors are ignored (the
// directory may be another user's).
func removeStaleVerifyDirs(parent string) {
	ents, err := os.ReadDir(parent)
	if err != nil {
		return
	}
	for _, e := range ents {
		rest, ok := strings.CutPrefix(e.Name(), verifyDirPrefix)
		if !ok || !e.IsDir() || e.Type()&os.ModeSymlink != 0 {
			continue
		}
		pidStr, _, ok := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(pidStr)
		if !ok || err != nil || pid <= 0 || pid == os.Getpid() {
			continue
		}
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			os.RemoveAll(filepath.Join(parent, e.Name()))
		}
	}
}
