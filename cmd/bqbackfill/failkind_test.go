package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bqbackfill/bqbackfill/shared/local"
)

// TestFailureKindAdvice: partitions that fail because the query is wrong
// are recorded with the kind "query", and the failure notice and status
// say to fix query.sql and add a new entry — not to retry, which re-runs
// the same recorded query (review: hostile input, item 10).
func TestFailureKindAdvice(t *testing.T) {
	s, state, sqlDir := openDemo(t, nil)
	s.Close()
	query := filepath.Join(sqlDir, local.DemoTable.Project, local.DemoTable.Dataset, local.DemoTable.Table, "query.sql")
	if err := os.WriteFile(query, []byte("SELECT no_such_column FROM `moz-fx-data-shared-prod.telemetry_live.events_v1` WHERE DATE(submission_timestamp) = @submission_date\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	table := local.DemoTable.String()
	code, out, errOut := runMain(t, "run", "--sql-dir", sqlDir, "--state-dir", state, "--today", "2026-11-25")
	if code != 1 {
		t.Fatalf("run: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	for _, want := range []string{"failed every attempt", "The query itself fails", "fix query.sql and add a new backfill entry"} {
		if !strings.Contains(out, want) {
			t.Errorf("the failure notice lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "`bqbackfill retry "+table+"`") {
		t.Errorf("the failure notice suggests retry for a wrong query:\n%s", out)
	}
	code, out, _ = runMain(t, "status", "--state-dir", state, "--json")
	var rows []backfillSummary
	if err := json.Unmarshal([]byte(out), &rows); err != nil || code != 0 || len(rows) != 1 {
		t.Fatalf("status --json: exit %d, %v\n%s", code, err, out)
	}
	if r := rows[0]; r.Failed == 0 || r.FailedKinds["query"] != r.Failed || len(r.Advice) != 1 || !strings.Contains(r.Advice[0], "fix query.sql") {
		t.Errorf("status --json: failed %d, kinds %v, advice %q; want every failure of kind query, advice to fix query.sql", r.Failed, r.FailedKinds, r.Advice)
	}
	code, out, _ = runMain(t, "status", "--state-dir", state)
	if code != 0 || !strings.Contains(out, "what to do: ") || !strings.Contains(out, "(query error)") {
		t.Errorf("status: exit %d\n%s", code, out)
	}
	// retry warns before it re-runs the same wrong query (and fails again).
	code, out, errOut = runMain(t, "retry", table, "--state-dir", state)
	if code != 1 || !strings.Contains(errOut, "failed with a query error") || !strings.Contains(errOut, "fix query.sql and add a new backfill entry") {
		t.Errorf("retry: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
}
