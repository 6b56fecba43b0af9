package duckdb_test

import (
	"context"
	"fmt"
	"math/big"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/civil"

	"github.com/bqbackfill/bqbackfill/shared/warehouse"
	"github.com/bqbackfill/bqbackfill/shared/warehouse/duckdb"
)

func open(t *testing.T, dir string, opts *duckdb.Options) *duckdb.Warehouse {
	t.Helper()
	w, err := duckdb.Open(dir, opts)
	if err != nil {
		t.Fatalf("Open(%s): %v", dir, err)
	}
	t.Cleanup(func() { w.Close() })
	return w
}

// script runs a BigQuery script and fails the test on error.
func script(t *testing.T, w *duckdb.Warehouse, sql string, params ...warehouse.Param) *warehouse.Rows {
	t.Helper()
	rows, err := w.Read(context.Background(), warehouse.QueryJob{SQL: sql, Params: params})
	if err != nil {
		t.Fatalf("Read(%q): %v", sql, err)
	}
	return rows
}

func TestDialect(t *testing.T) {
	w := open(t, t.TempDir(), nil)
	script(t, w, "CREATE SCHEMA `my-proj.ds`; "+
		"CREATE TABLE `my-proj.ds.events` (submission_date DATE, client_id STRING, n INT64, tags ARRAY<STRING>) PARTITION BY submission_date;"+
		`INSERT INTO my-proj.ds.events VALUES (DATE '2024-01-01', 'a', 1, ['x', 'y']), ('2024-01-02', "b", 2, []), ('2024-01-02', 'c', NULL, ['z']);`+
		// A column list after INTO is not a table function's arguments.
		"INSERT INTO `my-proj.ds.events` (submission_date, client_id, n, tags) VALUES (DATE '2024-01-03', 'd', 4, ['w']);"+
		"INSERT INTO `my-proj.ds.events` (client_id, submission_date) SELECT 'e', DATE '2024-01-03';"+
		"DELETE FROM `my-proj.ds.events` WHERE submission_date = DATE '2024-01-03'")
	d := func(s string) civil.Date {
		v, err := civil.ParseDate(s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	tests := []struct {
		name string
		sql  string
		want []any
	}{
		{"date arithmetic", "SELECT DATE_SUB(@d, INTERVAL 1 DAY), DATE_ADD(@d, INTERVAL 2 MONTH), DATE_ADD(DATE '2024-01-31', INTERVAL 1 MONTH), DATE_SUB(@d, INTERVAL 1 WEEK)",
			[]any{d("2024-03-14"), d("2024-05-15"), d("2024-02-29"), d("2024-03-08")}},
		{"date diff and trunc", "SELECT DATE_DIFF(@d, DATE '2024-01-01', DAY), DATE_DIFF(DATE '2024-02-01', DATE '2024-01-31', MONTH), DATE_TRUNC(@d, MONTH), DATE_TRUNC(@d, WEEK), DATE_TRUNC(@d, YEAR)",
			[]any{int64(74), int64(1), d("2024-03-01"), d("2024-03-10"), d("2024-01-01")}},
		{"conditionals", "SELECT COUNTIF(n > 1), IF(COUNT(*) > 2, 'many', 'few'), IFNULL(MAX(CAST(NULL AS INT64)), -1), SAFE_CAST('x' AS INT64), SAFE_CAST('7' AS INT64) FROM `my-proj.ds.events`",
			[]any{int64(1), "many", int64(-1), nil, int64(7)}},
		{"casts and types", "SELECT CAST(1 AS FLOAT64), CAST('2.50' AS NUMERIC), CAST(3 AS STRING), CAST('true' AS BOOL), TIMESTAMP '2024-01-02 03:04:05+00', DATETIME '2024-01-02 03:04:05'",
			[]any{1.0, big.NewRat(5, 2), "3", true, time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC), civil.DateTime{Date: d("2024-01-02"), Time: civil.Time{Hour: 3, Minute: 4, Second: 5}}}},
		{"struct and array", "SELECT STRUCT(1 AS a, 'x' AS b), [1, 2, 3], ARRAY<STRING>['p'], ARRAY_LENGTH(tags), tags[OFFSET(1)], tags[SAFE_OFFSET(5)] FROM `my-proj.ds.events` WHERE client_id = 'a'",
			[]any{map[string]any{"a": int64(1), "b": "x"}, []any{int64(1), int64(2), int64(3)}, []any{"p"}, int64(2), "y", nil}},
		{"except and unnest", "SELECT * EXCEPT (n, tags) FROM `my-proj.ds.events` AS e, UNNEST(e.tags) AS tag WHERE tag = 'z'",
			[]any{d("2024-01-02"), "c", "z"}},
		{"unnest structs", "SELECT SUM(a), STRING_AGG(b, ',' ORDER BY b) FROM UNNEST([STRUCT(1 AS a, 'x' AS b), STRUCT(2 AS a, 'y' AS b)])",
			[]any{int64(3), "x,y"}},
		{"format and parse", "SELECT FORMAT_DATE('%Y%m%d', @d), FORMAT_DATE('%F', @d), PARSE_DATE('%Y%m%d', '20240105'), EXTRACT(DAYOFWEEK FROM DATE '2024-01-07'), EXTRACT(YEAR FROM @d)",
			[]any{"20240315", "2024-03-15", d("2024-01-05"), int64(1), int64(2024)}},
		{"generate dates", "SELECT GENERATE_DATE_ARRAY(DATE '2024-01-30', DATE '2024-02-01'), SAFE_DIVIDE(1, 0), SAFE_DIVIDE(6, 3), DIV(7, 2)",
			[]any{[]any{d("2024-01-30"), d("2024-01-31"), d("2024-02-01")}, nil, 2.0, int64(3)}},
		{"strings and comments", "SELECT 'it''s', \"dq\", r'\\d', '''tri\nple''' -- trailing ; comment\n /* ; */",
			[]any{"it's", "dq", `\d`, "tri\nple"}},
		{"unqualified with dashes in FROM", "SELECT COUNT(*) FROM my-proj.ds.events WHERE submission_date IN UNNEST([DATE '2024-01-02'])",
			[]any{int64(2)}},
		{"set operations and star modifiers", "SELECT (SELECT COUNT(*) FROM (SELECT 1 AS x UNION DISTINCT SELECT 1 EXCEPT DISTINCT SELECT 2 INTERSECT DISTINCT SELECT 1)), " +
			"(SELECT n FROM (SELECT * REPLACE (n * 10 AS n) FROM `my-proj.ds.events` WHERE client_id = 'a')), ARRAY(SELECT client_id FROM `my-proj.ds.events` ORDER BY client_id)",
			[]any{int64(1), int64(10), []any{"a", "b", "c"}}},
		{"json and timestamps", "SELECT JSON_VALUE(JSON '{\"a\": {\"b\": 2}}', '$.a.b'), TO_JSON_STRING(STRUCT(1 AS a)), TIMESTAMP_TRUNC(TIMESTAMP '2024-01-03 10:00:00+00', WEEK), TIMESTAMP_DIFF(TIMESTAMP '2024-01-02 00:00:00+00', TIMESTAMP '2024-01-01 12:30:00+00', HOUR)",
			[]any{"2", `{"a":1}`, time.Date(2023, 12, 31, 0, 0, 0, 0, time.UTC), int64(11)}},
		{"json column", "SELECT JSON '{\"a\": [1, 2]}', CAST(NULL AS JSON)", []any{`{"a":[1,2]}`, nil}},
		{"current date", "SELECT CURRENT_DATE() >= DATE '2024-01-01', DATE(TIMESTAMP '2024-05-06 23:00:00+00')",
			[]any{true, d("2024-05-06")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rows := script(t, w, tt.sql, warehouse.Param{Name: "d", Type: "DATE", Value: "2024-03-15"})
			if len(rows.Rows) != 1 {
				t.Fatalf("got %d rows, want 1: %v", len(rows.Rows), rows.Rows)
			}
			got := rows.Rows[0]
			if len(got) != len(tt.want) {
				t.Fatalf("got %d columns %v, want %d", len(got), got, len(tt.want))
			}
			for i := range got {
				if r, ok := tt.want[i].(*big.Rat); ok {
					if g, ok := got[i].(*big.Rat); !ok || g.Cmp(r) != 0 {
						t.Errorf("column %d = %v (%T), want %v", i, got[i], got[i], r)
					}
					continue
				}
				if !reflect.DeepEqual(got[i], tt.want[i]) {
					t.Errorf("column %d = %#v (%T), want %#v (%T)", i, got[i], got[i], tt.want[i], tt.want[i])
				}
			}
		})
	}
}

func TestUnsupportedConstructsAreNamed(t *testing.T) {
	w := open(t, t.TempDir(), nil)
	script(t, w, "CREATE SCHEMA p.ds; CREATE TABLE p.ds.t (x INT64)")
	tests := []struct{ sql, names string }{
		{"ALTER TABLE p.ds.t ADD COLUMN y INT64", "ALTER TABLE"},
		{"CREATE VIEW p.ds.v AS SELECT 1", "CREATE VIEW"},
		{"SELECT FARM_FINGERPRINT('x')", "function FARM_FINGERPRINT"},
		{"SELECT mozfun.map.get_key(x, 'a') FROM p.ds.t", "user-defined function mozfun.map.get_key"},
		{"SELECT x FROM p.ds.t, UNNEST([1]) AS y WITH OFFSET AS o", "WITH OFFSET"},
		{"CREATE TABLE p.ds.u (d DATE) PARTITION BY _PARTITIONDATE", "ingestion-time partitioning"},
		{"CREATE TABLE p.ds.u (d DATE) OPTIONS(kms_key_name = 'k')", "table option kms_key_name"},
		{"SELECT * FROM p._bqbackfill.tables", "_bqbackfill is reserved by"},
	}
	for _, tt := range tests {
		_, err := w.Read(context.Background(), warehouse.QueryJob{SQL: tt.sql})
		if warehouse.Code(err) != warehouse.InvalidArgument {
			t.Errorf("%q: error %v (code %s), want InvalidArgument", tt.sql, err, warehouse.Code(err))
			continue
		}
		if !strings.Contains(err.Error(), tt.names) {
			t.Errorf("%q: error %q does not name %q", tt.sql, err, tt.names)
		}
	}
}

func TestDDL(t *testing.T) {
	ctx := context.Background()
	w := open(t, t.TempDir(), nil)
	script(t, w, `
		CREATE SCHEMA IF NOT EXISTS `+"`moz-fx-data-shared-prod.telemetry_derived`"+` OPTIONS(location = "US", description = "derived", default_table_expiration_days = 2);
		CREATE SCHEMA IF NOT EXISTS moz-fx-data-shared-prod.telemetry_derived;
		CREATE TABLE `+"`moz-fx-data-shared-prod.telemetry_derived.clients_monthly_v1`"+` (
			submission_date DATE NOT NULL OPTIONS(description = "the day"),
			client_id STRING,
			country STRING,
			days INT64
		)
		PARTITION BY DATE_TRUNC(submission_date, MONTH)
		CLUSTER BY country, client_id
		OPTIONS(labels = [("owner", "me"), ("incremental", "true")], description = 'monthly',
			expiration_timestamp = TIMESTAMP '2099-01-01 00:00:00 UTC', partition_expiration_days = 775, require_partition_filter = true);
		INSERT moz-fx-data-shared-prod.telemetry_derived.clients_monthly_v1 (submission_date, client_id, country, days)
		VALUES ('2024-01-05', 'c1', 'DE', 3), ('2024-02-01', 'c2', 'FR', 4);
		CREATE TABLE moz-fx-data-shared-prod.telemetry_derived.ctas PARTITION BY d CLUSTER BY k AS
		SELECT submission_date AS d, client_id AS k, days * 2 AS twice, 1.5 AS ratio FROM moz-fx-data-shared-prod.telemetry_derived.clients_monthly_v1`)
	ref := warehouse.TableRef{Project: "moz-fx-data-shared-prod", Dataset: "telemetry_derived", Table: "clients_monthly_v1"}
	md, err := w.Table(ctx, ref)
	if err != nil {
		t.Fatalf("Table: %v", err)
	}
	wantSchema := warehouse.Schema{
		{Name: "submission_date", Type: "DATE", Mode: "REQUIRED", Description: "the day"},
		{Name: "client_id", Type: "STRING", Mode: "NULLABLE"},
		{Name: "country", Type: "STRING", Mode: "NULLABLE"},
		{Name: "days", Type: "INT64", Mode: "NULLABLE"},
	}
	if !reflect.DeepEqual(md.Schema, wantSchema) {
		t.Errorf("schema = %+v, want %+v", md.Schema, wantSchema)
	}
	if md.PartitionType != warehouse.Month || md.PartitionField != "submission_date" || !reflect.DeepEqual(md.Clustering, []string{"country", "client_id"}) ||
		md.PartitionExpiration != 775*24*time.Hour || !md.RequirePartitionFilter || md.Description != "monthly" ||
		!reflect.DeepEqual(md.Labels, map[string]string{"owner": "me", "incremental": "true"}) ||
		!md.Expiration.Equal(time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC)) || md.NumRows != 2 {
		t.Errorf("metadata = %+v", md)
	}
	ctas, err := w.Table(ctx, warehouse.TableRef{Project: ref.Project, Dataset: ref.Dataset, Table: "ctas"})
	if err != nil {
		t.Fatalf("Table(ctas): %v", err)
	}
	wantCTAS := warehouse.Schema{
		{Name: "d", Type: "DATE", Mode: "NULLABLE"}, {Name: "k", Type: "STRING", Mode: "NULLABLE"},
		{Name: "twice", Type: "INT64", Mode: "NULLABLE"}, {Name: "ratio", Type: "NUMERIC", Mode: "NULLABLE"},
	}
	if !reflect.DeepEqual(ctas.Schema, wantCTAS) || ctas.PartitionField != "d" || ctas.NumRows != 2 {
		t.Errorf("CTAS table = %+v", ctas)
	}
	// The dataset's default expiration applies to tables without their own.
	if ctas.Expiration.Sub(ctas.Created) != 48*time.Hour {
		t.Errorf("CTAS expiration %v, created %v: want the dataset default of 2 days", ctas.Expiration, ctas.Created)
	}
	parts, err := w.Partitions(ctx, ref)
	if err != nil || !reflect.DeepEqual(parts, []warehouse.Partition{{ID: "202401", Rows: 1}, {ID: "202402", Rows: 1}}) {
		t.Errorf("Partitions = %v, %v", parts, err)
	}

	// Errors and idempotence forms.
	for _, tt := range []struct {
		sql  string
		code warehouse.ErrorCode
	}{
		{"CREATE SCHEMA moz-fx-data-shared-prod.telemetry_derived", warehouse.AlreadyExists},
		{"CREATE TABLE moz-fx-data-shared-prod.telemetry_derived.ctas (x INT64)", warehouse.AlreadyExists},
		{"CREATE TABLE moz-fx-data-shared-prod.nope.t (x INT64)", warehouse.NotFound},
		{"DROP SCHEMA moz-fx-data-shared-prod.telemetry_derived", warehouse.FailedPrecondition},
		{"DROP TABLE moz-fx-data-shared-prod.telemetry_derived.nope", warehouse.NotFound},
		{"CREATE TABLE moz-fx-data-shared-prod.telemetry_derived.bad (x INT64) PARTITION BY x", warehouse.InvalidArgument},
		{"CREATE TABLE moz-fx-data-shared-prod.telemetry_derived.bad (x INT64) CLUSTER BY y", warehouse.InvalidArgument},
		{"INSERT INTO moz-fx-data-shared-prod.telemetry_derived.nope VALUES (1)", warehouse.NotFound},
	} {
		_, err := w.Read(ctx, warehouse.QueryJob{SQL: tt.sql})
		if warehouse.Code(err) != tt.code {
			t.Errorf("%q: error %v, want code %s", tt.sql, err, tt.code)
		}
	}
	script(t, w, `
		CREATE TABLE IF NOT EXISTS moz-fx-data-shared-prod.telemetry_derived.ctas (x INT64);
		CREATE OR REPLACE TABLE moz-fx-data-shared-prod.telemetry_derived.ctas (x INT64);
		DROP TABLE IF EXISTS moz-fx-data-shared-prod.telemetry_derived.nope;
		CREATE TABLE moz-fx-data-shared-prod.telemetry_derived.liked LIKE moz-fx-data-shared-prod.telemetry_derived.clients_monthly_v1;
		CREATE TABLE moz-fx-data-shared-prod.telemetry_derived.cloned CLONE moz-fx-data-shared-prod.telemetry_derived.clients_monthly_v1
			OPTIONS(expiration_timestamp = TIMESTAMP_ADD(CURRENT_TIMESTAMP(), INTERVAL 3 DAY))`)
	replaced, err := w.Table(ctx, warehouse.TableRef{Project: ref.Project, Dataset: ref.Dataset, Table: "ctas"})
	if err != nil || len(replaced.Schema) != 1 || replaced.PartitionType != warehouse.Unpartitioned {
		t.Errorf("CREATE OR REPLACE left %+v, %v", replaced, err)
	}
	liked, err := w.Table(ctx, warehouse.TableRef{Project: ref.Project, Dataset: ref.Dataset, Table: "liked"})
	if err != nil || !reflect.DeepEqual(liked.Schema, wantSchema) || liked.PartitionType != warehouse.Month || liked.NumRows != 0 {
		t.Errorf("LIKE table = %+v, %v", liked, err)
	}
	cloned, err := w.Table(ctx, warehouse.TableRef{Project: ref.Project, Dataset: ref.Dataset, Table: "cloned"})
	if err != nil || cloned.NumRows != 2 || cloned.Expiration.Before(time.Now().Add(71*time.Hour)) || cloned.Labels["owner"] != "me" {
		t.Errorf("CLONE table = %+v, %v", cloned, err)
	}
	script(t, w, "DROP SCHEMA moz-fx-data-shared-prod.telemetry_derived CASCADE")
	if _, err := w.Table(ctx, ref); !warehouse.IsNotFound(err) {
		t.Errorf("Table after DROP SCHEMA CASCADE: %v", err)
	}
	if _, err := w.DatasetAccess(ctx, ref.Project, ref.Dataset); !warehouse.IsNotFound(err) {
		t.Errorf("DatasetAccess after DROP SCHEMA CASCADE: %v", err)
	}
	// DML reports affected rows.
	script(t, w, "CREATE SCHEMA p.d; CREATE TABLE p.d.t (x INT64); INSERT INTO p.d.t VALUES (1), (2), (3)")
	rows := script(t, w, "DELETE p.d.t WHERE x > 1")
	if !reflect.DeepEqual(rows.Columns, []string{"num_dml_affected_rows"}) || rows.Rows[0][0] != int64(2) {
		t.Errorf("DELETE result = %+v", rows)
	}
	res, err := w.Query(ctx, warehouse.QueryJob{SQL: "UPDATE t SET x = 10 WHERE TRUE", DefaultProject: "p", DefaultDataset: "d"})
	if err != nil || res.RowsWritten != 1 {
		t.Errorf("UPDATE with default dataset: rows %d, %v", res.RowsWritten, err)
	}
}

