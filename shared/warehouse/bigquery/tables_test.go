package bigquery_test

import (
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	bq "google.golang.org/api/bigquery/v2"

	"github.com/bqbackfill/bqbackfill/shared/warehouse"
	bqw "github.com/bqbackfill/bqbackfill/shared/warehouse/bigquery"
	"github.com/bqbackfill/bqbackfill/shared/warehouse/bqfake"
)

var nestedSchema = warehouse.Schema{
	{Name: "submission_date", Type: "DATE", Mode: "REQUIRED", Description: "the day"},
	{Name: "client_id", Type: "STRING"},
	{Name: "n", Type: "INT64", Mode: "NULLABLE"},
	{Name: "ratio", Type: "FLOAT"},
	{Name: "tags", Type: "STRING", Mode: "REPEATED"},
	{Name: "payload", Type: "STRUCT", Fields: []warehouse.Field{
		{Name: "a", Type: "BOOLEAN"},
		{Name: "events", Type: "RECORD", Mode: "REPEATED", Fields: []warehouse.Field{
			{Name: "at", Type: "TIMESTAMP", Mode: "REQUIRED"},
			{Name: "amount", Type: "NUMERIC"},
		}},
	}},
}

// wantNestedFields is nestedSchema as the REST API spells it.
var wantNestedFields = []any{
	map[string]any{"name": "submission_date", "type": "DATE", "mode": "REQUIRED", "description": "the day"},
	map[string]any{"name": "client_id", "type": "STRING"},
	map[string]any{"name": "n", "type": "INTEGER"},
	map[string]any{"name": "ratio", "type": "FLOAT"},
	map[string]any{"name": "tags", "type": "STRING", "mode": "REPEATED"},
	map[string]any{"name": "payload", "type": "RECORD", "fields": []any{
		map[string]any{"name": "a", "type": "BOOLEAN"},
		map[string]any{"name": "events", "type": "RECORD", "mode": "REPEATED", "fields": []any{
			map[string]any{"name": "at", "type": "TIMESTAMP", "mode": "REQUIRED"},
			map[string]any{"name": "amount", "type": "NUMERIC"},
		}},
	}},
}

func TestCreateTableBody(t *testing.T) {
	exp := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		md   warehouse.TableMetadata
		want map[string]any
	}{
		{
			name: "month partitioned, clustered, expiring, nested schema",
			md: warehouse.TableMetadata{
				Ref: warehouse.TableRef{Project: "prod-proj", Dataset: "derived", Table: "new_v1"}, Schema: nestedSchema,
				PartitionType: warehouse.Month, PartitionField: "submission_date", PartitionExpiration: 90 * 24 * time.Hour,
				RequirePartitionFilter: true, Clustering: []string{"client_id", "n"},
				Labels: map[string]string{"owner": "a"}, Expiration: exp, Description: "desc", FriendlyName: "New",
			},
			want: map[string]any{
				"tableReference":         map[string]any{"projectId": "prod-proj", "datasetId": "derived", "tableId": "new_v1"},
				"schema":                 map[string]any{"fields": wantNestedFields},
				"timePartitioning":       map[string]any{"type": "MONTH", "field": "submission_date", "expirationMs": "7776000000"},
				"requirePartitionFilter": true,
				"clustering":             map[string]any{"fields": []any{"client_id", "n"}},
				"labels":                 map[string]any{"owner": "a"},
				"expirationTime":         strconv.FormatInt(exp.UnixMilli(), 10),
				"description":            "desc",
				"friendlyName":           "New",
			},
		},
		{
			name: "unpartitioned, nothing optional",
			md: warehouse.TableMetadata{
				Ref:    warehouse.TableRef{Project: "prod-proj", Dataset: "derived", Table: "bare"},
				Schema: warehouse.Schema{{Name: "x", Type: "BYTES"}, {Name: "y", Type: "DATETIME"}},
			},
			want: map[string]any{
				"tableReference": map[string]any{"projectId": "prod-proj", "datasetId": "derived", "tableId": "bare"},
				"schema":         map[string]any{"fields": []any{map[string]any{"name": "x", "type": "BYTES"}, map[string]any{"name": "y", "type": "DATETIME"}}},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			if err := e.w.CreateTable(e.ctx, tt.md); err != nil {
				t.Fatalf("CreateTable: %v", err)
			}
			reqs := e.fake.RequestsFor("tables.insert")
			if len(reqs) != 1 || reqs[0].Path != "/projects/prod-proj/datasets/derived/tables" {
				t.Fatalf("tables.insert requests: %v", paths(reqs))
			}
			var body map[string]any
			if err := reqs[0].Decode(&body); err != nil {
				t.Fatal(err)
			}
			jsonEqual(t, "tables.insert body", body, tt.want)

			// Read back through Table: the same metadata, types in standard
			// SQL, modes spelled out.
			got, err := e.w.Table(e.ctx, tt.md.Ref)
			if err != nil {
				t.Fatalf("Table: %v", err)
			}
			want := tt.md
			want.Schema = canonical(tt.md.Schema)
			want.NumRows, want.Created, want.Modified = 0, got.Created, got.Modified
			if got.Created.IsZero() {
				t.Error("Created is zero")
			}
			if !got.Expiration.Equal(want.Expiration) {
				t.Errorf("Expiration = %v, want %v", got.Expiration, want.Expiration)
			}
			want.Expiration = got.Expiration
			if !reflect.DeepEqual(*got, want) {
				t.Errorf("Table:\n got %+v\nwant %+v", *got, want)
			}
		})
	}
}

