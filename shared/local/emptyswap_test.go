package local

// Empty partitions in the swap and the rollback (issue 9 F9, issue 14
// item 3), and a swap that loses a permission part-way. The warehouse
// refuses a copy from an empty partition, as the BigQuery fake does (what
// BigQuery does with one is undocumented): the code must empty such a
// partition explicitly.

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/bqbackfill/bqbackfill/shared/ledger"
	"github.com/bqbackfill/bqbackfill/shared/pipeline"
	"github.com/bqbackfill/bqbackfill/shared/warehouse"
)

var eventsTable = warehouse.TableRef{Project: testProject, Dataset: "test_live", Table: "events_v1"}

// addEvents appends one human event per country on day (YYYY-MM-DD).
func addEvents(t *testing.T, s *Stack, day string) {
	t.Helper()
	sql := "SELECT DATE '" + day + "' AS submission_date, 'DE-h1' AS client_id, 'DE' AS country, FALSE AS is_bot" +
		" UNION ALL SELECT DATE '" + day + "', 'US-h1', 'US', FALSE"
	job := warehouse.QueryJob{SQL: sql, Destination: &eventsTable, Partition: strings.ReplaceAll(day, "-", ""), Write: warehouse.WriteAppend}
	if _, err := s.DuckDB.Query(context.Background(), job); err != nil {
		t.Fatal(err)
	}
}

// emptyPartitions empties partitions of table by hand.
func emptyPartitions(t *testing.T, s *Stack, table warehouse.TableRef, ids ...string) {
	t.Helper()
	if _, err := s.DuckDB.DeletePartitions(context.Background(), warehouse.DeleteJob{Table: table, Partitions: ids}); err != nil {
		t.Fatal(err)
	}
}

// A day the fixed query produces no rows for (the ledger records 0 rows)
// is emptied in production by the swap, not copied; rollback restores it.
func TestSwapEmptiesPartitionTheQueryLeftEmpty(t *testing.T) {
	ctx := context.Background()
	s := openStack(t, Options{})
	loadWarehouse(t, s)
	emptyPartitions(t, s, eventsTable, "20240302")
	before := rows(t, s, dauTable)
	e := entry{date: testToday, start: "2024-03-01", end: "2024-03-02", status: "Initiate"}
	sqlDir := writeTree(t, dauTable, e)
	run(t, s, sqlDir)
	id := pipeline.BackfillID(dauTable, testToday)
	rec, err := s.Ledger.GetPartition(ctx, id, "20240302")
	if err != nil || rec.State != ledger.PartitionDone || rec.Rows != 0 {
		t.Fatalf("partition 20240302: %+v, %v; want done with 0 rows", rec, err)
	}
	staged := rows(t, s, stagingOf(dauTable, testToday))

	e.status = "Complete"
	writeEntries(t, sqlDir, dauTable, e)
	run(t, s, sqlDir)
	if b := record(t, s, id); b.State != ledger.StateCompleted {
		t.Fatalf("state %s (%s), want completed", b.State, b.LastError)
	}
	want := replaced(before, staged, 10, "2024-03-01", "2024-03-02")
	if got := rows(t, s, dauTable); !slices.Equal(got, want) {
		t.Errorf("production after the swap:\n got %q\nwant %q", got, want)
	}
	if _, n, err := s.Pipeline.Rollback(ctx, dauTable); err != nil || n != 2 {
		t.Fatalf("rollback restored %d partitions: %v", n, err)
	}
	if got := rows(t, s, dauTable); !slices.Equal(got, before) {
		t.Errorf("production after rollback:\n got %q\nwant %q", got, before)
	}
}

// crashingRollback does the first rollback job it is asked for and then
// fails as a process dying before recording it would.
type crashingRollback struct {
	warehouse.Warehouse
	mu      sync.Mutex
	crashed bool
}

func (c *crashingRollback) crash(jobID string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.crashed || !strings.Contains(jobID, "_rollback_") {
		return false
	}
	c.crashed = true
	return true
}