func TestQueryIntoNewTable(t *testing.T) {
	ctx := context.Background()
	w := open(t, t.TempDir(), nil)
	if err := w.EnsureDataset(ctx, "p", "d", 0); err != nil {
		t.Fatal(err)
	}
	dest := warehouse.TableRef{Project: "p", Dataset: "d", Table: "new"}
	res, err := w.Query(ctx, warehouse.QueryJob{
		SQL:         "SELECT 1 AS i, SUM(x) AS s, 2.5 AS r, CAST(1 AS FLOAT64) AS f, 'a' AS str, [1, 2] AS arr, STRUCT(1 AS a) AS rec FROM UNNEST([1, 2]) AS x",
		Destination: &dest,
	})
	if err != nil || res.RowsWritten != 1 {
		t.Fatalf("Query into a new table: rows %d, %v", res.RowsWritten, err)
	}
	md, err := w.Table(ctx, dest)
	if err != nil {
		t.Fatal(err)
	}
	want := warehouse.Schema{
		{Name: "i", Type: "INT64", Mode: "NULLABLE"}, {Name: "s", Type: "INT64", Mode: "NULLABLE"},
		{Name: "r", Type: "NUMERIC", Mode: "NULLABLE"}, {Name: "f", Type: "FLOAT64", Mode: "NULLABLE"},
		{Name: "str", Type: "STRING", Mode: "NULLABLE"}, {Name: "arr", Type: "INT64", Mode: "REPEATED"},
		{Name: "rec", Type: "RECORD", Mode: "NULLABLE", Fields: []warehouse.Field{{Name: "a", Type: "INT64", Mode: "NULLABLE"}}},
	}
	if !reflect.DeepEqual(md.Schema, want) {
		t.Errorf("schema = %+v\nwant %+v", md.Schema, want)
	}
	// Extra result columns the destination lacks are rejected.
	_, err = w.Query(ctx, warehouse.QueryJob{SQL: "SELECT 1 AS i, 2 AS nope", Destination: &dest})
	if warehouse.Code(err) != warehouse.InvalidArgument {
		t.Errorf("extra column: %v", err)
	}
	// A destination job takes exactly one SELECT.
	_, err = w.Query(ctx, warehouse.QueryJob{SQL: "SELECT 1 AS i; SELECT 2 AS i", Destination: &dest})
	if warehouse.Code(err) != warehouse.InvalidArgument {
		t.Errorf("two statements with a destination: %v", err)
	}
}

