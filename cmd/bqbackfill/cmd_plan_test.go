package main

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestPlanCommand(t *testing.T) {
	code, out, errOut := runMain(t, "plan", "--sql-dir", testSQL, "--today", "2026-06-15", "--json", "moz-fx-data-shared-prod.test_derived.dop_v1")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var p struct {
		Staging    string `json:"staging_table"`
		Backup     string `json:"backup_table"`
		Billing    string `json:"billing_project"`
		Sequential bool   `json:"sequential"`
		Valid      bool   `json:"valid"`
		Seed       *struct {
			ID string `json:"id"`
		} `json:"seed"`
		Partitions []struct {
			ID         string `json:"id"`
			Date       string `json:"date"`
			ParamName  string `json:"param_name"`
			ParamValue string `json:"param_value"`
		} `json:"partitions"`
	}
	if err := json.Unmarshal([]byte(out), &p); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if p.Staging != "moz-fx-data-shared-prod.backfills_staging_derived.test_derived__dop_v1_2026_06_12" ||
		p.Backup != "moz-fx-data-shared-prod.backfills_staging_derived.test_derived__dop_v1_backup_2026_06_12" ||
		p.Billing != "moz-fx-data-backfill-slots" || !p.Sequential || !p.Valid || p.Seed == nil || p.Seed.ID != "20260531" ||
		len(p.Partitions) != 12 || p.Partitions[0].ID != "20260601" || p.Partitions[0].ParamName != "submission_date" || p.Partitions[0].ParamValue != "2026-06-01" {
		t.Errorf("plan %+v", p)
	}

	code, out, _ = runMain(t, "plan", "--sql-dir", testSQL, "--today", "2026-06-15", "--target", "dev", "moz-fx-data-shared-prod.test_derived.day_v1")
	for _, want := range []string{
		"staging table:     sandbox.backfills_staging_derived.test_derived__day_v1_2026_06_10",
		"effective table:   sandbox.dev__moz_fx_data_shared_prod__test_derived.day_v1",
		"billing project:   sandbox",
		"20260603",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("target plan lacks %q:\n%s", want, out)
		}
	}
	if code != 0 {
		t.Errorf("exit %d", code)
	}
	// An invalid entry still shows its plan, then the problems, and exits 1.
	code, out, _ = runMain(t, "plan", "--sql-dir", testSQL, "--today", "2026-06-15", "moz-fx-data-shared-prod.test_derived.broken_v1")
	if code != 1 || !strings.Contains(out, "partitions:") || !strings.Contains(out, "[V1]") {
		t.Errorf("broken plan: exit %d\n%s", code, out)
	}
	// The script table under a target is refused (R5).
	if code, _, errOut := runMain(t, "plan", "--sql-dir", testSQL, "--today", "2026-06-15", "--target", "dev", "moz-fx-data-experiments.monitoring.script_v1"); code != 1 || !strings.Contains(errOut, "--target is not supported") {
		t.Errorf("script under target: exit %d %s", code, errOut)
	}
}
