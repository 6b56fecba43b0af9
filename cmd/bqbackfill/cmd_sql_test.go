package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bqbackfill/bqbackfill/shared/warehouse"
	"github.com/bqbackfill/bqbackfill/shared/warehouse/duckdb"
)

// runMainStdin is runMain with standard input.
func runMainStdin(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := Main(context.Background(), args, strings.NewReader(stdin), &out, &errOut)
	return code, out.String(), errOut.String()
}

// sqlFixture loads a small partitioned table into a fresh state directory
// with one sql invocation (several statements) and returns the directory.
func sqlFixture(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	code, out, errOut := runMain(t, "sql", "--state-dir", dir, `
		CREATE SCHEMA IF NOT EXISTS `+"`my-project.analysis`"+`;
		CREATE TABLE `+"`my-project.analysis.events_v1`"+` (submission_date DATE NOT NULL, client_id STRING, n INT64, ratio NUMERIC)
			PARTITION BY submission_date OPTIONS(labels = [("owner", "cli")]);
		INSERT INTO `+"`my-project.analysis.events_v1`"+` VALUES
			('2024-01-01', 'a', 1, 0.5), ('2024-01-01', 'b', NULL, 1.25), ('2024-01-02', 'c; not a separator', 3, NULL);`)
	if code != 0 {
		t.Fatalf("loading the fixture: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	if want := "num_dml_affected_rows\n---------------------\n3\n(1 row)\n"; out != want {
		t.Errorf("fixture output:\n%s\nwant:\n%s", out, want)
	}
	return dir
}

func TestSQLCommandFormats(t *testing.T) {
	dir := sqlFixture(t)
	query := "SELECT submission_date, client_id, n, ratio FROM `my-project.analysis.events_v1` WHERE submission_date >= @since ORDER BY client_id"
	tests := []struct {
		format string
		want   string
	}{
		{"table", "" +
			"submission_date  client_id           n     ratio\n" +
			"---------------  ------------------  ----  -----\n" +
			"2024-01-01       a                   1     0.5\n" +
			"2024-01-01       b                   NULL  1.25\n" +
			"2024-01-02       c; not a separator  3     NULL\n" +
			"(3 rows)\n"},
		{"csv", "" +
			"submission_date,client_id,n,ratio\n" +
			"2024-01-01,a,1,0.5\n" +
			"2024-01-01,b,,1.25\n" +
			"2024-01-02,c; not a separator,3,\n"},
		{"json", `[
  {"submission_date": "2024-01-01", "client_id": "a", "n": 1, "ratio": "0.5"},
  {"submission_date": "2024-01-01", "client_id": "b", "n": null, "ratio": "1.25"},
  {"submission_date": "2024-01-02", "client_id": "c; not a separator", "n": 3, "ratio": null}
]
`},
	}
	for _, tt := range tests {
		t.Run(tt.format, func(t *testing.T) {
			code, out, errOut := runMain(t, "sql", "--state-dir", dir, "--format", tt.format, "--param", "since:DATE:2024-01-01", query)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			if out != tt.want {
				t.Errorf("output:\n%s\nwant:\n%s", out, tt.want)
			}
		})
	}
	// JSON output parses as an array of objects.
	code, out, _ := runMain(t, "sql", "--state-dir", dir, "--format", "json", "--project", "my-project", "--dataset", "analysis",
		"--param", "client::c; not a separator",
		"SELECT COUNT(*) AS c, ARRAY_AGG(client_id) AS ids, STRUCT(1 AS a) AS s FROM events_v1 WHERE client_id = @client")
	var rows []map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &rows) != nil || len(rows) != 1 || rows[0]["c"] != float64(1) {
		t.Fatalf("exit %d, output %s", code, out)
	}
	if ids, ok := rows[0]["ids"].([]any); !ok || len(ids) != 1 || ids[0] != "c; not a separator" {
		t.Errorf("ids = %v", rows[0]["ids"])
	}
	// An empty result prints an empty array, a header only, or "(0 rows)".
	empty := "SELECT client_id FROM `my-project.analysis.events_v1` WHERE FALSE"
	for format, want := range map[string]string{"json": "[]\n", "csv": "client_id\n", "table": "client_id\n---------\n(0 rows)\n"} {
		if code, out, _ := runMain(t, "sql", "--state-dir", dir, "--format", format, empty); code != 0 || out != want {
			t.Errorf("%s of an empty result: exit %d, output %q, want %q", format, code, out, want)
		}
	}
	// DDL prints OK.
	if code, out, _ := runMain(t, "sql", "--state-dir", dir, "DROP TABLE `my-project.analysis.events_v1`"); code != 0 || out != "OK\n" {
		t.Errorf("DROP TABLE: exit %d, output %q", code, out)
	}
}