func TestNullPartition(t *testing.T) {
	ctx := context.Background()
	w := open(t, t.TempDir(), nil)
	script(t, w, "CREATE SCHEMA p.d; CREATE TABLE p.d.t (day DATE, x INT64) PARTITION BY day; INSERT INTO p.d.t VALUES (NULL, 1), ('2024-01-01', 2)")
	parts, err := w.Partitions(ctx, warehouse.TableRef{Project: "p", Dataset: "d", Table: "t"})
	if err != nil {
		t.Fatal(err)
	}
	if want := []warehouse.Partition{{ID: "20240101", Rows: 1}, {ID: "__NULL__", Rows: 1}}; !reflect.DeepEqual(parts, want) {
		t.Errorf("Partitions = %v, want %v", parts, want)
	}
	// A NULL partitioning value is outside every dated partition.
	ref := warehouse.TableRef{Project: "p", Dataset: "d", Table: "t"}
	_, err = w.Query(ctx, warehouse.QueryJob{SQL: "SELECT CAST(NULL AS DATE) AS day, 3 AS x", Destination: &ref, Partition: "20240101"})
	if warehouse.Code(err) != warehouse.InvalidArgument {
		t.Errorf("NULL partitioning value into a partition: %v", err)
	}
	// A result without the partitioning column cannot be placed.
	_, err = w.Query(ctx, warehouse.QueryJob{SQL: "SELECT 3 AS x", Destination: &ref, Partition: "20240101"})
	if warehouse.Code(err) != warehouse.InvalidArgument || !strings.Contains(err.Error(), "day") {
		t.Errorf("result without the partitioning column: %v", err)
	}
}

