package shredder_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/bqbackfill/bqbackfill/shared/metadata"
	"github.com/bqbackfill/bqbackfill/shared/shredder"
	"github.com/bqbackfill/bqbackfill/shared/warehouse"
	"github.com/bqbackfill/bqbackfill/shared/warehouse/duckdb"
)

// The worked example of reference shredder-mitigation.md §9–§11: agg_v1
// and agg_v2 (which adds the dimension os and the metric clicks).
var (
	v1     = warehouse.TableRef{Project: "p", Dataset: "d", Table: "agg_v1"}
	v2     = warehouse.TableRef{Project: "p", Dataset: "d", Table: "agg_v2"}
	source = warehouse.TableRef{Project: "p", Dataset: "d", Table: "events"}
	stage  = warehouse.TableRef{Project: "p", Dataset: "d", Table: "agg_v2_staging"}
)

func readFixture(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "example", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func schemaFields(t *testing.T, name string) []metadata.Field {
	t.Helper()
	s, err := metadata.ParseSchema([]byte(readFixture(t, name)), name)
	if err != nil {
		t.Fatal(err)
	}
	return s.Fields
}

func examplePlan(t *testing.T) *shredder.Mitigation {
	t.Helper()
	m, err := shredder.Plan(shredder.Input{
		Previous:      v1,
		NewQuery:      readFixture(t, "agg_v2.sql"),
		PreviousQuery: readFixture(t, "agg_v1.sql"),
		NewQueryFile:  "agg_v2/query.sql", PreviousQueryFile: "agg_v1/query.sql",
		NewSchema: schemaFields(t, "agg_v2.schema.yaml"), PreviousSchema: schemaFields(t, "agg_v1.schema.yaml"),
		NewSchemaFile: "agg_v2/schema.yaml", PreviousSchemaFile: "agg_v1/schema.yaml",
		PartitionField: "submission_date", PartitionType: warehouse.Day, Param: "submission_date",
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestExampleClassification is §9: the roles and types of every column.
func TestExampleClassification(t *testing.T) {
	m := examplePlan(t)
	var got []string
	for _, c := range m.Columns {
		got = append(got, fmt.Sprintf("%s:%s:%s", c.Name, c.Role, c.Type))
	}
	want := []string{
		"channel:common_dimension:STRING",
		"clicks:added_metric:INTEGER",
		"dau:common_metric:INTEGER",
		"first_seen_year:common_dimension:INTEGER",
		"is_default:common_dimension:BOOLEAN",
		"os:added_dimension:STRING",
		"revenue:common_metric:FLOAT",
		"submission_date:common_dimension:DATE",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("columns:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestExampleQueryText pins the parts of the generated query §9 names.
func TestExampleQueryText(t *testing.T) {
	sql := examplePlan(t).Query(readFixture(t, "agg_v2.sql"))
	for _, want := range []string{
		"-- Query generated using a template for shredder mitigation.\n",
		"    submission_date,\n    IF(channel IS NULL OR channel = '??', '???????', channel) AS channel,\n    COALESCE(first_seen_year, -9999999) AS first_seen_year,\n    is_default,\n    SUM(dau) AS dau,\n    SUM(revenue) AS revenue\n",
		"`p.d.agg_v1`\n  WHERE\n    submission_date = @submission_date\n",
		"CAST(NULL AS STRING) AS os",
		"CAST(0 AS INT64) AS clicks",
		"(previous_agg.is_default = new_agg.is_default OR (previous_agg.is_default IS NULL AND new_agg.is_default IS NULL))",
		"ROUND(previous_agg.revenue, 10) - ROUND(COALESCE(new_agg.revenue, 0), 10) AS revenue",
		"COALESCE(previous_agg.dau, 0) > COALESCE(new_agg.dau, 0)\n    OR COALESCE(previous_agg.revenue, 0) > COALESCE(new_agg.revenue, 0)",
	} {
		if !strings.Contains(sql, want) {
			t.Errorf("generated query lacks %q:\n%s", want, sql)
		}
	}
	// Final order: common dimensions, added ones, then metrics, each sorted.
	var order []string
	final := sql[strings.LastIndex(sql, "UNION ALL\nSELECT\n")+len("UNION ALL\nSELECT\n"):]
	for _, line := range strings.Split(strings.Split(final, "\nFROM")[0], "\n") {
		f := strings.Fields(strings.TrimSuffix(line, ","))
		order = append(order, f[len(f)-1])
	}
	if got := strings.Join(order, ", "); got != "channel, first_seen_year, is_default, submission_date, os, clicks, dau, revenue" {
		t.Errorf("final order %s", got)
	}
	if strings.Contains(sql, ";") {
		t.Errorf("generated query keeps a ';':\n%s", sql)
	}
}

func openExample(t *testing.T) (*duckdb.Warehouse, context.Context) {
	t.Helper()
	ctx := context.Background()
	w, err := duckdb.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	if err := w.EnsureDataset(ctx, "p", "d", 0); err != nil {
		t.Fatal(err)
	}
	for _, s := range strings.Split(readFixture(t, "setup.sql"), ";\n") {
		if strings.TrimSpace(s) == "" {
			continue
		}
		if _, err := w.Query(ctx, warehouse.QueryJob{SQL: s}); err != nil {
			t.Fatalf("setup %s: %v", s, err)
		}
	}
	return w, ctx
}

var exampleParams = []warehouse.Param{{Name: "submission_date", Type: "DATE", Value: "2024-06-01"}}

func rowStrings(rows *warehouse.Rows) []string {
	var out []string
	for _, r := range rows.Rows {
		parts := make([]string, len(r))
		for i, v := range r {
			if v == nil {
				parts[i] = "NULL"
			} else {
				parts[i] = fmt.Sprint(v)
			}
		}
		out = append(out, strings.Join(parts, "|"))
	}
	sort.Strings(out)
	return out
}

// TestExampleResult runs the generated query on the embedded warehouse
// and compares it with §11: the 8 new rows unchanged and the 6 shredded
// rows (E6 has none), then runs the checks, which fail only because of E6.
func TestExampleResult(t *testing.T) {
	w, ctx := openExample(t)
	m := examplePlan(t)
	sql := m.Query(readFixture(t, "agg_v2.sql"))
	rows, err := w.Read(ctx, warehouse.QueryJob{SQL: "SELECT channel, first_seen_year, is_default, os, clicks, dau, ROUND(revenue, 12) AS revenue FROM (" + sql + ")", Params: exampleParams})
	if err != nil {
		t.Fatalf("%v\n%s", err, sql)
	}
	want := strings.Split(strings.TrimSpace(readFixture(t, "expected.txt")), "\n")
	sort.Strings(want)
	if got := rowStrings(rows); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("result:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	if _, err := w.Query(ctx, warehouse.QueryJob{SQL: sql, Params: exampleParams, Destination: &stage, Partition: "20240601"}); err != nil {
		t.Fatal(err)
	}
	checks := m.Checks(stage)
	wantErr := []string{
		"1 rows in the previous data don't match backfilled data! Run auto-generated checks for all mismatches & search for rows missing or with differences in metrics. Sample row in previous version: ",
		"1 rows in backfill don't match previous version of data! Run auto-generated checks for all mismatches & search for rows added or with differences in metrics. Sample row in new_version: ",
	}
	wantSample := []string{`"dau":5`, `"dau":7`}
	for i, c := range checks {
		_, err := w.Read(ctx, warehouse.QueryJob{SQL: c.SQL, Params: exampleParams})
		if err == nil || !strings.Contains(err.Error(), wantErr[i]) || !strings.Contains(err.Error(), `"channel":"aurora"`) || !strings.Contains(err.Error(), wantSample[i]) {
			t.Errorf("check %s: %v\nwant an error with %q and %s", c.Name, err, wantErr[i], wantSample[i])
		}
	}
	// Without E6's growth every group re-sums: both checks pass.
	if _, err := w.Query(ctx, warehouse.QueryJob{SQL: "UPDATE `p.d.agg_v1` SET dau = 7, revenue = 3.0 WHERE channel = 'aurora'"}); err != nil {
		t.Fatal(err)
	}
	for _, c := range checks {
		if _, err := w.Read(ctx, warehouse.QueryJob{SQL: c.SQL, Params: exampleParams}); err != nil {
			t.Errorf("check %s after E6 fixed: %v", c.Name, err)
		}
	}
}

// TestTypesResult runs the mitigation of a table with a dimension of every
// type upstream mishandles (FLOAT, NUMERIC, TIMESTAMP, BYTES, NULL in all
// of them), an added TIMESTAMP dimension, NUMERIC metrics (common and
// added), a removed dimension still output (country) and an undetermined
// column (label): the generated query runs on the embedded warehouse,
// keeps the new rows whole, and both checks pass because every group of
// the previous version re-sums.
func TestTypesResult(t *testing.T) {
	ctx := context.Background()
	w, err := duckdb.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	if err := w.EnsureDataset(ctx, "p", "d", 0); err != nil {
		t.Fatal(err)
	}
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join("testdata", "types", name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	fieldsOf := func(name string) []metadata.Field {
		s, err := metadata.ParseSchema([]byte(read(name)), name)
		if err != nil {
			t.Fatal(err)
		}
		return s.Fields
	}
	for _, s := range strings.Split(read("setup.sql"), ";\n") {
		if strings.TrimSpace(s) != "" {
			if _, err := w.Query(ctx, warehouse.QueryJob{SQL: s}); err != nil {
				t.Fatalf("setup %s: %v", s, err)
			}
		}
	}
	staging := warehouse.TableRef{Project: "p", Dataset: "d", Table: "wide_v2_staging"}
	m, perr := shredder.Plan(shredder.Input{
		Previous: warehouse.TableRef{Project: "p", Dataset: "d", Table: "wide_v1"},
		NewQuery: read("wide_v2.sql"), PreviousQuery: read("wide_v1.sql"),
		NewSchema: fieldsOf("wide_v2.schema.yaml"), PreviousSchema: fieldsOf("wide_v1.schema.yaml"),
		PartitionField: "submission_date", PartitionType: warehouse.Day, Param: "submission_date",
	})
	if perr != nil {
		t.Fatal(perr)
	}
	sql := m.Query(read("wide_v2.sql"))
	if _, err := w.Query(ctx, warehouse.QueryJob{SQL: sql, Params: exampleParams, Destination: &staging, Partition: "20240601"}); err != nil {
		t.Fatalf("%v\n%s", err, sql)
	}
	rows, err := w.Read(ctx, warehouse.QueryJob{SQL: "SELECT channel, fsy, ratio, CAST(amount AS FLOAT64), is_default, CAST(day AS STRING), CAST(ts AS STRING), CAST(b AS STRING), os, CAST(seen AS STRING), country, label, dau, revenue, CAST(money AS FLOAT64), CAST(clicks AS FLOAT64) FROM `p.d.wide_v2_staging`"})
	if err != nil {
		t.Fatal(err)
	}
	got := rowStrings(rows)
	wantRows := strings.Split(strings.TrimSpace(read("expected.txt")), "\n")
	sort.Strings(wantRows)
	if strings.Join(got, "\n") != strings.Join(wantRows, "\n") {
		t.Errorf("staging:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(wantRows, "\n"))
	}
	for _, c := range m.Checks(staging) {
		if _, err := w.Read(ctx, warehouse.QueryJob{SQL: c.SQL, Params: exampleParams}); err != nil {
			t.Errorf("check %s: %v\n%s", c.Name, err, c.SQL)
		}
	}
}
