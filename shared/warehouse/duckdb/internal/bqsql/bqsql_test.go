package bqsql

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/bqbackfill/bqbackfill/shared/warehouse"
)

func TestTokenize(t *testing.T) {
	tests := []struct {
		src  string
		want []string // kind:text
	}{
		{"SELECT a FROM `p.d.t` -- comment\n# another\n/* block ; */ WHERE x = 'it''s'", nil},
		{`SELECT "a;b", 'c\'d', r'\d+', b'\x00', """tri"ple""", @p, @@v, 0x1F, 1.5e3, .5`,
			[]string{"Ident:SELECT", `String:a;b`, "Punct:,", "String:c'd", "Punct:,", `String:\d+`, "Punct:,", "Bytes:\x00", "Punct:,",
				`String:tri"ple`, "Punct:,", "Param:p", "Punct:,", "SysVar:v", "Punct:,", "Number:31", "Punct:,", "Number:1.5e3", "Punct:,", "Number:.5"}},
		{"a<=b<>c!=d||e", []string{"Ident:a", "Punct:<=", "Ident:b", "Punct:<>", "Ident:c", "Punct:!=", "Ident:d", "Punct:||", "Ident:e"}},
	}
	for _, tt := range tests {
		toks, err := Tokenize(tt.src)
		if err != nil {
			t.Fatalf("Tokenize(%q): %v", tt.src, err)
		}
		if tt.want == nil {
			continue
		}
		var got []string
		for _, tk := range toks[:len(toks)-1] {
			got = append(got, kindName(tk.Kind)+":"+tk.Text)
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Tokenize(%q)\n got %q\nwant %q", tt.src, got, tt.want)
		}
	}
	for _, bad := range []string{"'open", "`open", "/* open", "SELECT 'a\nb'", "SELECT @", "SELECT '\\q'", "SELECT $"} {
		if _, err := Tokenize(bad); err == nil {
			t.Errorf("Tokenize(%q): want an error", bad)
		}
	}
}

func kindName(k Kind) string {
	return map[Kind]string{Ident: "Ident", QuotedIdent: "QuotedIdent", String: "String", Bytes: "Bytes", Number: "Number",
		Param: "Param", SysVar: "SysVar", Punct: "Punct", EOF: "EOF"}[k]
}

func TestSplit(t *testing.T) {
	src := "SELECT ';' AS a; -- ; comment\nSELECT (1;2) ;; /* ; */ SELECT 3;"
	toks, err := Tokenize(src)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, st := range Split(toks) {
		if st[len(st)-1].Kind != EOF {
			t.Errorf("statement %q does not end with EOF", src[st[0].Pos:st[len(st)-2].End])
		}
		got = append(got, src[st[0].Pos:st[len(st)-2].End])
	}
	want := []string{"SELECT ';' AS a", "SELECT (1;2)", "SELECT 3"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Split = %q, want %q", got, want)
	}
}