func TestDryRunEstimate(t *testing.T) {
	ctx := context.Background()
	w := open(t, t.TempDir(), nil)
	script(t, w, "CREATE SCHEMA p.d; CREATE TABLE p.d.t (day DATE, s STRING, n INT64, b BOOL); "+
		"INSERT INTO p.d.t VALUES ('2024-01-01', 'a', 1, true), ('2024-01-02', 'b', 2, false)")
	// Per row: DATE 8 + STRING 18 + INT64 8 + BOOL 1 = 35 bytes; 2 rows.
	for _, sql := range []string{
		"SELECT COUNT(*) FROM p.d.t",
		"WITH x AS (SELECT * FROM p.d.t) SELECT * FROM x JOIN p.d.t AS y USING (n)", // one table, counted once
		"DELETE FROM p.d.t WHERE n = 1",
	} {
		res, err := w.Query(ctx, warehouse.QueryJob{SQL: sql, DryRun: true})
		if err != nil {
			t.Fatalf("dry run %q: %v", sql, err)
		}
		if res.BytesProcessed != 70 {
			t.Errorf("dry run %q: BytesProcessed = %d, want 70", sql, res.BytesProcessed)
		}
	}
	// The dry-run DELETE deleted nothing.
	if rows := script(t, w, "SELECT COUNT(*) FROM p.d.t"); rows.Rows[0][0] != int64(2) {
		t.Errorf("a dry run changed data: %v", rows.Rows)
	}
}

