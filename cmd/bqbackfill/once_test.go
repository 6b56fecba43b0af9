package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRunSaysEachProblemOnce: a backfill.yaml that does not parse is
// named once by run, however many scan rounds the other tables take (it
// was logged again by every round).
func TestRunSaysEachProblemOnce(t *testing.T) {
	dir := copyTree(t)
	day := filepath.Join(dir, "moz-fx-data-shared-prod", "test_derived", "day_v1", "backfill.yaml")
	if err := os.WriteFile(day, []byte("2026-06-10: [\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runMain(t, "run", "--sql-dir", dir, "--state-dir", t.TempDir(), "--today", "2026-06-15")
	if code != 1 || !strings.Contains(out, "dop_v1/2026-06-12") {
		t.Fatalf("run: exit %d, the other tables did not run?\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	if n := strings.Count(errOut, "day_v1/backfill.yaml"); n != 1 {
		t.Errorf("run named the unreadable file %d times, want once:\n%s", n, errOut)
	}
}