func TestTranslate(t *testing.T) {
	params := []warehouse.Param{
		{Name: "submission_date", Type: "DATE", Value: "2024-01-02"},
		{Name: "n", Type: "INT64", Value: "-3"},
		{Name: "s", Type: "STRING", Value: "it's"},
		{Name: "f", Type: "FLOAT64", Value: "1.5"},
		{Name: "b", Type: "BOOL", Value: "true"},
		{Name: "ts", Type: "TIMESTAMP", Value: "2024-01-02T03:04:05Z"},
	}
	tests := []struct {
		name, src, want string
		reads           []string
	}{
		{"backtick path with dashes", "SELECT * FROM `moz-fx-data-shared-prod.telemetry.main`",
			`SELECT * FROM "moz-fx-data-shared-prod"."telemetry"."main"`, []string{"moz-fx-data-shared-prod.telemetry.main"}},
		{"split backticks", "SELECT a FROM `proj`.ds.`t` AS x JOIN ds.u ON x.a = u.a",
			`SELECT a FROM "proj"."ds"."t" AS x JOIN "ds"."u" ON x.a = u.a`, []string{"proj.ds.t", "ds.u"}},
		{"unquoted dashed project", "SELECT 1 FROM moz-fx-data-123.ds.t",
			`SELECT 1 FROM "moz-fx-data-123"."ds"."t"`, []string{"moz-fx-data-123.ds.t"}},
		{"subtraction is not a path", "SELECT a-b FROM t WHERE c - d > 0",
			`SELECT a-b FROM "t" WHERE c - d > 0`, []string{"t"}},
		{"comma join and cte", "WITH x AS (SELECT 1 AS a), y AS (SELECT 2 AS a) SELECT * FROM x, y, ds.t",
			`WITH x AS (SELECT 1 AS a), y AS (SELECT 2 AS a) SELECT * FROM "x", "y", "ds"."t"`, []string{"ds.t"}},
		{"params", "SELECT @submission_date AS d, @n AS n, @s AS s, @f AS f, @b AS b, @ts AS ts",
			`SELECT DATE '2024-01-02' AS d, CAST(-3 AS BIGINT) AS n, 'it''s' AS s, CAST('1.5' AS DOUBLE) AS f, TRUE AS b, CAST('2024-01-02 03:04:05+00' AS TIMESTAMPTZ) AS ts`, nil},
		{"double-quoted strings", `SELECT "a'b" AS x, 'c' AS y`, `SELECT 'a''b' AS x, 'c' AS y`, nil},
		{"date_sub", "SELECT DATE_SUB(@submission_date, INTERVAL 1 DAY)",
			`SELECT CAST((DATE '2024-01-02') - CAST(1 AS BIGINT) * INTERVAL 1 DAY AS DATE)`, nil},
		{"date_add week", "SELECT DATE_ADD(d, INTERVAL n WEEK) FROM t",
			`SELECT CAST((d) + CAST(n AS BIGINT) * 7 * INTERVAL 1 DAY AS DATE) FROM "t"`, []string{"t"}},
		{"date_diff", "SELECT DATE_DIFF(a, b, MONTH)", `SELECT date_diff('month', b, a)`, nil},
		{"timestamp_diff", "SELECT TIMESTAMP_DIFF(a, b, HOUR)", `SELECT date_sub('hour', b, a)`, nil},
		{"date_trunc", "SELECT DATE_TRUNC(d, MONTH)", `SELECT CAST(date_trunc('month', d) AS DATE)`, nil},
		{"safe_cast types", "SELECT SAFE_CAST(x AS INT64), CAST(y AS STRING), CAST(z AS NUMERIC), CAST(w AS ARRAY<FLOAT64>)",
			`SELECT TRY_CAST(x AS BIGINT), CAST(y AS VARCHAR), CAST(z AS DECIMAL(38,9)), CAST(w AS DOUBLE[])`, nil},
		{"countif if ifnull", "SELECT COUNTIF(x > 1), IF(a, 1, 2), IFNULL(b, 0), CURRENT_DATE()",
			`SELECT count(CASE WHEN x > 1 THEN 1 END), IF(a, 1, 2), IFNULL(b, 0), current_date`, nil},
		{"except", "SELECT * EXCEPT(a, b) FROM t", `SELECT * EXCLUDE(a, b) FROM "t"`, []string{"t"}},
		{"set except", "SELECT 1 EXCEPT DISTINCT SELECT 2", `SELECT 1 EXCEPT DISTINCT SELECT 2`, nil},
		{"struct", "SELECT STRUCT(1 AS a, 'x' AS b), STRUCT(c, t.d)",
			`SELECT struct_pack("a" := 1, "b" := 'x'), struct_pack("c" := c, "d" := t.d)`, nil},
		{"typed struct and array", "SELECT STRUCT<a INT64, b STRING>(1, 'x'), ARRAY<INT64>[1, 2]",
			`SELECT struct_pack("a" := CAST(1 AS BIGINT), "b" := CAST('x' AS VARCHAR)), CAST([1, 2] AS BIGINT[])`, nil},
		{"unnest", "SELECT x FROM t, UNNEST(t.arr) AS x WHERE 1 IN UNNEST([1, 2])",
			`SELECT x FROM "t", UNNEST(t.arr) AS "_unnest_x"("x") WHERE 1 IN (SELECT unnest([1, 2]))`, []string{"t"}},
		{"unnest structs", "SELECT a FROM UNNEST([STRUCT(1 AS a), STRUCT(2 AS a)])",
			`SELECT a FROM (SELECT unnest([struct_pack("a" := 1), struct_pack("a" := 2)], max_depth := 2))`, nil},
		{"offset", "SELECT arr[OFFSET(0)], arr[SAFE_ORDINAL(1)]", `SELECT arr[(0) + 1], arr[1]`, nil},
		{"literals", "SELECT TIMESTAMP '2024-01-01 00:00:00', DATETIME '2024-01-01 00:00:00', DATE '2024-01-01'",
			`SELECT TIMESTAMPTZ '2024-01-01 00:00:00', TIMESTAMP '2024-01-01 00:00:00', DATE '2024-01-01'`, nil},
		{"format and parse", "SELECT FORMAT_DATE('%F', d), PARSE_DATE('%Y%m%d', s)",
			`SELECT strftime(d, '%Y-%m-%d'), CAST(strptime(s, '%Y%m%d') AS DATE)`, nil},
		{"extract", "SELECT EXTRACT(DAYOFWEEK FROM d), EXTRACT(YEAR FROM d)",
			`SELECT (dayofweek(d) + 1), extract(year FROM d)`, nil},
		{"nested subquery", "SELECT (SELECT MAX(x) FROM `p.d.t2`) AS m FROM (SELECT 1 AS x) AS q",
			`SELECT (SELECT MAX(x) FROM "p"."d"."t2") AS m FROM (SELECT 1 AS x) AS q`, []string{"p.d.t2"}},
		{"extract from is not a table", "SELECT EXTRACT(MONTH FROM d) FROM t", `SELECT extract(month FROM d) FROM "t"`, []string{"t"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sts, err := Parse(tt.src, params)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if len(sts) != 1 || sts[0].Kind != Query {
				t.Fatalf("got %d statements, kind %v", len(sts), sts[0].Kind)
			}
			if sts[0].SQL != tt.want {
				t.Errorf("translation\n got %s\nwant %s", sts[0].SQL, tt.want)
			}
			var reads []string
			for _, p := range sts[0].Reads {
				reads = append(reads, p.String())
			}
			if !reflect.DeepEqual(reads, tt.reads) {
				t.Errorf("reads = %q, want %q", reads, tt.reads)
			}
		})
	}
}

