package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRetryFailingAgain: a retry whose partitions all fail again exits 1
// and says that it re-ran the recorded query and how to run a changed one
// (review: hostile input, item 10).
func TestRetryFailingAgain(t *testing.T) {
	state := t.TempDir()
	table := "moz-fx-data-shared-prod.adv_derived.t_v1"
	code, _, errOut := runMain(t, "sql", "--state-dir", state,
		"CREATE SCHEMA IF NOT EXISTS `moz-fx-data-shared-prod.adv_derived`; "+
			"CREATE TABLE `"+table+"` (submission_date DATE, total INT64) PARTITION BY submission_date; "+
			"INSERT INTO `"+table+"` VALUES ('2026-11-01', 0), ('2026-11-02', 0)")
	if code != 0 {
		t.Fatalf("fixture: %s", errOut)
	}
	sqlDir := filepath.Join(t.TempDir(), "sql")
	dir := filepath.Join(sqlDir, "moz-fx-data-shared-prod", "adv_derived", "t_v1")
	files := map[string]string{
		"metadata.yaml": "friendly_name: T\ndescription: t\nowners:\n- a@example.com\nlabels:\n  incremental: true\n" +
			"bigquery:\n  time_partitioning:\n    type: day\n    field: submission_date\n    require_partition_filter: false\n",
		// The query reads a table that does not exist: every partition fails.
		"query.sql":     "SELECT @submission_date AS submission_date, n AS total FROM `moz-fx-data-shared-prod.adv_derived.missing_v1`",
		"backfill.yaml": "2026-12-01:\n  start_date: 2026-11-01\n  end_date: 2026-11-02\n  reason: test\n  watchers:\n  - a@example.com\n  status: Initiate\n",
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
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
