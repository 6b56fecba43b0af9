package ledger

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/fsouza/fake-gcs-server/fakestorage"

	"github.com/bqbackfill/bqbackfill/shared/ledger/ledgertest"
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

// TestListingsReturnBackfillRecordsOnly: List, ListTable and ListState ask
// Cloud Storage (matchGlob) for the backfill records only, so a scan's
// listing carries one object per backfill however many partition and swap
// records the ledger holds (review: every scan paged through all partition
// records of all backfills ever run). A partition named backfill.json
// matches neither the glob nor the name check.
func TestListingsReturnBackfillRecordsOnly(t *testing.T) {
	ctx := context.Background()
	c, reqs, srv := ledgertest.CountedClient(t, "ledger", root)
	s := New(c, "ledger")
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	ids := []string{"p.d.a/2026-11-01", "p.d.a/2026-11-02", "p.d.b/2026-11-01"}
	for _, id := range ids {
		if err := s.Create(ctx, &Backfill{ID: id, State: StatePending, CreatedAt: now}); err != nil {
			t.Fatal(err)
		}
		for i := range 40 {
			for _, kind := range []string{"partitions", "swap"} {
				name := fmt.Sprintf("%s%s/%s/202610%02d.json", root, id, kind, i)
				srv.CreateObject(fakestorage.Object{ObjectAttrs: fakestorage.ObjectAttrs{BucketName: "ledger", Name: name}, Content: []byte("{}")})
			}
		}
		srv.CreateObject(fakestorage.Object{ObjectAttrs: fakestorage.ObjectAttrs{BucketName: "ledger", Name: root + id + "/partitions/backfill.json"}, Content: []byte("{}")})
	}
	for _, tc := range []struct {
		name string
		list func() ([]*Backfill, error)
		want []string
	}{
		{"ListState", func() ([]*Backfill, error) { return s.ListState(ctx, StatePending) }, ids},
		{"List", func() ([]*Backfill, error) { return s.List(ctx) }, ids},
		{"ListTable", func() ([]*Backfill, error) { return s.ListTable(ctx, "p.d.a") }, ids[:2]},
	} {
		reqs.Reset()
		got, err := tc.list()
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		var gotIDs []string
		for _, b := range got {
			gotIDs = append(gotIDs, b.ID)
		}
		if !slices.Equal(gotIDs, tc.want) {
			t.Errorf("%s = %q, want %q", tc.name, gotIDs, tc.want)
		}
		if lists, _, _ := reqs.Counts(); lists != 1 || reqs.Listed() != len(tc.want) {
			t.Errorf("%s: %d listings returning %d objects, want 1 returning %d (the backfill records only)", tc.name, lists, reqs.Listed(), len(tc.want))
		}
	}
}

// TestListTableGlobCharacters: a table name never enters ListTable's
// matchGlob (the prefix narrows the listing to the table), so one holding
// glob syntax lists its own records and no other table's.
func TestListTableGlobCharacters(t *testing.T) {
	ctx := context.Background()
	c, _, _ := ledgertest.CountedClient(t, "ledger", root)
	s := New(c, "ledger")
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	tables := []string{"p.d.t*", "p.d.t[1]", "p.d.t{a,b}", "p.d.t?", "p.d.tx"}
	for _, table := range tables {
		if err := s.Create(ctx, &Backfill{ID: table + "/2026-11-01", State: StatePending, CreatedAt: now}); err != nil {
			t.Fatal(err)
		}
	}
	for _, table := range tables {
		got, err := s.ListTable(ctx, table)
		if err != nil {
			t.Errorf("ListTable(%q): %v", table, err)
			continue
		}
		if len(got) != 1 || got[0].ID != table+"/2026-11-01" {
			t.Errorf("ListTable(%q) = %d records, want its own one", table, len(got))
		}
	}
}
