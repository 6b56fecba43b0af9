package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"cloud.google.com/go/civil"

	"github.com/bqbackfill/bqbackfill/shared/local"
)

// TestCheckAndDiff runs the demo backfill to staging with a checks.sql,
// then check (staging and production) and diff.
func TestCheckAndDiff(t *testing.T) {
	ctx := context.Background()
	today := civil.Date{Year: 2026, Month: 11, Day: 25}
	state := t.TempDir()
	s, err := local.Open(ctx, local.Options{StateDir: state})
	if err != nil {
		t.Fatal(err)
	}
	if err := local.LoadDemoData(ctx, s.DuckDB, today); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	sqlDir, err := local.WriteDemoTree(t.TempDir(), today)
	if err != nil {
		t.Fatal(err)
	}
	tbl := local.DemoTable
	checksSQL := "#fail\n{{ not_null(['country'], \"submission_date = @submission_date\") }}\n#warn\n{{ min_row_count(1000, \"submission_date = @submission_date\") }}\n"
	if err := os.WriteFile(filepath.Join(sqlDir, tbl.Project, tbl.Dataset, tbl.Table, "checks.sql"), []byte(checksSQL), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, out, errOut := runMain(t, "run", "--sql-dir", sqlDir, "--state-dir", state, "--today", today.String()); code != 0 {
		t.Fatalf("run: exit %d\n%s\n%s", code, out, errOut)
	}

	code, out, errOut := runMain(t, "status", tbl.String(), "--state-dir", state)
	if code != 0 || !strings.Contains(out, "check warning: 20261115: checks.sql check 2 (#warn) failed: ") {
		t.Errorf("status does not report the #warn failures: exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = runMain(t, "check", tbl.String(), "--state-dir", state, "--partition", "2026-11-15", "--json")
	if code != 0 {
		t.Fatalf("check: exit %d\n%s\n%s", code, out, errOut)
	}
	var rows []checkRow
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatalf("check --json: %v\n%s", err, out)
	}
	if len(rows) != 2 || rows[0].Partition != "20261115" || !rows[0].Passed || !rows[0].Fail || rows[1].Passed || !rows[1].Warn ||
		!strings.Contains(rows[1].Message, "Min Row Count Error") || !strings.Contains(rows[1].SQL, "backfills_staging_derived") {
		t.Errorf("check rows = %+v", rows)
	}
	code, out, _ = runMain(t, "check", tbl.String(), "--state-dir", state, "--partition", "20261115", "--production")
	if code != 0 || !strings.Contains(out, "20261115  checks.sql check 2 (#warn) failed: ") {
		t.Errorf("check --production: exit %d\n%s", code, out)
	}
	if code, _, errOut := runMain(t, "check", tbl.String(), "--state-dir", state, "--partition", "1999-01-01"); code != 2 || !strings.Contains(errOut, "not a partition") {
		t.Errorf("check of a foreign partition: exit %d, %s", code, errOut)
	}

	code, out, errOut = runMain(t, "diff", tbl.String(), "--state-dir", state, "--json")
	if code != 0 {
		t.Fatalf("diff: exit %d\n%s\n%s", code, out, errOut)
	}
	var changes []struct {
		Partition, Metric string
		Relative          *float64
	}
	if err := json.Unmarshal([]byte(out), &changes); err != nil || len(changes) == 0 {
		t.Fatalf("diff --json: %v\n%s", err, out)
	}
	if changes[0].Relative == nil || *changes[0].Relative == 0 {
		t.Errorf("diff does not start with a change: %+v", changes[0])
	}
}
