package task

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/idxfs/idxfs/index"
)

// A Reservation holds an index name for an import that has not yet been
// enqueued (a file being written into the mount's import/): while it is
// held, no other import of the name is accepted, by Reserve or Enqueue. An
// import enqueued with the reservation (Request.Reservation) takes the name
// over: the task holds it too, until it finishes, even if the reservation is
// released first. The engine is the one place that knows which names are
// being imported.
type Reservation struct {
	e       *Engine
	uid     string
	by      string // who holds it, for the error of the one refused
	replace bool   // made by ReserveReplace
	once    sync.Once
}

// Reserve reserves index name uid for by (named in the error of whoever is
// refused, e.g. "import/movies.tar.gz"). It fails with an error wrapping
// index.ErrExists, saying who holds it, if an index of that name exists or
// the name is reserved or being imported, with index.ErrInvalidUID for a
// name that is no index name.
func (e *Engine) Reserve(uid, by string) (*Reservation, error) {
	return e.reserve(uid, by, false)
}

// ReserveReplace is Reserve for an import that replaces the index uid
// (Request.Replace): an index of that name may exist; an import, a rename
// or a reservation of it is still refused.
func (e *Engine) ReserveReplace(uid, by string) (*Reservation, error) {
	return e.reserve(uid, by, true)
}

func (e *Engine) reserve(uid, by string, replace bool) (*Reservation, error) {
	if err := index.ValidateUID(uid); err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.claimLocked(uid, nil, replace); err != nil {
		return nil, err
	}
	r := &Reservation{e: e, uid: uid, by: by, replace: replace}
	e.reserved[uid] = r
	return r, nil
}

// Name returns the reserved index name.
func (r *Reservation) Name() string { return r.uid }

// Replace reports whether the reservation is for an import that replaces
// the index of its name (ReserveReplace): its import sets Request.Replace.
func (r *Reservation) Replace() bool { return r.replace }

// Claimable reports, with Reserve's error, whether Reserve (with replace,
// ReserveReplace) of uid would succeed now, without reserving it: for a
// refusal that should come early, before a reservation is due.
func (e *Engine) Claimable(uid string, replace bool) error {
	if err := index.ValidateUID(uid); err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.claimLocked(uid, nil, replace)
}

// Release frees the name (once an import that took it over has finished).
// Releasing twice, or a nil reservation, does nothing.
func (r *Reservation) Release() {
	if r == nil {
		return
	}
	r.once.Do(func() {
		r.e.mu.Lock()
		defer r.e.mu.Unlock()
		if r.e.reserved[r.uid] == r {
			delete(r.e.reserved, r.uid)
		}
	})
}

// claimLocked fails with index.ErrExists if uid is taken by an index
// (unless existingOK: an import that replaces it), by an import or a rename
// in flight or by a reservation other than own. It is the one test of
// whether an index name is free to import or rename to.
func (e *Engine) claimLocked(uid string, own *Reservation, existingOK bool) error {
	if !existingOK && e.store.Exists(uid) {
		return fmt.Errorf("index %q: %w", uid, index.ErrExists)
	}
	return e.pendingLocked(uid, own)
}

// pendingLocked fails with index.ErrExists if a task in flight (an import,
// a rename) or a reservation other than own is about to make index uid.
func (e *Engine) pendingLocked(uid string, own *Reservation) error {
	if other, ok := e.inFlightLocked(SingleIndexSnapshotImport, uid); ok {
		return fmt.Errorf("index %q: %w (task %d is importing it)", uid, index.ErrExists, other)
	}
	if other, ok := e.inFlightLocked(IndexRename, uid); ok {
		return fmt.Errorf("index %q: %w (task %d is renaming an index to it)", uid, index.ErrExists, other)
	}
	if r := e.reserved[uid]; r != nil && r != own {
		return fmt.Errorf("index %q: %w (%s is importing it)", uid, index.ErrExists, r.by)
	}
	return nil
}

// ReopenableStream is a Request.Stream whose writer may start over (the
// mount's import/NAME truncated to nothing after the import read from it).
// The import then starts over, in the same task, from the new bytes.
type ReopenableStream interface {
	io.Reader
	// Rewritten reports whether the source started over since it was
	// read from.
	Rewritten() bool
	// Reopen returns a reader of the source from its new start. If the
	// stream is a StreamAborter, so is the reader, with the same abort.
	Reopen() io.Reader
}

// errImportEnded is what a stream reads once its import has ended
// (importSnapshot aborts a StreamAborter with it, so that its writer stops
// waiting for the import).
var errImportEnded = errors.New("the import has ended")

// restartable returns the reader to import again from after a failed read
// of src: non-nil if src is a ReopenableStream that started over and the
// task was not canceled.
func restartable(ctx context.Context, src io.Reader) io.Reader {
	s, ok := src.(ReopenableStream)
	if !ok || ctx.Err() != nil || !s.Rewritten() {
		return nil
	}
	return s.Reopen()
}