func TestSQLCommandStdinAndState(t *testing.T) {
	dir := sqlFixture(t)
	var stdin = "SELECT COUNT(*) AS n FROM `my-project.analysis.events_v1`;"
	code, out, errOut := runMainStdin(t, stdin, "sql", "--state-dir", dir, "--format", "csv", "-")
	if code != 0 || out != "n\n3\n" {
		t.Fatalf("SQL from stdin: exit %d, output %q, stderr %s", code, out, errOut)
	}
	// The command left the warehouse closed and consistent: it opens in process.
	w, err := duckdb.Open(filepath.Join(dir, "warehouse"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	md, err := w.Table(context.Background(), warehouse.TableRef{Project: "my-project", Dataset: "analysis", Table: "events_v1"})
	if err != nil {
		t.Fatal(err)
	}
	if md.PartitionField != "submission_date" || md.Labels["owner"] != "cli" || md.NumRows != 3 {
		t.Errorf("table metadata = %+v", md)
	}
	// Pointing --state-dir at the warehouse directory itself works too.
	code, out, errOut = runMain(t, "sql", "--state-dir", filepath.Join(dir, "warehouse"), "--format", "csv", "SELECT 1 AS one")
	if code != 1 || !strings.Contains(errOut, "in use") {
		t.Errorf("warehouse dir while open elsewhere: exit %d, output %q, stderr %s", code, out, errOut)
	}
	// While it is open, the command refuses and names the directory.
	code, _, errOut = runMain(t, "sql", "--state-dir", dir, "SELECT 1")
	if code != 1 || !strings.Contains(errOut, filepath.Join(dir, "warehouse")) || !strings.Contains(errOut, "in use") {
		t.Errorf("locked state dir: exit %d, stderr %s", code, errOut)
	}
}

func TestSQLCommandWarehouseDir(t *testing.T) {
	dir := sqlFixture(t)
	query := "SELECT COUNT(*) AS n FROM `my-project.analysis.events_v1`"
	for _, stateDir := range []string{dir, filepath.Join(dir, "warehouse")} {
		code, out, errOut := runMain(t, "sql", "--state-dir", stateDir, "--format", "csv", query)
		if code != 0 || out != "n\n3\n" {
			t.Errorf("--state-dir %s: exit %d, output %q, stderr %s", stateDir, code, out, errOut)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "warehouse", "warehouse")); !os.IsNotExist(err) {
		t.Errorf("a nested warehouse directory was created: %v", err)
	}
}

func TestSQLCommandErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		args     []string
		code     int
		inStderr string
	}{
		{[]string{"sql", "--state-dir", dir}, 2, "exactly one SQL argument"},
		{[]string{"sql", "--state-dir", dir, "--format", "xml", "SELECT 1"}, 2, "--format"},
		{[]string{"sql", "--state-dir", dir, "--param", "nocolons", "SELECT 1"}, 2, "name:TYPE:value"},
		{[]string{"sql", "--state-dir", dir, "--param", "d:DATE:2024-02-30", "SELECT @d"}, 2, "not a date"},
		{[]string{"sql", "--state-dir", dir, "--dataset", "d", "SELECT 1"}, 2, "--dataset needs --project"},
		{[]string{"sql", "--state-dir", dir, "   "}, 2, "empty"},
		{[]string{"sql", "--state-dir", dir, "SELEC 1"}, 1, "InvalidArgument"},
		{[]string{"sql", "--state-dir", dir, "ALTER TABLE p.d.t ADD COLUMN x INT64"}, 1, "ALTER TABLE is not supported"},
		{[]string{"sql", "--state-dir", dir, "SELECT * FROM `p.d.missing`"}, 1, "NotFound"},
	}
	for _, tt := range tests {
		code, _, errOut := runMain(t, tt.args...)
		if code != tt.code || !strings.Contains(errOut, tt.inStderr) {
			t.Errorf("%q: exit %d, stderr %q; want exit %d mentioning %q", tt.args[3:], code, errOut, tt.code, tt.inStderr)
		}
	}
	// Asked-for help goes to stdout, like every command's.
	if code, out, _ := runMain(t, "sql", "-h"); code != 0 || !strings.Contains(out, "Usage:") {
		t.Errorf("sql -h: exit %d, stdout %q", code, out)
	}
}
