package fs

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/idxfs/idxfs/index"
	"github.com/idxfs/idxfs/task"
)

// mountState is what every node of one mount shares: one per Mount, made
// before the root node and closed by Server.Unmount. Its fields are set
// once, before the mount serves, but idxMod (under dirMu); the tables it
// points to have locks of their own (see the package doc for their order).
type mountState struct {
	opts    Options      // as given to Mount, defaults filled in
	log     *slog.Logger // opts.Logger
	store   *index.Store // opts.Store: the data dir's indexes, read directly by lookups and getattrs
	engine  *task.Engine // opts.Engine: every change of an index, and the snapshot store, go through it
	started time.Time    // the mount time: mtime of the static directories
	perm    uint32       // the data dir's permission bits: they mask every mode

	imports *importTable // the entries of import/ and the index names they reserve; closed at close
	exports *exportCache // the exports of documents.ndjson in DATA/tmp/exports; removed at close
	dirMu   sync.Mutex   // guards idxMod
	idxMod  time.Time    // last time an index appeared or went (indexes/ mtime)
	// ctx lives as long as the mount: the context of work that no one
	// request owns (an export shared by its openers, the export sweeper,
	// the watchers of import tasks). cancel ends it, at close.
	ctx    context.Context
	cancel context.CancelFunc
}

func newMountState(opts Options) *mountState {
	ctx, cancel := context.WithCancel(context.Background())
	m := &mountState{
		opts: opts, log: opts.Logger, store: opts.Store, engine: opts.Engine,
		started: time.Now(), idxMod: time.Now(), ctx: ctx, cancel: cancel,
	}
	m.imports = newImportTable(m)
	m.exports = newExportCache(m)
	return m
}

// close ends what the mount runs in the background.
func (m *mountState) close() {
	m.cancel()
	m.imports.close()
	m.exports.close()
}

func (m *mountState) touchIndexes() {
	m.dirMu.Lock()
	m.idxMod = time.Now()
	m.dirMu.Unlock()
}

func (m *mountState) indexesMtime() time.Time {
	m.dirMu.Lock()
	defer m.dirMu.Unlock()
	return m.idxMod
}