// canonical is s as Table reports it.
func canonical(s warehouse.Schema) warehouse.Schema {
	if len(s) == 0 {
		return nil
	}
	out := make(warehouse.Schema, len(s))
	for i, f := range s {
		f.Type = warehouse.CanonicalType(f.Type)
		if f.Mode == "" {
			f.Mode = "NULLABLE"
		}
		f.Fields = canonical(f.Fields)
		out[i] = f
	}
	return out
}

func TestCreateTableFailures(t *testing.T) {
	tests := []struct {
		name string
		md   warehouse.TableMetadata
		want warehouse.ErrorCode
		sent bool
	}{
		{"exists", warehouse.TableMetadata{Ref: prod, Schema: nestedSchema}, warehouse.AlreadyExists, true},
		{"missing dataset", warehouse.TableMetadata{Ref: warehouse.TableRef{Project: "prod-proj", Dataset: "nope", Table: "t"}, Schema: nestedSchema}, warehouse.NotFound, true},
		{"unknown type", warehouse.TableMetadata{Ref: warehouse.TableRef{Project: "prod-proj", Dataset: "derived", Table: "t"}, Schema: warehouse.Schema{{Name: "x", Type: "VARCHAR2"}}}, warehouse.InvalidArgument, false},
		{"unknown mode", warehouse.TableMetadata{Ref: warehouse.TableRef{Project: "prod-proj", Dataset: "derived", Table: "t"}, Schema: warehouse.Schema{{Name: "x", Type: "STRING", Mode: "OPTIONAL"}}}, warehouse.InvalidArgument, false},
		{"record without fields", warehouse.TableMetadata{Ref: warehouse.TableRef{Project: "prod-proj", Dataset: "derived", Table: "t"}, Schema: warehouse.Schema{{Name: "x", Type: "RECORD"}}}, warehouse.InvalidArgument, false},
		{"partition field on an unpartitioned table", warehouse.TableMetadata{Ref: warehouse.TableRef{Project: "prod-proj", Dataset: "derived", Table: "t"}, Schema: nestedSchema, PartitionField: "submission_date"}, warehouse.InvalidArgument, false},
		{"clustering on a missing column (rejected by BigQuery)", warehouse.TableMetadata{Ref: warehouse.TableRef{Project: "prod-proj", Dataset: "derived", Table: "t"}, Schema: nestedSchema, Clustering: []string{"nope"}}, warehouse.InvalidArgument, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			wantCode(t, "CreateTable", e.w.CreateTable(e.ctx, tt.md), tt.want)
			if sent := len(e.fake.RequestsFor("tables.insert")) > 0; sent != tt.sent {
				t.Errorf("tables.insert sent = %v, want %v", sent, tt.sent)
			}
		})
	}
}