func (c *crashingRollback) Copy(ctx context.Context, job warehouse.CopyJob) (warehouse.JobResult, error) {
	res, err := c.Warehouse.Copy(ctx, job)
	if err == nil && c.crash(job.JobID) {
		return res, errCrash
	}
	return res, err
}

func (c *crashingRollback) DeletePartitions(ctx context.Context, job warehouse.DeleteJob) (warehouse.JobResult, error) {
	res, err := c.Warehouse.DeletePartitions(ctx, job)
	if err == nil && c.crash(job.JobID) {
		return res, errCrash
	}
	return res, err
}

// Rollback of a partition production did not have before the backfill
// empties it (the backup has no rows of it); a rollback interrupted
// part-way resumes and ends with production as it was before.
func TestRollbackOfPartitionNewToProduction(t *testing.T) {
	for _, interrupted := range []bool{false, true} {
		name := "whole"
		if interrupted {
			name = "interrupted"
		}
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			crash := &crashingRollback{crashed: !interrupted}
			s := openStack(t, Options{Warehouse: func(w warehouse.Warehouse) warehouse.Warehouse { crash.Warehouse = w; return crash }})
			loadWarehouse(t, s)
			addEvents(t, s, "2024-03-07")
			before := rows(t, s, dauTable)
			if slices.ContainsFunc(before, func(r string) bool { return strings.HasPrefix(r, "2024-03-07") }) {
				t.Fatal("production already has 2024-03-07")
			}
			e := entry{date: testToday, start: "2024-03-06", end: "2024-03-07", status: "Initiate"}
			sqlDir := writeTree(t, dauTable, e)
			run(t, s, sqlDir)
			staged := rows(t, s, stagingOf(dauTable, testToday))
			e.status = "Complete"
			writeEntries(t, sqlDir, dauTable, e)
			run(t, s, sqlDir)
			id := pipeline.BackfillID(dauTable, testToday)
			if b := record(t, s, id); b.State != ledger.StateCompleted {
				t.Fatalf("state %s (%s), want completed", b.State, b.LastError)
			}
			if got, want := rows(t, s, dauTable), replaced(before, staged, 10, "2024-03-06", "2024-03-07"); !slices.Equal(got, want) {
				t.Fatalf("production after the swap:\n got %q\nwant %q", got, want)
			}
			if interrupted {
				if _, _, err := s.Pipeline.Rollback(ctx, dauTable); err == nil {
					t.Fatal("the interrupted rollback succeeded")
				}
				if b := record(t, s, id); b.State != ledger.StateCompleted {
					t.Fatalf("state %s after the interrupted rollback, want still completed", b.State)
				}
			}
			if _, n, err := s.Pipeline.Rollback(ctx, dauTable); err != nil || n != 2 {
				t.Fatalf("rollback restored %d partitions: %v", n, err)
			}
			if got := rows(t, s, dauTable); !slices.Equal(got, before) {
				t.Errorf("production after rollback:\n got %q\nwant %q", got, before)
			}
			if b := record(t, s, id); b.State != ledger.StateRolledBack {
				t.Errorf("state %s, want rolled_back", b.State)
			}
		})
	}
}

