package fs

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/idxfs/idxfs/index"
	"github.com/idxfs/idxfs/task"
)

// mountState is what every node of one mount shares.
type mountState struct {
	opts    Options
	log     *slog.Logger
	store   *index.Store
	engine  *task.Engine
	started time.Time // the mount time: mtime of the static directories
	perm    uint32    // the data dir's permission bits: they mask every mode

	imports *importTable // import/ entries
	exports *exportCache // exports of documents.ndjson
	dirMu   sync.Mutex   // guards indexesMtime
	idxMod  time.Time    // last time an index appeared or went (indexes/ mtime)
	ctx     context.Context
	cancel  context.CancelFunc
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