func TestCreateTableLike(t *testing.T) {
	e := newEnv(t)
	exp := time.Date(2030, 2, 1, 0, 0, 0, 0, time.UTC)
	e.fake.PutTable(&bq.Table{
		TableReference:         &bq.TableReference{ProjectId: "prod-proj", DatasetId: "derived", TableId: "src"},
		Schema:                 &bq.TableSchema{Fields: dailyFields()},
		TimePartitioning:       &bq.TimePartitioning{Type: "DAY", Field: "submission_date", ExpirationMs: 775 * 24 * 3600 * 1000},
		RequirePartitionFilter: true,
		Clustering:             &bq.Clustering{Fields: []string{"client_id"}},
		Labels:                 map[string]string{"owner": "tests", "tier": "1"},
		Description:            "production",
	})
	src := warehouse.TableRef{Project: "prod-proj", Dataset: "derived", Table: "src"}
	dst := warehouse.TableRef{Project: defaultProject, Dataset: "backfills_staging_derived", Table: "derived__src_2024_01_01"}
	err := e.w.CreateTableLike(e.ctx, src, dst, warehouse.CreateLikeOptions{Expiration: exp, Labels: map[string]string{"tier": "staging", "backfill_id": "b1"}})
	if err != nil {
		t.Fatalf("CreateTableLike: %v", err)
	}
	reqs := e.fake.RequestsFor("tables.insert")
	if len(reqs) != 1 {
		t.Fatalf("%d inserts", len(reqs))
	}
	var body map[string]any
	if err := reqs[0].Decode(&body); err != nil {
		t.Fatal(err)
	}
	jsonEqual(t, "tables.insert body", body, map[string]any{
		"tableReference": map[string]any{"projectId": defaultProject, "datasetId": "backfills_staging_derived", "tableId": "derived__src_2024_01_01"},
		"schema": map[string]any{"fields": []any{
			map[string]any{"name": "submission_date", "type": "DATE", "mode": "REQUIRED"},
			map[string]any{"name": "client_id", "type": "STRING"},
			map[string]any{"name": "n", "type": "INTEGER"},
		}},
		"timePartitioning": map[string]any{"type": "DAY", "field": "submission_date", "expirationMs": "66960000000"},
		"clustering":       map[string]any{"fields": []any{"client_id"}},
		"labels":           map[string]any{"owner": "tests", "tier": "staging", "backfill_id": "b1"},
		"expirationTime":   strconv.FormatInt(exp.UnixMilli(), 10),
	})
	wantCode(t, "CreateTableLike onto an existing table", e.w.CreateTableLike(e.ctx, src, dst, warehouse.CreateLikeOptions{}), warehouse.AlreadyExists)
	wantCode(t, "CreateTableLike from a missing table",
		e.w.CreateTableLike(e.ctx, warehouse.TableRef{Project: "prod-proj", Dataset: "derived", Table: "gone"}, dst, warehouse.CreateLikeOptions{}), warehouse.NotFound)
}

func TestEnsureDataset(t *testing.T) {
	t.Run("creates a missing dataset with its default expiration", func(t *testing.T) {
		e := newEnv(t)
		if err := e.w.EnsureDataset(e.ctx, "prod-proj", "backfills_staging_derived", 30*24*time.Hour); err != nil {
			t.Fatalf("EnsureDataset: %v", err)
		}
		reqs := e.fake.RequestsFor("datasets.insert")
		if len(reqs) != 1 || reqs[0].Path != "/projects/prod-proj/datasets" {
			t.Fatalf("datasets.insert: %v", paths(reqs))
		}
		var body map[string]any
		if err := reqs[0].Decode(&body); err != nil {
			t.Fatal(err)
		}
		jsonEqual(t, "datasets.insert body", body, map[string]any{
			"datasetReference":         map[string]any{"datasetId": "backfills_staging_derived"}, // the project is in the path
			"defaultTableExpirationMs": "2592000000",
		})
		if err := e.w.EnsureDataset(e.ctx, "prod-proj", "backfills_staging_derived", 0); err != nil {
			t.Fatalf("second EnsureDataset: %v", err)
		}
		if n := len(e.fake.RequestsFor("datasets.insert")); n != 1 {
			t.Errorf("%d inserts after a second EnsureDataset, want 1", n)
		}
		if n := len(e.fake.RequestsFor("datasets.patch")); n != 0 {
			t.Errorf("an existing dataset was patched")
		}
	})
	t.Run("location and a concurrent creation", func(t *testing.T) {
		e := newEnv(t, func(c *bqw.Config) { c.Location = "EU" })
		e.fake.InjectFault(bqfake.Fault{Op: "datasets.insert", Status: 409, Reason: "duplicate", Message: "Already Exists: Dataset prod-proj:x"})
		if err := e.w.EnsureDataset(e.ctx, "prod-proj", "x", 0); err != nil {
			t.Fatalf("EnsureDataset losing a creation race: %v", err)
		}
		var body map[string]any
		if err := e.fake.RequestsFor("datasets.insert")[0].Decode(&body); err != nil {
			t.Fatal(err)
		}
		if body["location"] != "EU" {
			t.Errorf("dataset location = %v, want EU", body["location"])
		}
	})
	t.Run("permission denied", func(t *testing.T) {
		e := newEnv(t)
		e.fake.InjectFault(bqfake.Fault{Op: "datasets.get", Status: 403, Reason: "accessDenied"})
		wantCode(t, "EnsureDataset", e.w.EnsureDataset(e.ctx, "other", "x", 0), warehouse.PermissionDenied)
	})
}

