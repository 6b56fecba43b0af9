package main

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestScheduledCommand(t *testing.T) {
	code, out, errOut := runMain(t, "scheduled", "--sql-dir", testSQL, "--today", "2026-06-15", "--json")
	if code != 1 || !strings.Contains(errOut, "broken_v1: entry 2026-06-10 is not valid") {
		t.Errorf("exit %d, stderr %s", code, errOut)
	}
	var got []map[string]any
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("%d scheduled: %s", len(got), out)
	}
	first := got[0]
	if first["qualified_table_name"] != "moz-fx-data-experiments.monitoring.script_v1" ||
		first["staging_table"] != "moz-fx-data-shared-prod.backfills_staging_derived.moz_fx_data_experiments__monitoring__script_v1_2026_06_11" ||
		first["backup_table"] != "moz-fx-data-shared-prod.backfills_staging_derived.moz_fx_data_experiments__monitoring__script_v1_backup_2026_06_11" ||
		first["entry_date"] != "2026-06-11" {
		t.Errorf("first %v", first)
	}
	code, out, _ = runMain(t, "scheduled", "--sql-dir", testSQL, "--today", "2026-06-15", "--status", "Complete", "--json", "--target", "dev")
	if code != 0 || !strings.Contains(out, `"staging_table": "sandbox.backfills_staging_derived.test_derived__day_v1_2026_05_01"`) {
		t.Errorf("complete under target: exit %d\n%s", code, out)
	}
	code, out, _ = runMain(t, "scheduled", "--sql-dir", testSQL, "--today", "2026-07-20", "--status", "Complete", "--json", "--ignore-old-entries")
	if code != 0 || strings.TrimSpace(out) != "[]" {
		t.Errorf("old entries: exit %d\n%s", code, out)
	}
}
