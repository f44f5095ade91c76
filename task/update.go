package task

import (
	"context"
	"fmt"
)

// IndexUpdateDetails are the details of an indexUpdate task: the primary
// key it sets (Meilisearch's name for the task that updates an index's
// primary key).
type IndexUpdateDetails struct {
	PrimaryKey string `json:"primaryKey"`
}

// prepareIndexUpdate: an indexUpdate sets the primary key of an index that
// has none and holds no documents (index.Store.SetPrimaryKey).
func prepareIndexUpdate(_ *Engine, r Request) (Task, request, error) {
	if r.PrimaryKey == "" {
		return Task{}, request{}, fmt.Errorf("%w: %s needs a primary key", ErrInvalid, r.Kind)
	}
	t, req := newTask(r, IndexUpdateDetails{PrimaryKey: r.PrimaryKey})
	return t, req, nil
}

func (e *Engine) updateIndex(ctx context.Context, r *run) (any, error) {
	if err := e.store.SetPrimaryKey(ctx, r.task.IndexUID, r.req.PrimaryKey); err != nil {
		return nil, err
	}
	return IndexUpdateDetails{PrimaryKey: r.req.PrimaryKey}, nil
}