func TestUnsupported(t *testing.T) {
	tests := []struct{ src, construct string }{
		{"ALTER TABLE t ADD COLUMN x INT64", "statement ALTER TABLE"},
		{"CREATE VIEW v AS SELECT 1", "statement CREATE VIEW"},
		{"CREATE TEMP FUNCTION f(x INT64) AS (x)", "statement CREATE TEMP FUNCTION"},
		{"DECLARE x INT64", "statement DECLARE"},
		{"SELECT @@dataset_id", "system variable @@dataset_id"},
		{"SELECT mozfun.hist.extract(x) FROM t", "user-defined function mozfun.hist.extract"},
		{"SELECT SAFE.PARSE_DATE('%Y', s)", "the SAFE. function prefix"},
		{"SELECT x FROM t, UNNEST(a) AS x WITH OFFSET AS o", "UNNEST … WITH OFFSET"},
		{"SELECT * FROM t FOR SYSTEM_TIME AS OF TIMESTAMP '2024-01-01'", "FOR SYSTEM_TIME AS OF (time travel)"},
		{"SELECT CAST(x AS BIGNUMERIC)", "type BIGNUMERIC"},
		{"CREATE TABLE t (d DATE) PARTITION BY _PARTITIONDATE", "ingestion-time partitioning (PARTITION BY _PARTITIONDATE)"},
		{"CREATE TABLE t (d DATE) PARTITION BY DATE_TRUNC(d, YEAR)", "YEAR partitioning"},
		{"SELECT DATE_TRUNC(d, WEEK(MONDAY))", "date part WEEK(…) in DATE_TRUNC"},
	}
	for _, tt := range tests {
		_, err := Parse(tt.src, nil)
		var ue *UnsupportedError
		if !errors.As(err, &ue) {
			t.Errorf("Parse(%q) = %v, want UnsupportedError", tt.src, err)
			continue
		}
		if ue.Construct != tt.construct {
			t.Errorf("Parse(%q) construct %q, want %q", tt.src, ue.Construct, tt.construct)
		}
		if !strings.Contains(err.Error(), tt.construct) {
			t.Errorf("error %q does not name %q", err, tt.construct)
		}
	}
	if _, err := Parse("SELECT @missing", nil); err == nil || !strings.Contains(err.Error(), "@missing") {
		t.Errorf("unbound parameter: %v", err)
	}
	if _, err := Parse("SELECT @d", []warehouse.Param{{Name: "d", Type: "DATE", Value: "2024-13-01"}}); err == nil {
		t.Error("bad DATE parameter: want an error")
	}
}

