package bqfake_test

import (
	"context"
	"strings"
	"testing"

	"cloud.google.com/go/bigquery"
	"cloud.google.com/go/civil"
	bq "google.golang.org/api/bigquery/v2"

	"github.com/bqbackfill/bqbackfill/shared/warehouse"
	"github.com/bqbackfill/bqbackfill/shared/warehouse/bqfake"
)

// prodFields is a production schema with what a query result lacks: a
// REQUIRED column, descriptions and a policy tag.
func prodFields() []*bq.TableFieldSchema {
	return []*bq.TableFieldSchema{
		{Name: "day", Type: "DATE", Mode: "REQUIRED", Description: "the day"},
		{Name: "n", Type: "INTEGER", Mode: "NULLABLE", Description: "a count",
			PolicyTags: &bq.TableFieldSchemaPolicyTags{Names: []string{"projects/p/locations/us/taxonomies/1/policyTags/2"}}},
	}
}

func putProd(s *bqfake.Server, id string, partitioned bool) warehouse.TableRef {
	md := &bq.Table{
		TableReference:   &bq.TableReference{ProjectId: "p", DatasetId: "d", TableId: id},
		Schema:           &bq.TableSchema{Fields: prodFields()},
		TableConstraints: &bq.TableConstraints{PrimaryKey: &bq.TableConstraintsPrimaryKey{Columns: []string{"day"}}},
	}
	if partitioned {
		md.TimePartitioning = &bq.TimePartitioning{Type: "DAY", Field: "day"}
	}
	s.PutTable(md)
	return warehouse.TableRef{Project: "p", Dataset: "d", Table: id}
}

// Query and copy jobs writing into existing tables treat the schema as
// documented for their write dispositions.
func TestWriteSchemaSemantics(t *testing.T) {
	day := civil.Date{Year: 2024, Month: 1, Day: 1}
	results := map[string]*bqfake.Result{
		// A query result: NULLABLE columns, no descriptions.
		"fits":       {Schema: []*bq.TableFieldSchema{bqfake.Column("day", "DATE"), bqfake.Column("n", "INTEGER")}, Rows: [][]any{{day, int64(1)}}},
		"null day":   {Schema: []*bq.TableFieldSchema{bqfake.Column("day", "DATE"), bqfake.Column("n", "INTEGER")}, Rows: [][]any{{nil, int64(1)}}},
		"wrong type": {Schema: []*bq.TableFieldSchema{bqfake.Column("day", "DATE"), bqfake.Column("n", "STRING")}, Rows: [][]any{{day, "x"}}},
		"extra":      {Schema: []*bq.TableFieldSchema{bqfake.Column("day", "DATE"), bqfake.Column("n", "INTEGER"), bqfake.Column("m", "INTEGER")}, Rows: [][]any{{day, 1, 2}}},
		"missing":    {Schema: []*bq.TableFieldSchema{bqfake.Column("day", "DATE")}, Rows: [][]any{{day}}},
	}
	tests := []struct {
		name, sql, dest string
		partitioned     bool
		wd              bigquery.TableWriteDisposition
		wantErr         string // substring; "" = success
		keepsSchema     bool
	}{
		{"whole table WRITE_TRUNCATE replaces schema and constraints", "fits", "t", false, bigquery.WriteTruncate, "", false},
		{"whole table WRITE_TRUNCATE_DATA keeps them", "fits", "t", false, bigquery.WriteTruncateData, "", true},
		{"WRITE_TRUNCATE_DATA rejects a NULL in a REQUIRED column", "null day", "t", false, bigquery.WriteTruncateData, "Required field day cannot be null", true},
		{"partition WRITE_TRUNCATE: NULLABLE into REQUIRED", "fits", "t$20240101", true, bigquery.WriteTruncate, "Field day has changed mode from REQUIRED to NULLABLE", true},
		{"partition WRITE_TRUNCATE_DATA keeps the schema", "fits", "t$20240101", true, bigquery.WriteTruncateData, "", true},
		{"another type", "wrong type", "t", false, bigquery.WriteTruncateData, "Field n has changed type from INTEGER to STRING", true},
		{"an extra column", "extra", "t", false, bigquery.WriteTruncateData, "Cannot add fields (field: m)", true},
		{"a missing column", "missing", "t", false, bigquery.WriteTruncateData, "Field n is missing in new schema", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, c := setup(t)
			s.OnQuery(func(q *bqfake.Query) (*bqfake.Result, error) { return results[q.SQL], nil })
			ref := putProd(s, "t", tt.partitioned)
			err := run(t, c, tt.sql, tt.dest, tt.wd)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("job failed: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr) || reason(err) != "invalid"):
				t.Fatalf("job error %v, want reason invalid with %q", err, tt.wantErr)
			}
			md := s.Table(ref)
			f := md.Schema.Fields[0]
			kept := f.Mode == "REQUIRED" && f.Description == "the day" && md.Schema.Fields[1].PolicyTags != nil && md.TableConstraints != nil
			if kept != tt.keepsSchema {
				t.Errorf("schema and constraints kept = %v, want %v (schema %+v, constraints %+v)", kept, tt.keepsSchema, md.Schema.Fields, md.TableConstraints)
			}
		})
	}
}

