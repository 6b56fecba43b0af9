package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRunReportsUnreadable: run names every input it cannot read — a
// backfill.yaml that does not parse, a directory that cannot be a table —
// runs the other tables, and exits 1; validate reports the same first
// (review: hostile input, items 5 and 13).
func TestRunReportsUnreadable(t *testing.T) {
	dir := copyTree(t)
	day := filepath.Join(dir, "moz-fx-data-shared-prod", "test_derived", "day_v1", "backfill.yaml")
	if err := os.WriteFile(day, []byte("2026-06-10: [\xff\xfe\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "moz-fx-data-shared-prod", "test_derived", "bad name"), 0o755); err != nil {
		t.Fatal(err)
	}
	wants := []string{"day_v1/backfill.yaml", "[P2]", "test_derived/bad name", "[T2]"}
	code, out, errOut := runMain(t, "validate", "--sql-dir", dir, "--today", "2026-06-15")
	if code != 1 {
		t.Errorf("validate: exit %d", code)
	}
	for _, w := range wants {
		if !strings.Contains(out, w) {
			t.Errorf("validate does not report %q:\n%s", w, out)
		}
	}
	code, out, errOut = runMain(t, "run", "--sql-dir", dir, "--state-dir", t.TempDir(), "--today", "2026-06-15")
	if code != 1 {
		t.Errorf("run: exit %d", code)
	}
	for _, w := range append(wants, "could not be read") {
		if !strings.Contains(errOut, w) {
			t.Errorf("run does not report %q:\nstderr:\n%s", w, errOut)
		}
	}
	// The other tables ran.
	if !strings.Contains(out, "dop_v1/2026-06-12") {
		t.Errorf("run skipped the readable tables:\n%s", out)
	}
}

// TestRunInvalidSettings: an invalid bqbackfill.yaml fails run at once,
// naming the file and the problem, as validate does (item 5).
func TestRunInvalidSettings(t *testing.T) {
	dir := copyTree(t)
	if err := os.WriteFile(filepath.Join(dir, "bqbackfill.yaml"), []byte("retention_days: forever\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"run", "--sql-dir", dir, "--state-dir", t.TempDir()},
		{"validate", "--sql-dir", dir},
	} {
		code, out, errOut := runMain(t, args...)
		if code != 1 || !strings.Contains(errOut, "bqbackfill.yaml:1: retention_days") || strings.Contains(out, "Nothing to do") {
			t.Errorf("%s: exit %d\nstdout %s\nstderr %s", args[0], code, out, errOut)
		}
	}
}

// TestLinksRefusedEverywhere: a backfill.yaml linked to /dev/zero is
// refused the same way by validate, run and sync, with a message naming
// the file; nothing hangs or runs out of memory (item 8).
func TestLinksRefusedEverywhere(t *testing.T) {
	dir := copyTree(t)
	day := filepath.Join(dir, "moz-fx-data-shared-prod", "test_derived", "day_v1", "backfill.yaml")
	if err := os.Remove(day); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/dev/zero", day); err != nil {
		t.Fatal(err)
	}
	const msg = "day_v1/backfill.yaml: backfill.yaml is a symbolic link that leads outside the tree"
	code, out, _ := runMain(t, "validate", "--sql-dir", dir, "--today", "2026-06-15")
	if code != 1 || !strings.Contains(out, msg) || !strings.Contains(out, "[T3]") {
		t.Errorf("validate: exit %d\n%s", code, out)
	}
	state := t.TempDir()
	code, _, errOut := runMain(t, "run", "--sql-dir", dir, "--state-dir", state, "--today", "2026-06-15")
	if code != 1 || !strings.Contains(errOut, msg) {
		t.Errorf("run: exit %d\n%s", code, errOut)
	}
	code, out, errOut = runMain(t, "sync", "--sql-dir", dir, "--state-dir", state)
	if code != 1 || !strings.Contains(errOut, "day_v1/backfill.yaml: is a symbolic link that leads outside the tree") || !strings.Contains(out, "Synced") {
		t.Errorf("sync: exit %d\nstdout %s\nstderr %s", code, out, errOut)
	}
}

// TestPhaseWithoutEntry: complete on a table whose entry is still
// Initiate says so and exits 1 instead of "Nothing to do" (item 12).
func TestPhaseWithoutEntry(t *testing.T) {
	code, out, errOut := runMain(t, "complete", "moz-fx-data-shared-prod.test_derived.day_v1", "--sql-dir", testSQL, "--state-dir", t.TempDir(), "--today", "2026-06-15")
	if code != 1 || strings.Contains(out, "Nothing to do") || !strings.Contains(errOut, "entry 2026-06-10 in "+testSQL+"/moz-fx-data-shared-prod/test_derived/day_v1/backfill.yaml is still Initiate") {
		t.Errorf("exit %d\nstdout %s\nstderr %s", code, out, errOut)
	}
}

// TestRunLongTableName: a table name too long for a backfill id is
// reported by validate and run (T5) and run settles instead of retrying
// the ledger write forever (item 6).
func TestRunLongTableName(t *testing.T) {
	dir := copyTree(t)
	long := filepath.Join(dir, "moz-fx-data-shared-prod", "test_derived", "t_"+strings.Repeat("x", 200)+"_v1")
	if err := os.MkdirAll(long, 0o755); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dir, "moz-fx-data-shared-prod", "test_derived", "day_v1", "backfill.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(long, "backfill.yaml"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	if code, out, _ := runMain(t, "validate", "--sql-dir", dir, "--today", "2026-06-15"); code != 1 || !strings.Contains(out, "[T5]") {
		t.Errorf("validate: exit %d\n%s", code, out)
	}
	code, _, errOut := runMain(t, "run", "--sql-dir", dir, "--state-dir", t.TempDir(), "--today", "2026-06-15")
	if code != 1 || !strings.Contains(errOut, "[T5]") || strings.Contains(errOut, "invalid backfill id") {
		t.Errorf("run: exit %d\n%s", code, errOut)
	}
}
