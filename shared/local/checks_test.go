package local

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/bqbackfill/bqbackfill/shared/checks"
	"github.com/bqbackfill/bqbackfill/shared/ledger"
	"github.com/bqbackfill/bqbackfill/shared/pipeline"
	"github.com/bqbackfill/bqbackfill/shared/warehouse"
)

// The dau_v1 backfill of 2024-03-01..02 stages (without bots)
// 03-01 DE 2, US 1 and 03-02 DE 1, US 3; production (with bots) holds
// 03-01 DE 3, US 2 and 03-02 DE 2, US 5.
const dauWhere = `"submission_date = @submission_date"`

// writeChecks writes the table's checks.sql.
func writeChecks(t *testing.T, sqlDir string, table warehouse.TableRef, src string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(tableDir(sqlDir, table), "checks.sql"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestFailCheckBlocksPromotion: a #fail check failing on staging fails
// the partitions with the check's message, the backfill ends failed and
// production stays as it was, even when the entry is flipped to Complete;
// after the upstream data is fixed, retry re-runs the partitions and their
// checks, and the backfill completes.
func TestFailCheckBlocksPromotion(t *testing.T) {
	ctx := context.Background()
	s, logs := openStackLogs(t)
	loadWarehouse(t, s)
	e := entry{date: testToday, start: "2024-03-01", end: "2024-03-02", status: "Initiate"}
	sqlDir := writeTree(t, dauTable, e)
	writeChecks(t, sqlDir, dauTable, "-- every country has at least two clients a day\n#fail\n{{ in_range(['dau'], 2, none, "+dauWhere+") }}\n")
	id := pipeline.BackfillID(dauTable, testToday)
	before := rows(t, s, dauTable)

	res := run(t, s, sqlDir)
	if f := res.Failed(); len(f) != 1 || f[0].ID != id {
		t.Fatalf("failed backfills = %+v, want %s", f, id)
	}
	b := record(t, s, id)
	if b.State != ledger.StateFailed || !strings.Contains(b.LastError, "check 1 (#fail) failed") {
		t.Fatalf("backfill %s (%s), want failed by check 1", b.State, b.LastError)
	}
	for _, pid := range []string{"20240301", "20240302"} {
		r, err := s.Ledger.GetPartition(ctx, id, pid)
		if err != nil {
			t.Fatal(err)
		}
		want := "data checks failed on partition " + pid + ": checks.sql check 1 (#fail) failed: "
		if r.State != ledger.PartitionFailed || !strings.Contains(r.Error, want) || !strings.Contains(r.Error, "Columns with values not within defined range [2, None]: dau") {
			t.Errorf("partition %s: %s %q, want failed with %q… dau", pid, r.State, r.Error, want)
		}
	}
	if ev := logs.String(); !strings.Contains(ev, "20240301") || !strings.Contains(ev, "not within defined range") {
		t.Errorf("the failure notification does not name the partition and the check:\n%s", ev)
	}

	// Flipping to Complete does not promote a failed backfill.
	done := e
	done.status = "Complete"
	writeEntries(t, sqlDir, dauTable, done)
	run(t, s, sqlDir)
	if got := rows(t, s, dauTable); !slices.Equal(got, before) {
		t.Fatalf("production changed after a failed check:\n got %q\nwant %q", got, before)
	}

	// Fix the upstream data: one more human client where a day had one.
	if _, err := s.DuckDB.Query(ctx, warehouse.QueryJob{SQL: "INSERT INTO `moz-fx-data-shared-prod.test_live.events_v1` VALUES " +
		"(DATE '2024-03-01', 'US-h9', 'US', FALSE), (DATE '2024-03-02', 'DE-h9', 'DE', FALSE)"}); err != nil {
		t.Fatal(err)
	}
	writeEntries(t, sqlDir, dauTable, e)
	if _, n, err := s.Pipeline.Retry(ctx, dauTable); err != nil || n != 2 {
		t.Fatalf("Retry = %d, %v; want 2 partitions", n, err)
	}
	if _, err := s.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	run(t, s, sqlDir)
	if b := record(t, s, id); b.State != ledger.StateProcessed {
		t.Fatalf("after the fix and retry: %s (%s), want processed", b.State, b.LastError)
	}
	writeEntries(t, sqlDir, dauTable, done)
	run(t, s, sqlDir)
	if b := record(t, s, id); b.State != ledger.StateCompleted {
		t.Fatalf("after Complete: %s (%s), want completed", b.State, b.LastError)
	}
	want := []string{"2024-03-01 DE 2", "2024-03-01 US 2", "2024-03-02 DE 2", "2024-03-02 US 3"}
	got := rows(t, s, dauTable)
	for _, w := range want {
		if !slices.Contains(got, w) {
			t.Errorf("production lacks %q after completion: %q", w, got)
		}
	}
}

// TestChecksRunAgainstStaging: production would fail the table's #fail
// check (bots inflate US on 03-02 to 5), staging passes it, so the
// backfill is promoted.
func TestChecksRunAgainstStaging(t *testing.T) {
	ctx := context.Background()
	s, _ := openStackLogs(t)
	loadWarehouse(t, s)
	e := entry{date: testToday, start: "2024-03-01", end: "2024-03-02", status: "Initiate"}
	sqlDir := writeTree(t, dauTable, e)
	src := "#fail\n{{ in_range(['dau'], none, 3, " + dauWhere + ") }}\n#fail\nSELECT IF(COUNTIF(dau > 3) > 0, ERROR('too many'), NULL) FROM `moz-fx-data-shared-prod.test_derived.dau_v1` WHERE submission_date = @submission_date;\n"
	writeChecks(t, sqlDir, dauTable, src)

	// The same checks over production fail on 2024-03-02.
	params := []warehouse.Param{{Name: "submission_date", Type: "DATE", Value: "2024-03-02"}}
	failed, _, err := checks.Gate{Reader: s.DuckDB}.RunChecks(ctx, src, dauTable, dauTable, warehouse.QueryJob{Params: params})
	if err != nil || len(failed) != 2 {
		t.Fatalf("checks over production: failed %q, %v; want both to fail", failed, err)
	}

	id := pipeline.BackfillID(dauTable, testToday)
	run(t, s, sqlDir)
	if b := record(t, s, id); b.State != ledger.StateProcessed {
		t.Fatalf("after Initiate: %s (%s), want processed", b.State, b.LastError)
	}
	done := e
	done.status = "Complete"
	writeEntries(t, sqlDir, dauTable, done)
	run(t, s, sqlDir)
	if b := record(t, s, id); b.State != ledger.StateCompleted {
		t.Fatalf("after Complete: %s (%s), want completed", b.State, b.LastError)
	}
	if got := rows(t, s, dauTable); !slices.Contains(got, "2024-03-02 US 3") {
		t.Errorf("production was not promoted: %q", got)
	}
}

// TestWarnCheckDoesNotBlock: a failing #warn check is recorded on the
// partition and reported in the "done" notification, and the backfill is
// processed and promoted.
func TestWarnCheckDoesNotBlock(t *testing.T) {
	ctx := context.Background()
	s, logs := openStackLogs(t)
	loadWarehouse(t, s)
	e := entry{date: testToday, start: "2024-03-01", end: "2024-03-02", status: "Initiate"}
	sqlDir := writeTree(t, dauTable, e)
	writeChecks(t, sqlDir, dauTable, "#warn\n{{ in_range(['dau'], 2, none, "+dauWhere+") }}\n#fail\n{{ not_null(['country', 'dau']) }}\n")
	id := pipeline.BackfillID(dauTable, testToday)
	run(t, s, sqlDir)
	if b := record(t, s, id); b.State != ledger.StateProcessed {
		t.Fatalf("after Initiate: %s (%s), want processed", b.State, b.LastError)
	}
	for _, pid := range []string{"20240301", "20240302"} {
		r, err := s.Ledger.GetPartition(ctx, id, pid)
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Warnings) != 1 || !strings.Contains(r.Warnings[0], "check 1 (#warn) failed: ") {
			t.Errorf("partition %s warnings %q, want check 1's", pid, r.Warnings)
		}
	}
	if ev := logs.String(); !strings.Contains(ev, "Data checks warned") || !strings.Contains(ev, "not within defined range [2, None]: dau") {
		t.Errorf("the done notification lacks the warnings:\n%s", ev)
	}
	// Bots removed: the profile in the done notification shows dau's sum
	// dropping on 2024-03-02 (7 → 4).
	if ev := logs.String(); !strings.Contains(ev, "Largest changes, production → staging:") || !strings.Contains(ev, "20240302 sum(dau): 7 → 4 (-42.9%)") {
		t.Errorf("the done notification lacks the profile changes:\n%s", ev)
	}
	done := e
	done.status = "Complete"
	writeEntries(t, sqlDir, dauTable, done)
	run(t, s, sqlDir)
	if b := record(t, s, id); b.State != ledger.StateCompleted {
		t.Fatalf("after Complete: %s (%s), want completed", b.State, b.LastError)
	}
}

// openStackLogs opens a stack and returns the buffer its logs and
// notifications go to.
func openStackLogs(t *testing.T) (*Stack, *syncBuffer) {
	t.Helper()
	logs := &syncBuffer{}
	s := openStack(t, Options{Events: logs})
	return s, logs
}