// Partitions the workers wrote rows for but that are empty in staging at
// completion (emptied by hand) stop the completion before anything is
// touched, once, naming them and how to go on: retry re-runs them, or
// complete --allow-empty empties them in production on purpose.
func TestCompletionStopsOnPartitionsLostFromStaging(t *testing.T) {
	for _, next := range []string{"retry", "allow-empty"} {
		t.Run(next, func(t *testing.T) {
			ctx := context.Background()
			events := &syncBuffer{}
			s := openStack(t, Options{Events: events})
			loadWarehouse(t, s)
			before := rows(t, s, dauTable)
			e := entry{date: testToday, start: "2024-03-01", end: "2024-03-03", status: "Initiate"}
			sqlDir := writeTree(t, dauTable, e)
			run(t, s, sqlDir)
			id := pipeline.BackfillID(dauTable, testToday)
			staging := stagingOf(dauTable, testToday)
			staged := rows(t, s, staging)
			emptyPartitions(t, s, staging, "20240302", "20240303")

			e.status = "Complete"
			writeEntries(t, sqlDir, dauTable, e)
			res := run(t, s, sqlDir)
			if f := res.Failed(); len(f) != 1 || f[0].ID != id {
				t.Errorf("Result.Failed() = %v, want the refused backfill", f)
			}
			b := record(t, s, id)
			if b.State != ledger.StateFailed || b.Failure != ledger.FailureStagingLost || !slices.Equal(b.FailedPartitions, []string{"20240302", "20240303"}) {
				t.Fatalf("record: state %s, failure %q, failed partitions %q", b.State, b.Failure, b.FailedPartitions)
			}
			for _, want := range []string{"2 partition(s) are empty or missing in staging although", "20240302 (2 rows recorded)", "20240303 (", "Nothing was changed",
				"bqbackfill retry " + dauTable.String(), "bqbackfill complete --allow-empty " + dauTable.String()} {
				if !strings.Contains(b.LastError, want) {
					t.Errorf("last error %q does not say %q", b.LastError, want)
				}
			}
			if got := rows(t, s, dauTable); !slices.Equal(got, before) {
				t.Errorf("a refused completion changed production:\n got %q", got)
			}
			if exists(t, s, backupOf(dauTable, testToday)) {
				t.Error("a refused completion backed up production")
			}
			if got := swapSteps(t, s, id); len(got) != 0 {
				t.Errorf("swap steps %q recorded for a refused completion", got)
			}
			checkIdle(t, s, sqlDir)
			if n := strings.Count(events.String(), "are empty or missing in staging"); n != 1 {
				t.Errorf("the watchers were told %d times, want once:\n%s", n, events.String())
			}
			if _, _, err := s.Pipeline.ResumeCompletion(ctx, dauTable, false); err == nil || !strings.Contains(err.Error(), "--allow-empty") {
				t.Errorf("complete without --allow-empty: %v, want the refusal with its ways on", err)
			}

			var want []string
			switch next {
			case "retry":
				if _, n, err := s.Pipeline.Retry(ctx, dauTable); err != nil || n != 2 {
					t.Fatalf("retry re-ran %d partitions: %v", n, err)
				}
				if b := record(t, s, id); b.Failure != "" || b.FailedPartitions != nil || b.LastError != "" {
					t.Errorf("after retry: failure %q, failed partitions %q, last error %q; want them cleared", b.Failure, b.FailedPartitions, b.LastError)
				}
				want = replaced(before, staged, 10, "2024-03-01", "2024-03-02", "2024-03-03")
			case "allow-empty":
				got, confirmed, err := s.Pipeline.ResumeCompletion(ctx, dauTable, true)
				if err != nil || got != id || !slices.Equal(confirmed, []string{"20240302", "20240303"}) {
					t.Fatalf("ResumeCompletion = %q, %q, %v", got, confirmed, err)
				}
				want = replaced(before, staged, 10, "2024-03-01", "2024-03-02", "2024-03-03")
				want = slices.DeleteFunc(want, func(r string) bool {
					return strings.HasPrefix(r, "2024-03-02") || strings.HasPrefix(r, "2024-03-03")
				})
			}
			run(t, s, sqlDir)
			if b := record(t, s, id); b.State != ledger.StateCompleted {
				t.Fatalf("state %s (%s), want completed", b.State, b.LastError)
			}
			if got := rows(t, s, dauTable); !slices.Equal(got, want) {
				t.Errorf("production:\n got %q\nwant %q", got, want)
			}
			if got := rows(t, s, backupOf(dauTable, testToday)); !slices.Equal(got, before) {
				t.Errorf("backup:\n got %q\nwant %q", got, before)
			}
		})
	}
}