func TestLockAndPersistence(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "warehouse")
	now := time.Now()
	clock := func() time.Time { return now }
	w, err := duckdb.Open(dir, &duckdb.Options{Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	_, err = duckdb.Open(dir, nil)
	if warehouse.Code(err) != warehouse.FailedPrecondition || !strings.Contains(err.Error(), dir) {
		t.Errorf("second Open of a locked directory: %v, want FailedPrecondition naming %s", err, dir)
	}
	ref := warehouse.TableRef{Project: "p", Dataset: "d", Table: "t"}
	if err := w.EnsureDataset(ctx, "p", "d", 0); err != nil {
		t.Fatal(err)
	}
	md := warehouse.TableMetadata{Ref: ref, Schema: warehouse.Schema{{Name: "day", Type: "DATE"}}, PartitionType: warehouse.Day, PartitionField: "day",
		Labels: map[string]string{"k": "v"}}
	if err := w.CreateTable(ctx, md); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Query(ctx, warehouse.QueryJob{SQL: "SELECT DATE '2024-01-01' AS day", Destination: &ref, Partition: "20240101"}); err != nil {
		t.Fatal(err)
	}
	backup := warehouse.TableRef{Project: "p", Dataset: "d", Table: "t_backup"}
	if _, err := w.Backup(ctx, ref, backup, now.Add(time.Hour), nil); err != nil {
		t.Fatal(err)
	}
	if err := w.SetDatasetAccess(ctx, "p", "d", []warehouse.AccessEntry{{Role: "READER", EntityType: "domain", Entity: "example.com"}}); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := w.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := w.Table(ctx, ref); warehouse.Code(err) != warehouse.FailedPrecondition {
		t.Errorf("Table after Close: %v", err)
	}

	// Reopened two hours later: data and metadata are there, the backup expired.
	later := func() time.Time { return now.Add(2 * time.Hour) }
	w2 := open(t, dir, &duckdb.Options{Now: later})
	got, err := w2.Table(ctx, ref)
	if err != nil || got.NumRows != 1 || got.Labels["k"] != "v" || got.PartitionField != "day" {
		t.Errorf("after reopening: %+v, %v", got, err)
	}
	if _, err := w2.Table(ctx, backup); !warehouse.IsNotFound(err) {
		t.Errorf("expired backup after reopening: %v", err)
	}
	access, err := w2.DatasetAccess(ctx, "p", "d")
	if err != nil || len(access) != 1 || access[0].Entity != "example.com" {
		t.Errorf("DatasetAccess after reopening: %v, %v", access, err)
	}
}

func TestTemporaryDirectory(t *testing.T) {
	w, err := duckdb.Open("", nil)
	if err != nil {
		t.Fatal(err)
	}
	dir := w.Dir()
	if err := w.EnsureDataset(context.Background(), "p", "d", 0); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := filepath.Glob(filepath.Join(dir, "*")); err != nil {
		t.Fatal(err)
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "projects", "*")); len(m) != 0 {
		t.Errorf("temporary directory %s survived Close: %v", dir, m)
	}
}

