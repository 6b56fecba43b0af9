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

func TestInfoCommand(t *testing.T) {
	code, out, _ := runMain(t, "info", "--sql-dir", testSQL, "--status", "complete", "--json")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	var entries []map[string]any
	if err := json.Unmarshal([]byte(out), &entries); err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 {
		t.Fatalf("%d Complete entries, want 2: %s", len(entries), out)
	}
	for _, e := range entries {
		if e["status"] != "Complete" || e["qualified_table_name"] == nil || e["entry_hash"] == nil || e["file"] == nil {
			t.Errorf("entry %v", e)
		}
	}
	code, out, _ = runMain(t, "info", "--sql-dir", testSQL, "moz-fx-data-shared-prod.test_derived.day_v1")
	if code != 0 || !strings.Contains(out, "moz-fx-data-shared-prod.test_derived.day_v1 has 2 backfill(s):") || !strings.Contains(out, "There are a total of 2 backfill(s).") {
		t.Errorf("exit %d\n%s", code, out)
	}
}

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
