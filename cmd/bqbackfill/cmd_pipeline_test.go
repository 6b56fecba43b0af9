package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

// TestDemoThenCommands runs the demo in a state directory, then the
// commands a user tries next on it: run again (nothing to do), status,
// rollback, status.
func TestDemoThenCommands(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "demo")
	code, out, errOut := runMain(t, "demo", "--state-dir", dir, "--today", "2026-11-25")
	if code != 0 {
		t.Fatalf("demo exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	for _, want := range []string{"13/13 partitions in staging", "Backfill processing is done", "Backfill is complete", "fixed", "excluded: unchanged"} {
		if !strings.Contains(out, want) {
			t.Errorf("demo output lacks %q:\n%s", want, out)
		}
	}
	state := filepath.Join(dir, "state")
	sqlDir := filepath.Join(dir, "tree", "sql")

	code, out, errOut = runMain(t, "run", "--sql-dir", sqlDir, "--state-dir", state, "--today", "2026-11-25")
	if code != 0 || !strings.Contains(out, "Nothing to do") {
		t.Fatalf("second run: exit %d, out %q, err %q", code, out, errOut)
	}

	status := func() []backfillSummary {
		t.Helper()
		code, out, errOut := runMain(t, "status", "--state-dir", state, "--json")
		if code != 0 {
			t.Fatalf("status: exit %d: %s", code, errOut)
		}
		var rows []backfillSummary
		if err := json.Unmarshal([]byte(out), &rows); err != nil {
			t.Fatalf("status --json: %v\n%s", err, out)
		}
		return rows
	}
	rows := status()
	if len(rows) != 1 || rows[0].State != "completed" || rows[0].Done != 13 || rows[0].Partitions != 13 ||
		!strings.HasSuffix(rows[0].Backup, "daily_active_users_v1_backup_2026_11_25") {
		t.Fatalf("status = %+v", rows)
	}

	table := "moz-fx-data-shared-prod.telemetry_derived.daily_active_users_v1"
	code, out, errOut = runMain(t, "rollback", table, "--state-dir", state)
	if code != 0 || !strings.Contains(out, "restored 13 partition(s)") {
		t.Fatalf("rollback: exit %d, out %q, err %q", code, out, errOut)
	}
	if rows := status(); rows[0].State != "rolled_back" {
		t.Fatalf("after rollback: %+v", rows)
	}
	// retry of a backfill in another state names it and its state, not
	// "not found" alone (review: hostile input, item 12).
	code, _, errOut = runMain(t, "retry", table, "--state-dir", state)
	if code != 1 || !strings.Contains(errOut, "the newest, "+table+"/2026-11-25, is rolled_back") {
		t.Errorf("retry of a rolled back backfill: exit %d, stderr %q", code, errOut)
	}
	code, out, _ = runMain(t, "sql", "--state-dir", state, "--format", "json",
		"SELECT SUM(dau) AS n FROM `"+table+"` WHERE submission_date = DATE '2026-11-11'")
	if code != 0 || !strings.Contains(out, `"n": 19`) && !strings.Contains(out, `"n":19`) {
		t.Fatalf("production after rollback should hold the original 19 users on 2026-11-11: %s", out)
	}
}

func TestPipelineCommandUsage(t *testing.T) {
	for _, args := range [][]string{
		{"run", "--sql-dir", "/does/not/exist", "--state-dir", t.TempDir()},
		{"run", "extra-arg"},
		{"retry"},
		{"rollback", "not-a-table"},
		{"initiate", "a.b.c", "d.e.f"},
		{"status", "a.b.c", "d.e.f"},
		{"run", "--today", "yesterday"},
	} {
		code, _, errOut := runMain(t, args...)
		if code != 2 {
			t.Errorf("%q: exit %d, want 2 (usage); stderr %q", args, code, errOut)
		}
	}
}

func TestRetryWithoutFailure(t *testing.T) {
	code, _, errOut := runMain(t, "retry", "p.d.t", "--state-dir", t.TempDir())
	if code != 1 || !strings.Contains(errOut, "no backfill of p.d.t") {
		t.Fatalf("retry on an empty ledger: exit %d, stderr %q", code, errOut)
	}
}