func TestStatements(t *testing.T) {
	src := "CREATE SCHEMA IF NOT EXISTS `my-proj.ds` OPTIONS(description = 'x', location = \"US\");\n" +
		"CREATE OR REPLACE TABLE `my-proj.ds.t` (submission_date DATE NOT NULL OPTIONS(description = \"day\"), " +
		"n INT64, tags ARRAY<STRING>, rec STRUCT<a INT64, b ARRAY<STRUCT<c DATE>>>) " +
		"PARTITION BY DATE_TRUNC(submission_date, MONTH) CLUSTER BY n, `tags` " +
		"OPTIONS(labels = [(\"owner\", \"me\"), ('team', 'data')], expiration_timestamp = TIMESTAMP_ADD(CURRENT_TIMESTAMP(), INTERVAL 3 DAY), require_partition_filter = true);\n" +
		"CREATE TABLE ds.c PARTITION BY d AS SELECT DATE '2024-01-01' AS d FROM ds.src;\n" +
		"INSERT ds.t (n) VALUES (1);\n" +
		"DELETE ds.t WHERE n = 1;\n" +
		"MERGE ds.t USING ds.s ON t.n = s.n WHEN MATCHED THEN UPDATE SET n = s.n;\n" +
		"UPDATE ds.t SET n = 2 FROM ds.s WHERE TRUE;\n" +
		"TRUNCATE TABLE ds.t;\n" +
		"DROP TABLE IF EXISTS ds.t;\n" +
		"DROP SCHEMA ds CASCADE;\n" +
		"CREATE TABLE ds.b CLONE ds.t OPTIONS(expiration_timestamp = TIMESTAMP '2030-01-01 00:00:00 UTC')"
	sts, err := Parse(src, nil)
	if err != nil {
		t.Fatal(err)
	}
	kinds := []StmtKind{CreateSchema, CreateTable, CreateTable, Insert, Delete, Merge, Update, Truncate, DropTable, DropSchema, CreateTable}
	if len(sts) != len(kinds) {
		t.Fatalf("got %d statements, want %d", len(sts), len(kinds))
	}
	for i, k := range kinds {
		if sts[i].Kind != k {
			t.Errorf("statement %d kind %v, want %v", i, sts[i].Kind, k)
		}
	}
	s := sts[0]
	if s.Target.String() != "my-proj.ds" || !s.IfNotExists || len(s.Options) != 2 || s.Options[0].Expr != "'x'" {
		t.Errorf("create schema: %+v", s)
	}
	ct := sts[1]
	wantCols := []warehouse.Field{
		{Name: "submission_date", Type: "DATE", Mode: "REQUIRED", Description: "day"},
		{Name: "n", Type: "INT64", Mode: "NULLABLE"},
		{Name: "tags", Type: "STRING", Mode: "REPEATED"},
		{Name: "rec", Type: "RECORD", Mode: "NULLABLE", Fields: []warehouse.Field{
			{Name: "a", Type: "INT64"},
			{Name: "b", Type: "RECORD", Mode: "REPEATED", Fields: []warehouse.Field{{Name: "c", Type: "DATE"}}},
		}},
	}
	if !ct.OrReplace || ct.Target.String() != "my-proj.ds.t" || !reflect.DeepEqual(ct.Table.Columns, wantCols) {
		t.Errorf("create table: %+v\ncolumns %+v", ct, ct.Table.Columns)
	}
	if ct.Table.PartitionType != warehouse.Month || ct.Table.PartitionField != "submission_date" || !reflect.DeepEqual(ct.Table.Clustering, []string{"n", "tags"}) {
		t.Errorf("partitioning/clustering: %+v", ct.Table)
	}
	if len(ct.Options) != 3 || !reflect.DeepEqual(ct.Options[0].Labels, map[string]string{"owner": "me", "team": "data"}) ||
		ct.Options[1].Expr != "CAST((current_timestamp) + CAST(3 AS BIGINT) * INTERVAL 1 DAY AS TIMESTAMPTZ)" || ct.Options[2].Expr != "true" {
		t.Errorf("options: %+v", ct.Options)
	}
	ctas := sts[2]
	if ctas.Table.Query != `SELECT DATE '2024-01-01' AS d FROM "ds"."src"` || ctas.Table.PartitionField != "d" || len(ctas.Reads) != 1 {
		t.Errorf("ctas: %+v %+v", ctas, ctas.Table)
	}
	if got := sts[3].SQL; got != `INSERT INTO "ds"."t" (n) VALUES (1)` || sts[3].Target.String() != "ds.t" {
		t.Errorf("insert: %q target %v", got, sts[3].Target)
	}
	if got := sts[4].SQL; got != `DELETE FROM "ds"."t" WHERE n = 1` {
		t.Errorf("delete: %q", got)
	}
	if got := sts[5].SQL; got != `MERGE INTO "ds"."t" USING "ds"."s" ON t.n = s.n WHEN MATCHED THEN UPDATE SET n = s.n` || sts[5].Reads[0].String() != "ds.s" {
		t.Errorf("merge: %q reads %v", got, sts[5].Reads)
	}
	if sts[6].Target.String() != "ds.t" || len(sts[6].Reads) != 1 {
		t.Errorf("update: target %v reads %v", sts[6].Target, sts[6].Reads)
	}
	if sts[7].Target.String() != "ds.t" {
		t.Errorf("truncate target %v", sts[7].Target)
	}
	if !sts[8].IfExists || !sts[9].Cascade || sts[10].Table.Clone.String() != "ds.t" {
		t.Errorf("drop/clone: %+v %+v %+v", sts[8], sts[9], sts[10].Table)
	}
}

