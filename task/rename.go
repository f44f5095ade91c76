package task

import (
	"context"
	"fmt"

	"github.com/idxfs/idxfs/index"
)

// The processors of indexRename and indexSwap. Each is one write of the
// index map that also records the task's success (run.succeeded), so that
// after a crash the task's record says succeeded exactly when the names
// changed; a task found processing did nothing and fails (crashFails).
//
// A rename's new name is claimed at enqueue (claimLocked): an index, an
// import, another rename or a reservation of it refuses the request with
// index.ErrExists, and until the rename finishes no import or reservation
// of the name is accepted. Both names are held while the task runs, so
// tasks of either name enqueued before it run first, and those enqueued
// after it see the new names.

// prepareRemap validates an indexRename or indexSwap: two valid, distinct
// names (IndexUID and NewIndexUID).
func prepareRemap(_ *Engine, r Request) (Task, request, error) {
	if err := index.ValidateUID(r.NewIndexUID); err != nil {
		return Task{}, request{}, err
	}
	if r.NewIndexUID == r.IndexUID {
		return Task{}, request{}, fmt.Errorf("%w: %s of index %q with itself", ErrInvalid, r.Kind, r.IndexUID)
	}
	var d any = IndexRenameDetails{OldIndexUID: r.IndexUID, NewIndexUID: r.NewIndexUID}
	if r.Kind == IndexSwap {
		d = IndexSwapDetails{Indexes: [2]string{r.IndexUID, r.NewIndexUID}}
	}
	t, req := newTask(r, d)
	req.NewIndexUID = r.NewIndexUID
	return t, req, nil
}

func (e *Engine) renameIndex(ctx context.Context, r *run) (any, error) {
	d := IndexRenameDetails{OldIndexUID: r.task.IndexUID, NewIndexUID: r.req.NewIndexUID}
	done, err := r.succeeded(d)
	if err != nil {
		return nil, err
	}
	if err := e.store.Rename(ctx, d.OldIndexUID, d.NewIndexUID, done); err != nil {
		return nil, err
	}
	return d, nil
}

func (e *Engine) swapIndexes(ctx context.Context, r *run) (any, error) {
	d := IndexSwapDetails{Indexes: [2]string{r.task.IndexUID, r.req.NewIndexUID}}
	done, err := r.succeeded(d)
	if err != nil {
		return nil, err
	}
	if err := e.store.Swap(ctx, d.Indexes[0], d.Indexes[1], done); err != nil {
		return nil, err
	}
	return d, nil
}