// denyingWarehouse answers a copy into one production partition with the
// 403 BigQuery gives a caller without bigquery.tables.updateData, while
// deny is set.
type denyingWarehouse struct {
	warehouse.Warehouse
	partition string
	mu        sync.Mutex
	deny      bool
	denied    int
}

func (d *denyingWarehouse) Copy(ctx context.Context, job warehouse.CopyJob) (warehouse.JobResult, error) {
	d.mu.Lock()
	refuse := d.deny && job.Dest == dauTable && job.DestPartition == d.partition
	if refuse {
		d.denied++
	}
	d.mu.Unlock()
	if refuse {
		return warehouse.JobResult{}, warehouse.Errorf(warehouse.PermissionDenied, "copy",
			"Access Denied: Table %s: User does not have bigquery.tables.updateData permission for table %s.", job.Dest, job.Dest)
	}
	return d.Warehouse.Copy(ctx, job)
}

// A permission denied in the middle of the swap stops the completion:
// failed with the step, the watchers told once, no retries; the backup
// intact. Once granted, retry resumes the swap; or rollback restores; an
// entry set to Cancelled does not abandon the half-swapped production.
func TestSwapStopsOnPermissionDenied(t *testing.T) {
	for _, next := range []string{"retry", "rollback", "cancel"} {
		t.Run(next, func(t *testing.T) {
			ctx := context.Background()
			events := &syncBuffer{}
			deny := &denyingWarehouse{partition: "20240302", deny: true}
			s := openStack(t, Options{Events: events, Warehouse: func(w warehouse.Warehouse) warehouse.Warehouse { deny.Warehouse = w; return deny }})
			loadWarehouse(t, s)
			before := rows(t, s, dauTable)
			e := entry{date: testToday, start: "2024-03-01", end: "2024-03-02", status: "Initiate"}
			sqlDir := writeTree(t, dauTable, e)
			run(t, s, sqlDir)
			id := pipeline.BackfillID(dauTable, testToday)
			staged := rows(t, s, stagingOf(dauTable, testToday))

			e.status = "Complete"
			writeEntries(t, sqlDir, dauTable, e)
			run(t, s, sqlDir)
			b := record(t, s, id)
			if b.State != ledger.StateFailed || b.Failure != ledger.FailureSwapStopped {
				t.Fatalf("record: state %s, failure %q (%s); want failed, swap_stopped", b.State, b.Failure, b.LastError)
			}
			const step = "copy-20240301-20240302"
			for _, want := range []string{"completion stopped at step " + step + " on an error", "bigquery.tables.updateData", "backup " + backupOf(dauTable, testToday).String() + " is intact",
				"bqbackfill retry " + dauTable.String(), "bqbackfill rollback " + dauTable.String()} {
				if !strings.Contains(b.LastError, want) {
					t.Errorf("last error %q does not say %q", b.LastError, want)
				}
			}
			st, err := s.Ledger.GetSwapStep(ctx, id, step)
			if err != nil || st.Done || !strings.Contains(st.Error, "updateData") {
				t.Errorf("swap step %s: %+v, %v; want not done, with the error", step, st, err)
			}
			if got := rows(t, s, backupOf(dauTable, testToday)); !slices.Equal(got, before) {
				t.Errorf("backup:\n got %q\nwant %q", got, before)
			}
			// Half-swapped: the copy of 2024-03-01 went through.
			if got, want := rows(t, s, dauTable), replaced(before, staged, 10, "2024-03-01"); !slices.Equal(got, want) {
				t.Errorf("production after the stop:\n got %q\nwant %q", got, want)
			}
			checkIdle(t, s, sqlDir)
			if deny.denied != 1 {
				t.Errorf("the denied copy was tried %d times, want once (no retries)", deny.denied)
			}
			if n := strings.Count(events.String(), "Completion stopped at step "+step+" on an error"); n != 1 {
				t.Errorf("the watchers were told %d times, want once:\n%s", n, events.String())
			}

			deny.mu.Lock()
			deny.deny = false
			deny.mu.Unlock()
			switch next {
			case "retry":
				if _, n, err := s.Pipeline.Retry(ctx, dauTable); err != nil || n != 0 {
					t.Fatalf("retry queued %d partitions: %v", n, err)
				}
				run(t, s, sqlDir)
				if b := record(t, s, id); b.State != ledger.StateCompleted {
					t.Fatalf("state %s (%s), want completed", b.State, b.LastError)
				}
				if got, want := rows(t, s, dauTable), replaced(before, staged, 10, "2024-03-01", "2024-03-02"); !slices.Equal(got, want) {
					t.Errorf("production after the resumed swap:\n got %q\nwant %q", got, want)
				}
			case "cancel":
				e.status = "Cancelled"
				writeEntries(t, sqlDir, dauTable, e)
				for i := 0; i < 2; i++ {
					res := run(t, s, sqlDir)
					if !slices.ContainsFunc(res.Actions, func(a pipeline.Action) bool { return strings.Contains(a.Warning, "cannot be cancelled") }) {
						t.Errorf("run %d after Cancelled: actions %+v, want a warning that it cannot be cancelled", i+1, res.Actions)
					}
				}
				if b := record(t, s, id); b.State != ledger.StateFailed || b.Failure != ledger.FailureSwapStopped {
					t.Fatalf("after Cancelled: state %s, failure %q; want still failed, swap_stopped", b.State, b.Failure)
				}
				if n := strings.Count(events.String(), "cannot be cancelled"); n != 1 {
					t.Errorf("the watchers were told %d times that it cannot be cancelled, want once", n)
				}
				fallthrough
			case "rollback":
				if _, n, err := s.Pipeline.Rollback(ctx, dauTable); err != nil || n != 2 {
					t.Fatalf("rollback restored %d partitions: %v", n, err)
				}
				if b := record(t, s, id); b.State != ledger.StateRolledBack {
					t.Errorf("state %s, want rolled_back", b.State)
				}
				if got := rows(t, s, dauTable); !slices.Equal(got, before) {
					t.Errorf("production after rollback:\n got %q\nwant %q", got, before)
				}
			}
		})
	}
}

