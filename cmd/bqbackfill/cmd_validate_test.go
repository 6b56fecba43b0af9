package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// runMain runs the CLI in process and returns exit code, stdout, stderr.
func runMain(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := Main(context.Background(), args, strings.NewReader(""), &out, &errOut)
	return code, out.String(), errOut.String()
}

const testSQL = "testdata/sql"

// copyTree copies testdata/sql into a temporary directory for commands
// that write.
func copyTree(t *testing.T) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "sql")
	err := filepath.WalkDir(testSQL, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(testSQL, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

func TestValidateCommand(t *testing.T) {
	code, out, _ := runMain(t, "validate", "--sql-dir", testSQL, "--today", "2026-06-15")
	if code != 1 {
		t.Fatalf("exit %d, want 1:\n%s", code, out)
	}
	for _, want := range []string{
		"sql/moz-fx-data-shared-prod/test_derived/broken_v1/backfill.yaml:5: entry 2026-06-10: watchers: default watcher found",
		"[V1]",
		`unknown field "overide_retention_limit": did you mean override_retention_limit? [P16]`,
		"1 of 5 table(s) have invalid backfill entries",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}

	code, out, _ = runMain(t, "validate", "--sql_dir", testSQL, "--today", "2026-06-15", "--json")
	if code != 1 {
		t.Fatalf("exit %d", code)
	}
	var results []struct {
		Table  string `json:"table"`
		Valid  bool   `json:"valid"`
		Errors []struct {
			Rule      string `json:"rule"`
			EntryDate string `json:"entry_date"`
			Message   string `json:"message"`
			File      string `json:"file"`
			Field     string `json:"field"`
		} `json:"errors"`
	}
	if err := json.Unmarshal([]byte(out), &results); err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	if len(results) != 5 {
		t.Fatalf("%d results", len(results))
	}
	for _, r := range results {
		broken := r.Table == "moz-fx-data-shared-prod.test_derived.broken_v1"
		if r.Valid == broken {
			t.Errorf("%s valid=%v", r.Table, r.Valid)
		}
		if broken && (len(r.Errors) != 2 || r.Errors[0].Rule != "V1" || r.Errors[0].EntryDate != "2026-06-10" || r.Errors[0].Field != "watchers" || r.Errors[0].Message == "") {
			t.Errorf("broken errors %+v", r.Errors)
		}
	}

	if code, out, _ := runMain(t, "validate", "--sql-dir", testSQL, "--today", "2026-06-15", "moz-fx-data-shared-prod.test_derived.day_v1", "sql/moz-fx-data-shared-prod/test_derived/dop_v1/backfill.yaml"); code != 0 || !strings.Contains(out, "All 2 backfill.yaml file(s) are valid.") {
		t.Errorf("valid tables: exit %d\n%s", code, out)
	}
	// Entry age is measured from --today.
	if code, out, _ := runMain(t, "validate", "--sql-dir", testSQL, "--today", "2026-07-20", "moz-fx-data-shared-prod.test_derived.day_v1"); code != 1 || !strings.Contains(out, "[V8]") {
		t.Errorf("old entry: exit %d\n%s", code, out)
	}
}

// TestValidateMissingTable covers rule T1 and the usage errors.
func TestValidateMissingTable(t *testing.T) {
	code, out, _ := runMain(t, "validate", "--sql-dir", testSQL, "--json", "p.d.nothing_here")
	if code != 1 || !strings.Contains(out, `"rule": "T1"`) {
		t.Errorf("missing table: exit %d\n%s", code, out)
	}
	for _, args := range [][]string{
		{"validate", "--sql-dir", testSQL, "not-a-table"},
		{"validate", "--sql-dir", testSQL, "--today", "tomorrow"},
		{"validate", "--sql-dir", "testdata/does-not-exist"},
		{"validate", "--no-such-flag"},
		{"info", "--sql-dir", testSQL, "--status", "Running"},
		{"plan", "--sql-dir", testSQL},
		{"plan", "--sql-dir", testSQL, "--target", "prod", "moz-fx-data-shared-prod.test_derived.day_v1"},
		{"create", "--sql-dir", testSQL, "moz-fx-data-shared-prod.test_derived.new_v1", "--start-date", "2026-06-01"},
		{"create", "--sql-dir", testSQL, "moz-fx-data-shared-prod.test_derived.new_v1", "--reason", "x"},
	} {
		if code, _, errOut := runMain(t, args...); code != 2 || !strings.Contains(errOut, "Error:") {
			t.Errorf("%v: exit %d, want 2; stderr %s", args, code, errOut)
		}
	}
	if code, _, _ := runMain(t, "validate", "-h"); code != 0 {
		t.Errorf("-h: exit %d", code)
	}
}
