package bigquery_test

import (
	"fmt"
	"testing"

	"cloud.google.com/go/civil"
	bq "google.golang.org/api/bigquery/v2"

	"github.com/bqbackfill/bqbackfill/shared/warehouse"
	"github.com/bqbackfill/bqbackfill/shared/warehouse/bqfake"
)

const policyTag = "projects/prod-proj/locations/us/taxonomies/1/policyTags/2"

// richFields is a production schema using every column option BigQuery
// has besides name, type and mode.
func richFields() []*bq.TableFieldSchema {
	return []*bq.TableFieldSchema{
		{Name: "submission_date", Type: "DATE", Mode: "REQUIRED", Description: "day"},
		{Name: "client_id", Type: "STRING", Description: "who", MaxLength: 36, Collation: "und:ci",
			PolicyTags: &bq.TableFieldSchemaPolicyTags{Names: []string{policyTag}}, DefaultValueExpression: "'unknown'"},
		{Name: "amount", Type: "NUMERIC", Precision: 10, Scale: 2, RoundingMode: "ROUND_HALF_EVEN"},
		{Name: "valid", Type: "RANGE", RangeElementType: &bq.TableFieldSchemaRangeElementType{Type: "DATE"}},
	}
}

func putRich(e *env, ref warehouse.TableRef, labels int) {
	md := &bq.Table{
		TableReference:   &bq.TableReference{ProjectId: ref.Project, DatasetId: ref.Dataset, TableId: ref.Table},
		Schema:           &bq.TableSchema{Fields: richFields()},
		TimePartitioning: &bq.TimePartitioning{Type: "DAY", Field: "submission_date"},
		DefaultCollation: "und:ci",
		TableConstraints: &bq.TableConstraints{PrimaryKey: &bq.TableConstraintsPrimaryKey{Columns: []string{"client_id"}}},
		Labels:           map[string]string{},
	}
	for i := 0; i < labels; i++ {
		md.Labels[fmt.Sprintf("l%02d", i)] = "v"
	}
	e.fake.PutTable(md)
}

// F7: a table created like production keeps every column option (policy
// tags above all: without them staging exposes secured columns), the
// default collation and the constraints; merged labels stay within 64.
func TestCreateTableLikeKeepsColumnOptions(t *testing.T) {
	e := newEnv(t)
	src := warehouse.TableRef{Project: "prod-proj", Dataset: "derived", Table: "rich"}
	dst := warehouse.TableRef{Project: defaultProject, Dataset: "backfills_staging_derived", Table: "derived__rich_2024_01_01"}
	putRich(e, src, 63)
	if err := e.w.CreateTableLike(e.ctx, src, dst, warehouse.CreateLikeOptions{Labels: map[string]string{"backfill_id": "b1", "backfill_table": "t"}}); err != nil {
		t.Fatalf("CreateTableLike: %v", err)
	}
	got := e.fake.Table(dst)
	jsonEqual(t, "staging schema", got.Schema.Fields, richFields())
	if got.DefaultCollation != "und:ci" || got.TableConstraints == nil || got.TableConstraints.PrimaryKey == nil {
		t.Errorf("default collation %q, constraints %+v: not copied", got.DefaultCollation, got.TableConstraints)
	}
	if n := len(got.Labels); n != 64 || got.Labels["backfill_id"] != "b1" || got.Labels["backfill_table"] != "t" {
		t.Errorf("%d labels (backfill_id=%q): want 64 with the backfill's own", n, got.Labels["backfill_id"])
	}
}

// F6: whole-table writes keep production's schema. A whole-table query
// replaces the rows only (WRITE_TRUNCATE_DATA); a whole-table copy, which
// takes the source's schema in BigQuery, gets the destination's schema
// and constraints back.
func TestWholeTableWritesKeepSchema(t *testing.T) {
	e := newEnv(t)
	prodT := warehouse.TableRef{Project: "prod-proj", Dataset: "derived", Table: "whole"}
	putRich(e, prodT, 1)
	day := civil.Date{Year: 2024, Month: 1, Day: 1}
	e.fake.OnQuery(func(q *bqfake.Query) (*bqfake.Result, error) {
		if q.Destination == nil {
			return nil, nil
		}
		return &bqfake.Result{
			Schema: []*bq.TableFieldSchema{bqfake.Column("submission_date", "DATE"), bqfake.Column("client_id", "STRING"), bqfake.Column("amount", "NUMERIC"), bqfake.Column("valid", "RANGE")},
			Rows:   [][]any{{day, "c", "1.5", nil}},
		}, nil
	})
	if _, err := e.w.Query(e.ctx, warehouse.QueryJob{SQL: "SELECT 1", Destination: &prodT, Write: warehouse.WriteTruncate}); err != nil {
		t.Fatalf("whole-table query: %v", err)
	}
	got := e.fake.Table(prodT)
	jsonEqual(t, "schema after a whole-table query", got.Schema.Fields, richFields())

	// A source with plain columns (as a query creates them).
	src := warehouse.TableRef{Project: "prod-proj", Dataset: "derived", Table: "plain_copy"}
	e.fake.PutTable(&bq.Table{
		TableReference:   &bq.TableReference{ProjectId: src.Project, DatasetId: src.Dataset, TableId: src.Table},
		Schema:           &bq.TableSchema{Fields: []*bq.TableFieldSchema{{Name: "submission_date", Type: "DATE", Mode: "REQUIRED"}, {Name: "client_id", Type: "STRING"}, {Name: "amount", Type: "NUMERIC"}, {Name: "valid", Type: "RANGE", RangeElementType: &bq.TableFieldSchemaRangeElementType{Type: "DATE"}}}},
		TimePartitioning: &bq.TimePartitioning{Type: "DAY", Field: "submission_date"},
	})
	e.setRows(src, "20240101", 2)
	if _, err := e.w.Copy(e.ctx, warehouse.CopyJob{Source: src, Dest: prodT, Write: warehouse.WriteTruncate}); err != nil {
		t.Fatalf("whole-table copy: %v", err)
	}
	got = e.fake.Table(prodT)
	jsonEqual(t, "schema after a whole-table copy", got.Schema.Fields, richFields())
	if got.TableConstraints == nil || got.TableConstraints.PrimaryKey == nil {
		t.Errorf("constraints after a whole-table copy: %+v", got.TableConstraints)
	}
	if rows := e.fake.PartitionRows(prodT); rows["20240101"] != 2 || len(rows) != 1 {
		t.Errorf("rows after the copy: %v", rows)
	}
}
