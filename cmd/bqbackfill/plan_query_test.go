package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPlanShredder: plan shows that the entry uses mitigation, the
// previous version and every column's role and type; --show-query prints
// the generated query and checks (and --json carries both).
func TestPlanShredder(t *testing.T) {
	// The tables of the local end-to-end test, with an Initiate entry.
	sqlDir := filepath.Join(t.TempDir(), "sql")
	if err := os.CopyFS(sqlDir, os.DirFS("../../shared/local/testdata/shredder/sql")); err != nil {
		t.Fatal(err)
	}
	entry := "2026-06-10:\n  start_date: 2026-06-01\n  end_date: 2026-06-02\n  reason: New version by os (TEST-2).\n  watchers:\n  - test@example.com\n  status: Initiate\n  shredder_mitigation: true\n"
	if err := os.WriteFile(filepath.Join(sqlDir, "moz-fx-data-shared-prod", "test_derived", "usage_v2", "backfill.yaml"), []byte(entry), 0o644); err != nil {
		t.Fatal(err)
	}
	const table = "moz-fx-data-shared-prod.test_derived.usage_v2"
	code, out, errOut := runMain(t, "plan", "--sql-dir", sqlDir, "--today", "2026-06-15", "--show-query", table)
	if code != 0 {
		t.Fatalf("exit %d: %s\n%s", code, errOut, out)
	}
	for _, want := range []string{
		"shredder:          mitigation: the generated query and its two #fail checks run per partition",
		"previous version: moz-fx-data-shared-prod.test_derived.usage_v1 (partition submission_date = @submission_date)",
		"new GROUP BY: submission_date, channel, os",
		"common_dimension   STRING     channel",
		"added_dimension    STRING     os",
		"common_metric      INTEGER    clicks",
		"added_metric       INTEGER    sessions",
		"-- Query generated using a template for shredder mitigation.",
		"`moz-fx-data-shared-prod.test_derived.usage_v1`",
		"FROM\n    `moz-fx-data-shared-prod.backfills_staging_derived.test_derived__usage_v2_2026_06_10`",
		"#fail\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("plan --show-query lacks %q:\n%s", want, out)
		}
	}
	// Without --show-query no SQL is printed.
	if _, out, _ := runMain(t, "plan", "--sql-dir", sqlDir, "--today", "2026-06-15", table); strings.Contains(out, "WITH new_version") {
		t.Errorf("plan without --show-query printed SQL:\n%s", out)
	}

	code, out, errOut = runMain(t, "plan", "--sql-dir", sqlDir, "--today", "2026-06-15", "--json", "--show_query", table)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var p struct {
		Shredder struct {
			Previous string `json:"previous_version"`
			Columns  []struct{ Name, Type, Role string }
		} `json:"shredder"`
		Query struct {
			SQL    string `json:"sql"`
			Checks string `json:"shredder_checks"`
		} `json:"query_sql"`
	}
	if err := json.Unmarshal([]byte(out), &p); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if p.Shredder.Previous != "moz-fx-data-shared-prod.test_derived.usage_v1" || len(p.Shredder.Columns) != 6 ||
		!strings.HasPrefix(p.Query.SQL, "-- Query generated") || strings.Count(p.Query.Checks, "#fail") != 2 {
		t.Errorf("plan --json: %+v", p)
	}
}

// TestPlanShowQueryPromotion: --show-query shows the spec the scanner
// stores, the table's configured promotion included (plan once built it
// without the settings, so it could not say which promotion runs).
func TestPlanShowQueryPromotion(t *testing.T) {
	for _, c := range []struct {
		name, settings, want string
	}{
		{"default", "", "copy, one WRITE_TRUNCATE copy job per partition"},
		{"per table", "promotion:\n  default: copy\n  tables:\n    p.d.t: atomic\n", "atomic, one transaction per 4000 partitions"},
	} {
		t.Run(c.name, func(t *testing.T) {
			sqlDir, stateDir := estimateTree(t, c.settings)
			code, out, errOut := runMain(t, "plan", "--sql-dir", sqlDir, "--state-dir", stateDir, "--today", "2026-06-15", "--show-query", "p.d.t")
			if code != 0 {
				t.Fatalf("exit %d: %s\n%s", code, errOut, out)
			}
			if want := "-- Promotion (bqbackfill.yaml promotion:): " + c.want; !strings.Contains(out, want) {
				t.Errorf("plan --show-query lacks %q:\n%s", want, out)
			}
			code, out, errOut = runMain(t, "plan", "--sql-dir", sqlDir, "--state-dir", stateDir, "--today", "2026-06-15", "--show-query", "--json", "p.d.t")
			if code != 0 {
				t.Fatalf("exit %d: %s\n%s", code, errOut, out)
			}
			var p struct {
				Query struct {
					SQL       string `json:"sql"`
					Promotion string `json:"promotion"`
				} `json:"query_sql"`
				Estimate struct {
					Promotion string `json:"promotion"`
				} `json:"estimate"`
			}
			if err := json.Unmarshal([]byte(out), &p); err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			mode, _, _ := strings.Cut(c.want, ",")
			if p.Query.Promotion != mode || p.Estimate.Promotion != mode || !strings.Contains(p.Query.SQL, "`p.d.src`") {
				t.Errorf("plan --json --show-query: query %+v, estimate %+v; want promotion %s in both", p.Query, p.Estimate, mode)
			}
		})
	}
}
