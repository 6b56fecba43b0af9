package main

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"

	"github.com/fsouza/fake-gcs-server/fakestorage"

	"github.com/bqbackfill/bqbackfill/shared/ledger"
	"github.com/bqbackfill/bqbackfill/shared/ledger/ledgertest"
)

// TestStatusOneListing: status summarizes a backfill with N failed
// partitions from one listing of its partition records, with no read of a
// failed record (their error kinds are in object metadata); only the
// records holding check warnings are read. A failed record written before
// the kind was kept in metadata is read, and counted by its kind.
func TestStatusOneListing(t *testing.T) {
	ctx := context.Background()
	b := &ledger.Backfill{ID: "p.d.t/2026-11-01", Table: "p.d.t", EntryDate: "2026-11-01", State: ledger.StateFailed, PartitionCount: 12}
	prefix := "backfills/" + b.ID + "/partitions/"
	c, reqs, srv := ledgertest.CountedClient(t, "ledger", prefix)
	led := ledger.New(c, "ledger")
	if err := led.Create(ctx, b); err != nil {
		t.Fatal(err)
	}
	const n = 10
	for i := range n {
		kind := "query"
		if i%2 == 1 {
			kind = "transient"
		}
		if _, err := led.UpdatePartition(ctx, b.ID, fmt.Sprintf("202611%02d", i+1), func(r *ledger.PartitionRecord) error {
			r.State, r.Error, r.ErrorKind = ledger.PartitionFailed, kind+" error", kind
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := led.UpdatePartition(ctx, b.ID, "20261130", func(r *ledger.PartitionRecord) error {
		r.State, r.Warnings = ledger.PartitionDone, []string{"check 1 (#warn) failed"}
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	reqs.Reset()
	got, err := summarize(ctx, led, b)
	if err != nil {
		t.Fatal(err)
	}
	if lists, reads, _ := reqs.Counts(); lists != 1 || reads != 1 {
		t.Errorf("status of a backfill with %d failed partitions: %d listings, %d reads; want 1 listing, 1 read (the record with a warning)", n, lists, reads)
	}
	wantAdvice := func(query, transient int) []string {
		return []string{
			fmt.Sprintf("%d partition(s) (query error): The query itself fails (an SQL error, or rows outside the partition), so a retry fails again: fix query.sql and add a new backfill entry (retry re-runs the query recorded when the backfill started, not the changed file).", query),
			fmt.Sprintf("%d partition(s) (transient error): The error is temporary (rate limit, backend error, timeout or quota): run 'bqbackfill retry p.d.t' to re-run the failed partitions.", transient),
		}
	}
	if got.Failed != n || got.FailedKinds["query"] != 5 || got.FailedKinds["transient"] != 5 || !slices.Equal(got.Advice, wantAdvice(5, 5)) ||
		!slices.Equal(got.CheckWarnings, []string{"20261130: check 1 (#warn) failed"}) {
		t.Errorf("summary = %+v", got)
	}

	// Written by an earlier version: the state in metadata, not the kind.
	data, _ := json.Marshal(&ledger.PartitionRecord{ID: "20261111", State: ledger.PartitionFailed, Error: "bad column", ErrorKind: "query"})
	srv.CreateObject(fakestorage.Object{ObjectAttrs: fakestorage.ObjectAttrs{BucketName: "ledger", Name: prefix + "20261111.json",
		Metadata: map[string]string{"bqbackfill-state": "failed"}}, Content: data})
	reqs.Reset()
	got, err = summarize(ctx, led, b)
	if err != nil {
		t.Fatal(err)
	}
	if lists, reads, _ := reqs.Counts(); lists != 1 || reads != 2 {
		t.Errorf("status with an earlier failed record: %d listings, %d reads; want 1 listing, 2 reads (that record, the warned one)", lists, reads)
	}
	if got.Failed != n+1 || got.FailedKinds["query"] != 6 || !slices.Equal(got.Advice, wantAdvice(6, 5)) {
		t.Errorf("summary with an earlier failed record = %+v", got)
	}
}