// Copy jobs: a whole-table WRITE_TRUNCATE copy takes the source's schema
// and constraints; WRITE_TRUNCATE_DATA is not offered; a partition copy
// must fit; a copy from an empty partition is an error (undocumented).
func TestCopySchemaSemantics(t *testing.T) {
	ctx := context.Background()
	s, c := setup(t)
	prod := putProd(s, "prod", true)
	if err := s.SetPartitionRows(prod, "20240101", 5); err != nil {
		t.Fatal(err)
	}
	// Staging with the result schema (NULLABLE, no descriptions).
	s.PutTable(&bq.Table{
		TableReference:   &bq.TableReference{ProjectId: "p", DatasetId: "d", TableId: "staging"},
		Schema:           &bq.TableSchema{Fields: []*bq.TableFieldSchema{bqfake.Column("day", "DATE"), bqfake.Column("n", "INTEGER")}},
		TimePartitioning: &bq.TimePartitioning{Type: "DAY", Field: "day"},
	})
	staging := warehouse.TableRef{Project: "p", Dataset: "d", Table: "staging"}
	if err := s.SetPartitionRows(staging, "20240101", 3); err != nil {
		t.Fatal(err)
	}
	cp := func(src, dst string, wd bigquery.TableWriteDisposition) error {
		copier := c.Dataset("d").Table(dst).CopierFrom(c.Dataset("d").Table(src))
		copier.WriteDisposition = wd
		j, err := copier.Run(ctx)
		if err != nil {
			return err
		}
		st, err := j.Status(ctx)
		if err != nil {
			return err
		}
		return st.Err()
	}
	if err := cp("staging$20240101", "prod$20240101", bigquery.WriteTruncate); err == nil || !strings.Contains(err.Error(), "Field day has changed mode from REQUIRED to NULLABLE") {
		t.Errorf("partition copy of NULLABLE into REQUIRED: %v, want a schema mismatch", err)
	}
	if err := cp("staging$20240102", "prod$20240102", bigquery.WriteTruncate); err == nil || !strings.Contains(err.Error(), "empty partition") {
		t.Errorf("copy from an empty partition: %v, want an error", err)
	}
	if err := cp("staging", "prod", bigquery.WriteTruncateData); reason(err) != "invalid" {
		t.Errorf("copy with WRITE_TRUNCATE_DATA: %v, want reason invalid", err)
	}
	if err := cp("staging", "prod", bigquery.WriteTruncate); err != nil {
		t.Fatalf("whole-table copy: %v", err)
	}
	md := s.Table(prod)
	if f := md.Schema.Fields[0]; f.Mode != "NULLABLE" || f.Description != "" || md.TableConstraints != nil {
		t.Errorf("after a WRITE_TRUNCATE copy production has %+v, constraints %+v; want the source's schema", f, md.TableConstraints)
	}
	if got := s.PartitionRows(prod); got["20240101"] != 3 {
		t.Errorf("rows after the copy: %v", got)
	}
}