func TestInvalidNames(t *testing.T) {
	ctx := context.Background()
	w := open(t, t.TempDir(), nil)
	for _, ref := range []warehouse.TableRef{
		{Project: "bad/project", Dataset: "d", Table: "t"},
		{Project: "temp", Dataset: "d", Table: "t"},
		{Project: "p", Dataset: "_bqbackfill", Table: "t"},
		{Project: "p", Dataset: "", Table: "t"},
	} {
		err := w.CreateTable(ctx, warehouse.TableMetadata{Ref: ref, Schema: warehouse.Schema{{Name: "x", Type: "INT64"}}})
		if warehouse.Code(err) != warehouse.InvalidArgument {
			t.Errorf("CreateTable(%v): %v, want InvalidArgument", ref, err)
		}
	}
	if err := w.EnsureDataset(ctx, "p", "d", 0); err != nil {
		t.Fatal(err)
	}
	for _, md := range []warehouse.TableMetadata{
		{Schema: nil},
		{Schema: warehouse.Schema{{Name: "x", Type: "INT64"}, {Name: "X", Type: "INT64"}}},
		{Schema: warehouse.Schema{{Name: "x", Type: "GEOGRAPHY"}}},
		{Schema: warehouse.Schema{{Name: "x", Type: "DATE"}}, PartitionType: warehouse.Day},
		{Schema: warehouse.Schema{{Name: "x", Type: "STRING"}}, PartitionType: warehouse.Day, PartitionField: "x"},
	} {
		md.Ref = warehouse.TableRef{Project: "p", Dataset: "d", Table: "t"}
		if err := w.CreateTable(ctx, md); warehouse.Code(err) != warehouse.InvalidArgument {
			t.Errorf("CreateTable(%+v): %v, want InvalidArgument", md, err)
		}
	}
}

