package ledger

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/fsouza/fake-gcs-server/fakestorage"
)

// TestListState: the records in one state come from one listing, because
// every write repeats the state in the object's metadata; a record written
// without it (by an earlier version) is read to learn its state.
func TestListState(t *testing.T) {
	ctx := context.Background()
	srv, err := fakestorage.NewServerWithOptions(fakestorage.Options{NoListener: true})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	srv.CreateBucketWithOpts(fakestorage.CreateBucketOpts{Name: "ledger"})
	s := New(srv.Client(), "ledger")
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	for _, rec := range []struct {
		id string
		to []State
	}{
		{"p.d.a/2026-11-01", nil},
		{"p.d.b/2026-11-01", []State{StateStaging, StateProcessing, StateProcessed, StateCompleting}},
		{"p.d.b/2026-11-02", []State{StateStaging, StateProcessing, StateProcessed, StateCompleting, StateCompleted}},
	} {
		if err := s.Create(ctx, &Backfill{ID: rec.id, State: StatePending, CreatedAt: now}); err != nil {
			t.Fatal(err)
		}
		for _, st := range rec.to {
			if _, err := s.Update(ctx, rec.id, func(b *Backfill) error { b.State = st; return nil }); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Written by an earlier version: no state in the metadata.
	legacy, _ := json.Marshal(&Backfill{ID: "p.d.c/2026-11-01", Table: "p.d.c", EntryDate: "2026-11-01", State: StateCompleting})
	srv.CreateObject(fakestorage.Object{ObjectAttrs: fakestorage.ObjectAttrs{BucketName: "ledger", Name: root + "p.d.c/2026-11-01/backfill.json"}, Content: legacy})

	got, err := s.ListState(ctx, StateCompleting)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, b := range got {
		ids = append(ids, b.ID)
	}
	if want := []string{"p.d.b/2026-11-01", "p.d.c/2026-11-01"}; !slices.Equal(ids, want) {
		t.Errorf("ListState(completing) = %q, want %q", ids, want)
	}
	for id, want := range map[string]State{"p.d.a/2026-11-01": StatePending, "p.d.b/2026-11-02": StateCompleted} {
		obj, err := srv.GetObject("ledger", root+id+"/backfill.json")
		if err != nil {
			t.Fatal(err)
		}
		if got := obj.Metadata[stateKey]; got != string(want) {
			t.Errorf("%s: metadata state %q, want %q (a listing skips it without reading it)", id, got, want)
		}
	}
}