func TestTableMetadata(t *testing.T) {
	e := newEnv(t)
	e.setRows(prod, "20240101", 5)
	e.setRows(prod, "20240102", 6)
	md, err := e.w.Table(e.ctx, prod)
	if err != nil {
		t.Fatalf("Table: %v", err)
	}
	if md.PartitionType != warehouse.Day || md.PartitionField != "submission_date" || md.NumRows != 11 ||
		!reflect.DeepEqual(md.Clustering, []string{"client_id"}) || md.Labels["owner"] != "tests" {
		t.Errorf("Table(prod) = %+v", md)
	}
	wantSchema := warehouse.Schema{
		{Name: "submission_date", Type: "DATE", Mode: "REQUIRED"},
		{Name: "client_id", Type: "STRING", Mode: "NULLABLE"},
		{Name: "n", Type: "INT64", Mode: "NULLABLE"},
	}
	if !reflect.DeepEqual(md.Schema, wantSchema) {
		t.Errorf("schema = %+v, want %+v", md.Schema, wantSchema)
	}
	// Range partitioning is reported as unpartitioned.
	e.fake.PutTable(&bq.Table{
		TableReference:    &bq.TableReference{ProjectId: "prod-proj", DatasetId: "derived", TableId: "ranged"},
		Schema:            &bq.TableSchema{Fields: dailyFields()},
		RangePartitioning: &bq.RangePartitioning{Field: "n", Range: &bq.RangePartitioningRange{Start: 0, End: 100, Interval: 10}},
	})
	md, err = e.w.Table(e.ctx, warehouse.TableRef{Project: "prod-proj", Dataset: "derived", Table: "ranged"})
	if err != nil || md.PartitionType != warehouse.Unpartitioned {
		t.Errorf("range-partitioned table: %+v, %v", md, err)
	}
	_, err = e.w.Table(e.ctx, warehouse.TableRef{Project: "prod-proj", Dataset: "derived", Table: "gone"})
	wantCode(t, "Table of a missing table", err, warehouse.NotFound)
}

func TestPartitions(t *testing.T) {
	e := newEnv(t)
	e.setRows(prod, "20240102", 2)
	e.setRows(prod, "20231231", 1)
	e.setRows(prod, "__NULL__", 3)
	e.setRows(plain, "", 8)
	parts, err := e.w.Partitions(e.ctx, prod)
	if err != nil {
		t.Fatalf("Partitions: %v", err)
	}
	want := []warehouse.Partition{{ID: "20231231", Rows: 1}, {ID: "20240102", Rows: 2}, {ID: "__NULL__", Rows: 3}}
	if !reflect.DeepEqual(parts, want) {
		t.Errorf("Partitions = %v, want %v", parts, want)
	}
	reqs := e.fake.RequestsFor("jobs.query")
	if len(reqs) != 1 || reqs[0].Path != "/projects/"+defaultProject+"/queries" {
		t.Fatalf("INFORMATION_SCHEMA lookups: %v", paths(reqs))
	}
	var qr bq.QueryRequest
	if err := reqs[0].Decode(&qr); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(qr.Query, "FROM `prod-proj.derived.INFORMATION_SCHEMA.PARTITIONS`") ||
		len(qr.QueryParameters) != 1 || qr.QueryParameters[0].ParameterValue.Value != "daily_v1" {
		t.Errorf("lookup = %q with %v", qr.Query, qr.QueryParameters)
	}

	e.fake.ResetRequests()
	parts, err = e.w.Partitions(e.ctx, plain)
	if err != nil {
		t.Fatalf("Partitions(plain): %v", err)
	}
	if want := []warehouse.Partition{{ID: "", Rows: 8}}; !reflect.DeepEqual(parts, want) {
		t.Errorf("unpartitioned Partitions = %v, want %v", parts, want)
	}
	if n := len(e.fake.RequestsFor("jobs.query")); n != 0 {
		t.Errorf("an unpartitioned table ran %d queries, want 0 (numRows suffices)", n)
	}
	_, err = e.w.Partitions(e.ctx, warehouse.TableRef{Project: "prod-proj", Dataset: "derived", Table: "gone"})
	wantCode(t, "Partitions of a missing table", err, warehouse.NotFound)
}

func TestDelete(t *testing.T) {
	e := newEnv(t)
	if err := e.w.Delete(e.ctx, staging); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	reqs := e.fake.RequestsFor("tables.delete")
	if len(reqs) != 1 || reqs[0].Path != "/projects/staging-proj/datasets/backfills_staging_derived/tables/"+staging.Table {
		t.Errorf("tables.delete: %v", paths(reqs))
	}
	if e.fake.Table(staging) != nil {
		t.Error("table still there")
	}
	wantCode(t, "second Delete", e.w.Delete(e.ctx, staging), warehouse.NotFound)
}
