package main

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

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
	got, err := summarize(ctx, led, b, time.Now())
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
	got, err = summarize(ctx, led, b, time.Now())
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

// TestStatusFence: status shows the rollback fence of a completing
// backfill: when the rollback began, the completion requests still at
// work (a heartbeat younger than the lease; a request that died long ago
// is not counted) with their latest heartbeat, and when the last one
// stopped for the rollback.
func TestStatusFence(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 12, 5, 1, 0, 0, 0, time.UTC)
	c, _, _ := ledgertest.CountedClient(t, "ledger", "backfills/")
	led := ledger.New(c, "ledger")
	b := &ledger.Backfill{ID: "p.d.t/2026-11-01", Table: "p.d.t", EntryDate: "2026-11-01", State: ledger.StateCompleting, PartitionCount: 3,
		RollbackStartedAt: now.Add(-time.Minute),
		Completions: map[string]time.Time{
			"alive": now.Add(-30 * time.Second),
			"dead":  now.Add(-10 * time.Minute),
		}}
	if err := led.Create(ctx, b); err != nil {
		t.Fatal(err)
	}
	got, err := led.Get(ctx, b.ID)
	if err != nil {
		t.Fatal(err)
	}
	r, err := summarize(ctx, led, got, now)
	if err != nil {
		t.Fatal(err)
	}
	if r.RollbackStartedAt != "2026-12-05T00:59:00Z" || r.CompletionRequests != 1 || r.LastHeartbeat != "2026-12-05T00:59:30Z" || r.CompletionStoppedAt != "" {
		t.Errorf("summary = %+v", r)
	}
	var out strings.Builder
	printStatus(&out, []backfillSummary{r})
	for _, want := range []string{
		"  rollback started: 2026-12-05T00:59:00Z\n",
		"  completion requests at work: 1 (last heartbeat 2026-12-05T00:59:30Z); a rollback restores nothing until they stop\n",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("status text lacks %q:\n%s", want, out.String())
		}
	}

	// Every request left; the last one acknowledged the fence.
	if _, err := led.Update(ctx, b.ID, func(b *ledger.Backfill) error {
		b.Completions, b.CompletionStoppedAt = nil, now.Add(-20*time.Second)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if got, err = led.Get(ctx, b.ID); err != nil {
		t.Fatal(err)
	}
	if r, err = summarize(ctx, led, got, now); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	printStatus(&out, []backfillSummary{r})
	if r.CompletionRequests != 0 || !strings.Contains(out.String(), "  completion stopped for the rollback: 2026-12-05T00:59:40Z\n") || strings.Contains(out.String(), "at work") {
		t.Errorf("after the requests left: %+v\n%s", r, out.String())
	}
}
