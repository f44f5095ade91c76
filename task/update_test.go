package task

import (
	"context"
	"errors"
	"testing"
)

// TestIndexUpdateTask: an indexUpdate sets the key of a keyless empty
// index; the same key again succeeds; another key fails with primary_key
// and changes nothing; no key is refused at enqueue.
func TestIndexUpdateTask(t *testing.T) {
	t.Parallel()
	e, st := testEngine(t, Options{})
	e.Start()
	mustSucceed(t, do(t, e, Request{Kind: IndexCreation, IndexUID: "a"}))
	tk := mustSucceed(t, do(t, e, Request{Kind: IndexUpdate, IndexUID: "a", PrimaryKey: "sku"}))
	var d IndexUpdateDetails
	if err := tk.DecodeDetails(&d); err != nil || d.PrimaryKey != "sku" {
		t.Errorf("details %s", tk.Details)
	}
	if in, err := st.Get(context.Background(), "a"); err != nil || in.PrimaryKey != "sku" {
		t.Errorf("index a: %+v, %v", in, err)
	}
	mustSucceed(t, do(t, e, Request{Kind: IndexUpdate, IndexUID: "a", PrimaryKey: "sku"}))
	if tk := do(t, e, Request{Kind: IndexUpdate, IndexUID: "a", PrimaryKey: "id"}); tk.Status != Failed || tk.Error.Code != CodePrimaryKey {
		t.Errorf("a conflicting key: %s %+v", tk.Status, tk.Error)
	}
	if tk := do(t, e, Request{Kind: IndexUpdate, IndexUID: "nope", PrimaryKey: "id"}); tk.Status != Failed || tk.Error.Code != CodeIndexNotFound {
		t.Errorf("a missing index: %s %+v", tk.Status, tk.Error)
	}
	if in, _ := st.Get(context.Background(), "a"); in.PrimaryKey != "sku" {
		t.Errorf("a failed update changed the key to %q", in.PrimaryKey)
	}
	if _, err := e.Enqueue(context.Background(), Request{Kind: IndexUpdate, IndexUID: "a"}); !errors.Is(err, ErrInvalid) {
		t.Errorf("an update without a key: %v, want ErrInvalid", err)
	}
}
