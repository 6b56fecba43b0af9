package main

import (
	"strings"
	"testing"
)

// TestRetryFailingAgain: a retry whose partitions all fail again exits 1
// and says that it re-ran the recorded query and how to run a changed one
// (review: hostile input, item 10).
func TestRetryFailingAgain(t *testing.T) {
	// The query reads a table that does not exist: every partition fails.
	state, sqlDir, _ := advFixture(t, "SELECT @submission_date AS submission_date, n AS total FROM `moz-fx-data-shared-prod.adv_derived.missing_v1`", "Initiate")
	table := advTable
	if code, out, errOut := runMain(t, "run", "--sql-dir", sqlDir, "--state-dir", state, "--today", "2026-12-01"); code != 1 {
		t.Fatalf("run: exit %d, want 1 (failed)\n%s\n%s", code, out, errOut)
	}
	code, out, errOut := runMain(t, "retry", table, "--state-dir", state, "--today", "2026-12-01")
	if code != 1 {
		t.Errorf("retry with every partition failing again: exit %d, want 1\n%s\n%s", code, out, errOut)
	}
	for _, want := range []string{"re-queued 2 failed partition(s)", "re-runs the query recorded when the backfill started", "add a new entry"} {
		if !strings.Contains(out, want) {
			t.Errorf("retry output lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(errOut, "failed again") || !strings.Contains(errOut, "missing_v1") {
		t.Errorf("retry stderr does not say it failed again and why:\n%s", errOut)
	}
}
