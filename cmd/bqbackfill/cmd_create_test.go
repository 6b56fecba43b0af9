package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCreateCommand(t *testing.T) {
	dir := copyTree(t)
	table := "moz-fx-data-shared-prod.test_derived.new_v1"
	file := filepath.Join(dir, "moz-fx-data-shared-prod", "test_derived", "new_v1", "backfill.yaml")
	code, out, errOut := runMain(t, "create", table, "--sql-dir", dir, "--today", "2026-06-15",
		"--start_date", "2026-06-01", "-e", "2026-06-10", "--exclude", "2026-06-05", "-w", "alice@mozilla.com", "--watcher", "bob@mozilla.com",
		"--reason", "Recompute after the upstream fix (DENG-2).", "--billing-project", "moz-fx-data-backfill-1")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if !strings.Contains(out, "Created backfill entry in "+file) {
		t.Errorf("output %s", out)
	}
	got, _ := os.ReadFile(file)
	want := `2026-06-15:
  start_date: 2026-06-01
  end_date: 2026-06-10
  excluded_dates:
  - 2026-06-05
  reason: Recompute after the upstream fix (DENG-2).
  watchers:
  - alice@mozilla.com
  - bob@mozilla.com
  status: Initiate
  shredder_mitigation: false
  override_retention_limit: false
  override_depends_on_past_end_date: false
  override_depends_on_past_null_partition: false
  ignore_date_partition_offset: false
  billing_project: moz-fx-data-backfill-1
`
	if string(got) != want {
		t.Errorf("file:\n%s\nwant:\n%s", got, want)
	}
	if code, _, _ := runMain(t, "validate", "--sql-dir", dir, "--today", "2026-06-15", table); code != 0 {
		t.Errorf("the created entry does not validate")
	}
	// A second entry on the same day is refused; the file is unchanged.
	code, _, errOut = runMain(t, "create", table, "--sql-dir", dir, "--today", "2026-06-15", "--start-date", "2026-06-01", "--reason", "again", "-w", "a@b.co")
	if code != 1 || !strings.Contains(errOut, "already has an entry with entry date 2026-06-15") {
		t.Errorf("duplicate: exit %d %s", code, errOut)
	}
	// A second Initiate entry is refused (V6).
	code, _, errOut = runMain(t, "create", table, "--sql-dir", dir, "--today", "2026-06-16", "--start-date", "2026-06-01", "--reason", "again", "-w", "a@b.co")
	if code != 1 || !strings.Contains(errOut, "[V6]") {
		t.Errorf("second Initiate: exit %d %s", code, errOut)
	}
	if again, _ := os.ReadFile(file); string(again) != want {
		t.Errorf("refused creates changed the file")
	}
	// Field rules apply: a start after the end.
	if code, _, errOut := runMain(t, "create", "moz-fx-data-shared-prod.test_derived.history_v1", "--sql-dir", dir, "--today", "2026-06-15", "--start-date", "2026-06-12", "--end-date", "2026-06-11", "--reason", "x", "-w", "a@b.co"); code != 1 || !strings.Contains(errOut, "[P7]") {
		t.Errorf("start after end: exit %d %s", code, errOut)
	}
}

// TestCreateKeepsExistingText: adding to a hand-written file keeps its
// entries as they were; the placeholder watcher and end date today warn.
func TestCreateKeepsExistingText(t *testing.T) {
	dir := copyTree(t)
	file := filepath.Join(dir, "moz-fx-data-shared-prod", "test_derived", "history_v1", "backfill.yaml")
	before, _ := os.ReadFile(file)
	code, _, errOut := runMain(t, "create", "moz-fx-data-shared-prod.test_derived.history_v1", "--sql-dir", dir, "--today", "2026-06-15", "--start-date", "2026-06-01", "--reason", "More.")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if !strings.Contains(errOut, "[V1]") || !strings.Contains(errOut, "[R17]") {
		t.Errorf("warnings missing: %s", errOut)
	}
	after, _ := os.ReadFile(file)
	if !strings.HasSuffix(string(after), "\n\n"+string(before)) || !strings.HasPrefix(string(after), "2026-06-15:\n") || !strings.Contains(string(after), "  - nobody@mozilla.com\n") {
		t.Errorf("file:\n%s", after)
	}
}

func TestCreateScriptAndNewTable(t *testing.T) {
	dir := copyTree(t)
	code, _, errOut := runMain(t, "create", "moz-fx-data-experiments.monitoring.brand_new_v1", "--sql-dir", dir, "--today", "2026-06-15",
		"--start-date", "2026-06-01", "--end-date", "2026-06-02", "--reason", "New script table.", "-w", "a@b.co",
		"--query-script-entrypoint", "main", "--query-script-date-arg", "date", "--reinitialize-sampling-batch-size", "10",
		"--custom-query-path", "sql/moz-fx-data-experiments/monitoring/script_v1/query.py")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	got, _ := os.ReadFile(filepath.Join(dir, "moz-fx-data-experiments", "monitoring", "brand_new_v1", "backfill.yaml"))
	staging := "moz-fx-data-shared-prod.backfills_staging_derived.moz_fx_data_experiments__monitoring__brand_new_v1_2026_06_15"
	for _, want := range []string{
		"  custom_query_path: sql/moz-fx-data-experiments/monitoring/script_v1/query.py\n",
		"  reinitialize_sampling_batch_size: 10\n",
		"  query_script_args:\n  - --destination-table=" + staging + "\n",
		"\n# WARNING: Destination tables arguments for python scripts",
	} {
		if !strings.Contains(string(got), want) {
			t.Errorf("file lacks %q:\n%s", want, got)
		}
	}
	if !strings.HasSuffix(string(got), "# Destination table should be "+staging+" in order for the copy to production to work.") {
		t.Errorf("file does not end with the destination comment:\n%s", got)
	}
}