func TestFieldFromDuckDB(t *testing.T) {
	tests := []struct {
		typ  string
		want warehouse.Field
	}{
		{"BIGINT", warehouse.Field{Name: "c", Type: "INT64", Mode: "NULLABLE"}},
		{"DECIMAL(38,9)", warehouse.Field{Name: "c", Type: "NUMERIC", Mode: "NULLABLE"}},
		{"TIMESTAMP WITH TIME ZONE", warehouse.Field{Name: "c", Type: "TIMESTAMP", Mode: "NULLABLE"}},
		{"TIMESTAMP", warehouse.Field{Name: "c", Type: "DATETIME", Mode: "NULLABLE"}},
		{"VARCHAR[]", warehouse.Field{Name: "c", Type: "STRING", Mode: "REPEATED"}},
		{`STRUCT(a BIGINT, "b c" DATE[])[]`, warehouse.Field{Name: "c", Type: "RECORD", Mode: "REPEATED", Fields: []warehouse.Field{
			{Name: "a", Type: "INT64", Mode: "NULLABLE"}, {Name: "b c", Type: "DATE", Mode: "REPEATED"}}}},
	}
	for _, tt := range tests {
		got, err := FieldFromDuckDB("c", tt.typ, true)
		if err != nil {
			t.Errorf("%s: %v", tt.typ, err)
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: got %+v, want %+v", tt.typ, got, tt.want)
		}
		// Round trip through DuckDBType.
		dt, err := DuckDBType(got)
		if err != nil {
			t.Errorf("DuckDBType(%+v): %v", got, err)
			continue
		}
		back, err := FieldFromDuckDB("c", dt, true)
		if err != nil || !reflect.DeepEqual(back, got) {
			t.Errorf("round trip %s -> %s -> %+v (%v)", tt.typ, dt, back, err)
		}
	}
	if f, _ := FieldFromDuckDB("c", "DATE", false); f.Mode != "REQUIRED" {
		t.Errorf("NOT NULL column mode %q, want REQUIRED", f.Mode)
	}
}
