package main

import (
	"strings"
	"testing"
)

// TestConfirmEmpty: confirm-empty, the ledger operation that also runs
// against a deployment, refuses a backfill not failed with staging_lost;
// on a completion refused because a partition is empty in staging it
// records the confirmation, requests the completion again, and the swap
// empties that production partition.
func TestConfirmEmpty(t *testing.T) {
	state, sqlDir := stagingLostFixture(t)
	table := advTable
	confirm := func() (int, string, string) { return runMain(t, "confirm-empty", table, "--state-dir", state) }
	if code, out, errOut := confirm(); code == 0 || !strings.Contains(errOut, "processed") {
		t.Errorf("confirm-empty of a processed backfill: exit %d, want an error saying its state\n%s\n%s", code, out, errOut)
	}
	code, out, errOut := runMain(t, "complete", table, "--sql-dir", sqlDir, "--state-dir", state, "--today", "2026-12-01")
	if code != 1 || !strings.Contains(out+errOut, "bqbackfill confirm-empty "+table) {
		t.Fatalf("complete: exit %d, want 1 (refused) naming confirm-empty\n%s\n%s", code, out, errOut)
	}
	code, out, errOut = confirm()
	if code != 0 || !strings.Contains(out, "empties 1 production partition(s)") || !strings.Contains(out, "20261102") || !strings.Contains(out, "completed") {
		t.Fatalf("confirm-empty: exit %d, want 0 naming 20261102 and completed\n%s\n%s", code, out, errOut)
	}
	code, out, errOut = runMain(t, "sql", "--state-dir", state, "--format", "csv", "SELECT submission_date, total FROM `"+table+"` ORDER BY 1")
	if code != 0 || strings.Contains(out, "2026-11-02") || !strings.Contains(out, "2026-11-01,1") {
		t.Errorf("production after confirm-empty: exit %d, want only 2026-11-01 with the backfill's row\n%s\n%s", code, out, errOut)
	}
	// Nothing left to confirm: the backfill completed.
	if code, _, _ := confirm(); code == 0 {
		t.Error("a second confirm-empty exited 0")
	}
}
