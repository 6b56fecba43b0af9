package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCompleteAllowEmpty: a completion refused because a partition the
// worker wrote rows for is empty in staging (emptied by hand) stays
// refused under a plain complete, which says the ways on; complete
// --allow-empty then empties that production partition on purpose.
func TestCompleteAllowEmpty(t *testing.T) {
	state, sqlDir := stagingLostFixture(t)
	table := advTable
	complete := func(args ...string) (int, string, string) {
		return runMain(t, append([]string{"complete", table, "--sql-dir", sqlDir, "--state-dir", state, "--today", "2026-12-01"}, args...)...)
	}
	// Refused (failed); then a plain complete keeps it refused and says why.
	if code, out, errOut := complete(); code != 1 {
		t.Fatalf("complete: exit %d, want 1 (refused)\n%s\n%s", code, out, errOut)
	}
	code, out, errOut := complete()
	if code != 1 || !strings.Contains(errOut, "20261102") || !strings.Contains(errOut, "bqbackfill retry "+table) || !strings.Contains(errOut, "bqbackfill complete --allow-empty "+table) {
		t.Errorf("complete after the refusal: exit %d, want 1 naming the partition and both ways on\n%s\n%s", code, out, errOut)
	}
	if code, out, errOut := complete("--allow-empty"); code != 0 || !strings.Contains(errOut, "empties 1 production partition(s)") {
		t.Fatalf("complete --allow-empty: exit %d\n%s\n%s", code, out, errOut)
	}
	code, out, errOut = runMain(t, "sql", "--state-dir", state, "--format", "csv", "SELECT submission_date, total FROM `"+table+"` ORDER BY 1")
	if code != 0 || strings.Contains(out, "2026-11-02") || !strings.Contains(out, "2026-11-01,1") {
		t.Errorf("production after complete --allow-empty: exit %d, want only 2026-11-01 with the backfill's row\n%s\n%s", code, out, errOut)
	}
}

// stagingLostFixture is advFixture run to processed, with staging's
// partition 20261102 emptied by hand and the entry set to Complete: the
// completion is refused (staging_lost). It returns the state directory and
// the sql/ directory.
func stagingLostFixture(t *testing.T) (state, sqlDir string) {
	t.Helper()
	state, sqlDir, dir := advFixture(t, "SELECT @submission_date AS submission_date, 1 AS total", "Initiate")
	staging := "moz-fx-data-shared-prod.backfills_staging_derived.adv_derived__t_v1_2026_12_01"
	if code, out, errOut := runMain(t, "run", "--sql-dir", sqlDir, "--state-dir", state, "--today", "2026-12-01"); code != 0 {
		t.Fatalf("run: exit %d\n%s\n%s", code, out, errOut)
	}
	if code, _, errOut := runMain(t, "sql", "--state-dir", state, "DELETE FROM `"+staging+"` WHERE submission_date = '2026-11-02'"); code != 0 {
		t.Fatalf("empty a staging partition by hand: %s", errOut)
	}
	if err := os.WriteFile(filepath.Join(dir, "backfill.yaml"), []byte(advEntry("Complete")), 0o644); err != nil {
		t.Fatal(err)
	}
	return state, sqlDir
}

// advTable is the table of advFixture.
const advTable = "moz-fx-data-shared-prod.adv_derived.t_v1"

// advEntry is advFixture's backfill.yaml with the entry's status.
func advEntry(status string) string {
	return "2026-12-01:\n  start_date: 2026-11-01\n  end_date: 2026-11-02\n  reason: test\n  watchers:\n  - a@example.com\n  status: " + status + "\n"
}

// advFixture makes a state directory whose warehouse holds advTable (two
// days, one row each) and a tree with the table's query and an entry over
// both days; it returns the state directory, the sql/ directory and the
// table's directory.
func advFixture(t *testing.T, query, status string) (state, sqlDir, dir string) {
	t.Helper()
	state = t.TempDir()
	code, _, errOut := runMain(t, "sql", "--state-dir", state,
		"CREATE SCHEMA IF NOT EXISTS `moz-fx-data-shared-prod.adv_derived`; "+
			"CREATE TABLE `"+advTable+"` (submission_date DATE, total INT64) PARTITION BY submission_date; "+
			"INSERT INTO `"+advTable+"` VALUES ('2026-11-01', 0), ('2026-11-02', 0)")
	if code != 0 {
		t.Fatalf("fixture: %s", errOut)
	}
	sqlDir = filepath.Join(t.TempDir(), "sql")
	dir = filepath.Join(sqlDir, "moz-fx-data-shared-prod", "adv_derived", "t_v1")
	files := map[string]string{
		"metadata.yaml": "friendly_name: T\ndescription: t\nowners:\n- a@example.com\nlabels:\n  incremental: true\n" +
			"bigquery:\n  time_partitioning:\n    type: day\n    field: submission_date\n    require_partition_filter: false\n",
		"query.sql":     query,
		"backfill.yaml": advEntry(status),
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return state, sqlDir, dir
}
