package pipeline_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"cloud.google.com/go/civil"

	"github.com/bqbackfill/bqbackfill/shared/ledger"
	"github.com/bqbackfill/bqbackfill/shared/pipeline"
	"github.com/bqbackfill/bqbackfill/shared/treescan"
	"github.com/bqbackfill/bqbackfill/shared/warehouse"
)

// tenYears is a backfill of 3,650 day partitions of the contract table,
// without depends_on_past.
func tenYears(status string) fstest.MapFS { return dayRange(status, "2014-03-23", "2024-03-19") }

// dayRange is a backfill of the contract table's days start..end, without
// depends_on_past.
func dayRange(status, start, end string) fstest.MapFS {
	meta := `friendly_name: Running Visits
description: Running total of visits per country.
owners:
  - test@example.com
bigquery:
  time_partitioning:
    type: day
    field: submission_date
`
	entry := entryDate + `:
  start_date: ` + start + `
  end_date: ` + end + `
  override_retention_limit: true
  reason: Drop bot traffic (TEST-3).
  watchers:
  - test@example.com
  status: ` + status + "\n"
	return fstest.MapFS{
		tableDir + "metadata.yaml": {Data: []byte(meta)},
		tableDir + "query.sql":     {Data: []byte(querySQL)},
		tableDir + "backfill.yaml": {Data: []byte(entry)},
	}
}

// pacedCopies makes every partition copy take 200 ms of a virtual clock:
// BigQuery's 50 partition modifications per 10 s of one table. After
// crashAfter copies (0: never) one copy fails, once, as a completion
// instance that dies in the middle of a swap unit.
type pacedCopies struct {
	warehouse.Warehouse
	mu         sync.Mutex
	now        time.Time
	copies     int
	crashAfter int
	crashed    bool
}

var errCrash = errors.New("instance stopped")

func (w *pacedCopies) clock() time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.now
}

func (w *pacedCopies) Copy(ctx context.Context, job warehouse.CopyJob) (warehouse.JobResult, error) {
	w.mu.Lock()
	if w.crashAfter > 0 && !w.crashed && w.copies == w.crashAfter {
		w.crashed = true
		w.mu.Unlock()
		return warehouse.JobResult{}, errCrash
	}
	w.copies++
	w.now = w.now.Add(200 * time.Millisecond)
	w.mu.Unlock()
	return w.Warehouse.Copy(ctx, job)
}

// TestLongSwapAcrossRequests: a 3,650-partition swap, paced, needs 730 s,
// more than a push request may run (600 s). Each completion request stops
// within its budget and hands the rest to a new request; one request dies
// between chunks and its redelivery resumes; production ends with every
// staged partition, and no request ran past the push deadline.
func TestLongSwapAcrossRequests(t *testing.T) {
	e := newContractEnv(t)
	id := contractID
	days := startCompleting(t, e, tenYears("Initiate"), civil.Date{Year: 2014, Month: 3, Day: 23}, 3650)

	paced := &pacedCopies{Warehouse: e.p.Warehouse, now: now, crashAfter: 300}
	e.p.Warehouse = paced
	e.p.Now = paced.clock
	e.p.Pacer = nil // pacing is what pacedCopies models

	requests, handled, redelivered := 1, 0, 0
	for requests > 0 && handled < 50 {
		requests--
		handled++
		start := paced.clock()
		err := e.p.Complete(e.ctx, id)
		if took := paced.clock().Sub(start); took > 600*time.Second {
			t.Errorf("request %d ran %v, past the 600 s push deadline", handled, took)
		}
		if err != nil {
			if !errors.Is(err, errCrash) {
				t.Fatalf("request %d: %v", handled, err)
			}
			requests++ // not acked: Pub/Sub redelivers it
			redelivered++
		}
		requests += len(e.pub.take("complete"))
	}
	bf, err := e.led.Get(e.ctx, id)
	if err != nil || bf.State != ledger.StateCompleted {
		t.Fatalf("after %d requests: %+v, %v; want completed", handled, bf, err)
	}
	if handled < 3 || redelivered != 1 {
		t.Errorf("%d requests (%d redelivered), want at least 3 with one redelivery", handled, redelivered)
	}
	rows := e.fake.PartitionRows(table)
	for _, d := range days {
		if rows[d] != 3 {
			t.Fatalf("production partition %s has %d rows, want the 3 staged", d, rows[d])
		}
	}
	// The crash redoes at most the unit it interrupted.
	if paced.copies > 3650+50 {
		t.Errorf("%d copies, want at most %d (one unit redone)", paced.copies, 3650+50)
	}
}

// startCompleting scans tree (a backfill of n days from first), gives
// every staging partition 3 rows, as the workers would, and moves the
// backfill to completing, as flipping the entry to Complete does. It
// returns the partition ids.
func startCompleting(t *testing.T, e *contractEnv, tree fstest.MapFS, first civil.Date, n int) []string {
	t.Helper()
	desired, problems := treescan.Desired(e.ctx, tree, treescan.Options{Now: now, Tree: "trees/long.zip"})
	if len(problems) > 0 {
		t.Fatalf("tree problems: %+v", problems)
	}
	for _, a := range e.p.Scan(e.ctx, desired) {
		if a.Err != nil {
			t.Fatalf("scan: %v", a.Err)
		}
		if a.Did == pipeline.DidRejected {
			bf, _ := e.led.Get(e.ctx, a.BackfillID)
			t.Fatalf("rejected: %s", bf.LastError)
		}
	}
	if parts := e.pub.take("partitions"); len(parts) != n {
		t.Fatalf("%d partition messages, want %d", len(parts), n)
	}
	var days []string
	for d := first; len(days) < n; d = d.AddDays(1) {
		day := d.String()
		days = append(days, day[0:4]+day[5:7]+day[8:10])
	}
	for _, d := range days {
		if err := e.fake.SetPartitionRows(staging, d, 3); err != nil {
			t.Fatal(err)
		}
	}
	for _, st := range [][2]ledger.State{{ledger.StateProcessing, ledger.StateProcessed}, {ledger.StateProcessed, ledger.StateCompleting}} {
		if moved, err := e.led.Transition(e.ctx, contractID, []ledger.State{st[0]}, st[1], func(b *ledger.Backfill) error {
			b.CompletionRequestedAt = now
			return nil
		}); err != nil || !moved {
			t.Fatalf("%s -> %s: %v, %v", st[0], st[1], moved, err)
		}
	}
	return days
}