// A refusal for many lost partitions names the first ten and counts the
// rest; the ledger keeps them all.
func TestLostPartitionsListCapped(t *testing.T) {
	s := openStack(t, Options{})
	loadWarehouse(t, s)
	var lost []string
	for d := 7; d <= 18; d++ {
		day := fmt.Sprintf("2024-03-%02d", d)
		addEvents(t, s, day)
		lost = append(lost, strings.ReplaceAll(day, "-", ""))
	}
	e := entry{date: testToday, start: "2024-03-06", end: "2024-03-18", status: "Initiate"}
	sqlDir := writeTree(t, dauTable, e)
	run(t, s, sqlDir)
	emptyPartitions(t, s, stagingOf(dauTable, testToday), lost...)
	e.status = "Complete"
	writeEntries(t, sqlDir, dauTable, e)
	run(t, s, sqlDir)
	b := record(t, s, pipeline.BackfillID(dauTable, testToday))
	if b.Failure != ledger.FailureStagingLost || !slices.Equal(b.FailedPartitions, lost) {
		t.Fatalf("failure %q, failed partitions %q; want staging_lost with all 12", b.Failure, b.FailedPartitions)
	}
	for _, want := range []string{"12 partition(s) are empty", "20240316 (2 rows recorded) and 2 more"} {
		if !strings.Contains(b.LastError, want) {
			t.Errorf("last error %q does not say %q", b.LastError, want)
		}
	}
	if strings.Contains(b.LastError, "20240317") {
		t.Errorf("last error names more than ten partitions: %q", b.LastError)
	}
}