func ExampleWarehouse_Read() {
	ctx := context.Background()
	w, err := duckdb.Open("", nil)
	if err != nil {
		panic(err)
	}
	defer w.Close()
	rows, err := w.Read(ctx, warehouse.QueryJob{
		SQL:    "SELECT DATE_SUB(@day, INTERVAL 1 DAY) AS yesterday, FORMAT_DATE('%Y%m%d', @day) AS id",
		Params: []warehouse.Param{{Name: "day", Type: "DATE", Value: "2024-03-01"}},
	})
	if err != nil {
		panic(err)
	}
	fmt.Println(rows.Columns, rows.Rows[0][0], rows.Rows[0][1])
	// Output: [yesterday id] 2024-02-29 20240301
}

func TestReturnedMetadataIsACopy(t *testing.T) {
	ctx := context.Background()
	w := open(t, t.TempDir(), nil)
	if err := w.EnsureDataset(ctx, "p", "d", 0); err != nil {
		t.Fatal(err)
	}
	ref := warehouse.TableRef{Project: "p", Dataset: "d", Table: "t"}
	md := warehouse.TableMetadata{Ref: ref, Schema: warehouse.Schema{{Name: "day", Type: "DATE"}, {Name: "c", Type: "STRING"}},
		PartitionType: warehouse.Day, PartitionField: "day", Clustering: []string{"c"}, Labels: map[string]string{"k": "v"}}
	if err := w.CreateTable(ctx, md); err != nil {
		t.Fatal(err)
	}
	if err := w.SetTableIAM(ctx, ref, warehouse.Policy{Bindings: []warehouse.Binding{{Role: "roles/x", Members: []string{"user:a@b.c"}}}}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		got, err := w.Table(ctx, ref)
		if err != nil {
			t.Fatal(err)
		}
		p, err := w.TableIAM(ctx, ref)
		if err != nil {
			t.Fatal(err)
		}
		if got.Labels["k"] != "v" || got.Clustering[0] != "c" || p.Bindings[0].Members[0] != "user:a@b.c" {
			t.Fatalf("read %d: metadata changed by a caller: %+v %+v", i, got, p)
		}
		got.Labels["k"], got.Clustering[0], p.Bindings[0].Members[0] = "changed", "changed", "changed"
	}
}
