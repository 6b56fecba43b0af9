package local

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/civil"

	"github.com/bqbackfill/bqbackfill/shared/ledger"
	"github.com/bqbackfill/bqbackfill/shared/pipeline"
	"github.com/bqbackfill/bqbackfill/shared/warehouse"
)

// TestRejectedEntryRunsOnceFixed: two Initiate entries reject each other
// (V6/R1); removing one lets the other run, without editing it.
func TestRejectedEntryRunsOnceFixed(t *testing.T) {
	ctx := context.Background()
	today := civil.Date{Year: 2026, Month: 11, Day: 25}
	now := func() time.Time { return time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC) }
	s, err := Open(ctx, Options{Now: now, IdleTimeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	dir := t.TempDir()
	sqlDir, err := WriteDemoTree(dir, today)
	if err != nil {
		t.Fatal(err)
	}
	if err := LoadDemoData(ctx, s.DuckDB, today); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(sqlDir, DemoTable.Project, DemoTable.Dataset, DemoTable.Table, "backfill.yaml")
	one, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	second := strings.Replace(string(one), today.String()+":", today.AddDays(-1).String()+":", 1)
	if err := os.WriteFile(file, []byte(string(one)+"\n"+second), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Run(ctx, sqlDir); err != nil {
		t.Fatal(err)
	}
	id := pipeline.BackfillID(DemoTable, today.String())
	b, err := s.Ledger.Get(ctx, id)
	if err != nil || b.State != ledger.StateRejected {
		t.Fatalf("with two Initiate entries: %+v, %v; want rejected", b, err)
	}
	// A second run with nothing changed does nothing (reported once).
	res, err := s.Run(ctx, sqlDir)
	if err != nil || len(res.Actions) != 0 {
		t.Fatalf("rerun acted: %+v, %v", res.Actions, err)
	}
	// Remove the older entry: the newer one, unchanged, now runs.
	if err := os.WriteFile(file, one, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Run(ctx, sqlDir); err != nil {
		t.Fatal(err)
	}
	b, err = s.Ledger.Get(ctx, id)
	if err != nil || b.State != ledger.StateProcessed {
		t.Fatalf("after removing the other entry: %+v, %v; want processed", b, err)
	}
}

// blockOne makes the first query into one staging partition hang until its
// context ends, as a worker killed in the middle of that partition.
type blockOne struct {
	warehouse.Warehouse
	partition string
	once      sync.Once
	reached   chan struct{}
}

func (b *blockOne) Query(ctx context.Context, job warehouse.QueryJob) (warehouse.JobResult, error) {
	if job.Partition == b.partition {
		first := false
		b.once.Do(func() { first = true })
		if first {
			close(b.reached)
			<-ctx.Done()
			return warehouse.JobResult{}, ctx.Err()
		}
	}
	return b.Warehouse.Query(ctx, job)
}

// TestChainInterruptedResumes kills a depends_on_past chain in the middle
// of its second partition (the process dies), then runs again on the same
// state directory: the chain resumes at the first unfinished partition and
// computes exactly what an uninterrupted run computes.
func TestChainInterruptedResumes(t *testing.T) {
	dir := t.TempDir()
	blocker := &blockOne{partition: "20240303", reached: make(chan struct{})}
	s, closeFirst := openStackManual(t, Options{StateDir: dir, Warehouse: func(w warehouse.Warehouse) warehouse.Warehouse {
		blocker.Warehouse = w
		return blocker
	}})
	script, err := os.ReadFile(filepath.Join("testdata", "special", "warehouse.sql"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.DuckDB.Query(context.Background(), warehouse.QueryJob{SQL: string(script)}); err != nil {
		t.Fatal(err)
	}
	e := specialEntry{date: "2024-03-04", start: "2024-03-02", end: "2024-03-04"}
	id := pipeline.BackfillID(runningTable, e.date)
	sqlDir := specialTree(t, runningTable, e)

	done := make(chan error, 1)
	go func() {
		_, err := s.Run(context.Background(), sqlDir)
		done <- err
	}()
	<-blocker.reached
	closeFirst() // the process dies in the middle of 20240303
	<-done

	s2 := openStack(t, Options{StateDir: dir})
	got := partitionStates(t, s2, id)
	if got["20240302"] != ledger.PartitionDone || got["20240303"] == ledger.PartitionDone || got["20240304"] != "" {
		t.Fatalf("after the kill: partition records %v, want 20240302 done and the chain stopped at 20240303", got)
	}
	if _, err := s2.Run(context.Background(), sqlDir); err != nil {
		t.Fatal(err)
	}
	requireSpecialState(t, s2, id, ledger.StateProcessed)
	checkSpecialRows(t, s2, "staging", stagingOf(runningTable, e.date), []string{
		"2024-03-01 DE 4 100", "2024-03-01 US 7 200",
		"2024-03-02 DE 2 102", "2024-03-02 US 5 205",
		"2024-03-03 DE 3 105", "2024-03-03 US 1 206",
		"2024-03-04 DE 1 106", "2024-03-04 US 4 210",
	})
}

// failPartition fails every query into one staging partition with a
// permanent error while broken is set.
type failPartition struct {
	warehouse.Warehouse
	partition string
	mu        sync.Mutex
	broken    bool
	queries   map[string]int
}

func (f *failPartition) Query(ctx context.Context, job warehouse.QueryJob) (warehouse.JobResult, error) {
	f.mu.Lock()
	broken := f.broken && job.Partition == f.partition
	if job.Destination != nil {
		f.queries[job.Partition]++
	}
	f.mu.Unlock()
	if broken {
		return warehouse.JobResult{}, warehouse.Errorf(warehouse.InvalidArgument, "query", "injected: division by zero")
	}
	return f.Warehouse.Query(ctx, job)
}

// TestRetryRerunsOnlyFailedPartitions: one partition fails permanently,
// the backfill ends failed with the others in staging; after the cause is
// fixed, Retry recomputes only that partition and the backfill is processed.
func TestRetryRerunsOnlyFailedPartitions(t *testing.T) {
	ctx := context.Background()
	today := civil.Date{Year: 2026, Month: 11, Day: 25}
	now := func() time.Time { return time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC) }
	fp := &failPartition{partition: "20261115", broken: true, queries: map[string]int{}}
	s, err := Open(ctx, Options{Now: now, IdleTimeout: 100 * time.Millisecond, Warehouse: func(w warehouse.Warehouse) warehouse.Warehouse {
		fp.Warehouse = w
		return fp
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	sqlDir, err := WriteDemoTree(t.TempDir(), today)
	if err != nil {
		t.Fatal(err)
	}
	if err := LoadDemoData(ctx, s.DuckDB, today); err != nil {
		t.Fatal(err)
	}
	res, err := s.Run(ctx, sqlDir)
	if err != nil {
		t.Fatal(err)
	}
	id := pipeline.BackfillID(DemoTable, today.String())
	if f := res.Failed(); len(f) != 1 || f[0].ID != id || f[0].State != ledger.StateFailed {
		t.Fatalf("failed backfills = %+v, want %s failed", f, id)
	}
	states, err := s.Ledger.PartitionStates(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	failed := 0
	for pid, st := range states {
		if st == ledger.PartitionFailed {
			failed++
			if pid != fp.partition {
				t.Errorf("partition %s failed, only %s should", pid, fp.partition)
			}
		}
	}
	if failed != 1 || len(states) != 13 {
		t.Fatalf("partition states %v, want 13 with exactly %s failed", states, fp.partition)
	}
	before := map[string]int{}
	fp.mu.Lock()
	for k, v := range fp.queries {
		before[k] = v
	}
	fp.broken = false
	fp.mu.Unlock()

	gotID, n, err := s.Pipeline.Retry(ctx, DemoTable)
	if err != nil || gotID != id || n != 1 {
		t.Fatalf("Retry = %s, %d, %v; want %s, 1", gotID, n, err, id)
	}
	if _, err := s.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Run(ctx, sqlDir); err != nil {
		t.Fatal(err)
	}
	b, err := s.Ledger.Get(ctx, id)
	if err != nil || b.State != ledger.StateProcessed {
		t.Fatalf("after retry: %+v, %v; want processed", b, err)
	}
	fp.mu.Lock()
	defer fp.mu.Unlock()
	for pid, n := range fp.queries {
		if pid != fp.partition && n != before[pid] {
			t.Errorf("partition %s was recomputed by the retry (%d -> %d queries)", pid, before[pid], n)
		}
	}
	if fp.queries[fp.partition] <= before[fp.partition] {
		t.Errorf("the failed partition was not recomputed")
	}
	rows, err := s.DuckDB.Read(ctx, warehouse.QueryJob{SQL: "SELECT COUNT(DISTINCT submission_date) FROM `moz-fx-data-shared-prod.backfills_staging_derived.telemetry_derived__daily_active_users_v1_2026_11_25`"})
	if err != nil || fmt.Sprint(rows.Rows[0][0]) != "13" {
		t.Fatalf("staging holds %v days (%v), want 13", rows, err)
	}
}
