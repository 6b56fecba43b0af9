package profile_test

import (
	"context"
	"strings"
	"testing"

	bq "google.golang.org/api/bigquery/v2"

	"github.com/bqbackfill/bqbackfill/shared/profile"
	"github.com/bqbackfill/bqbackfill/shared/warehouse"
	bqw "github.com/bqbackfill/bqbackfill/shared/warehouse/bigquery"
	"github.com/bqbackfill/bqbackfill/shared/warehouse/bqfake"
	"github.com/bqbackfill/bqbackfill/shared/warehouse/duckdb"
)

type countingReader struct {
	*duckdb.Warehouse
	reads int
}

func (c *countingReader) Read(ctx context.Context, job warehouse.QueryJob) (*warehouse.Rows, error) {
	c.reads++
	return c.Warehouse.Read(ctx, job)
}

func TestRun(t *testing.T) {
	ctx := context.Background()
	w, err := duckdb.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	_, err = w.Query(ctx, warehouse.QueryJob{SQL: `
CREATE SCHEMA p.d;
CREATE TABLE p.d.prod (submission_date DATE, client_id STRING, country STRING, n INT64) PARTITION BY submission_date CLUSTER BY country;
CREATE TABLE p.d.stg (submission_date DATE, client_id STRING, country STRING, n INT64) PARTITION BY submission_date CLUSTER BY country;
INSERT INTO p.d.prod VALUES (DATE '2024-01-01', 'a', 'DE', 1), (DATE '2024-01-01', 'b', 'US', 2), (DATE '2024-01-02', 'a', 'DE', 4), (DATE '2024-01-03', 'z', 'FR', 9);
INSERT INTO p.d.stg VALUES (DATE '2024-01-01', 'a', 'DE', 1), (DATE '2024-01-01', 'b', NULL, 2), (DATE '2024-01-02', 'a', 'DE', 4), (DATE '2024-01-02', 'c', 'DE', 4);`})
	if err != nil {
		t.Fatal(err)
	}
	cr := &countingReader{Warehouse: w}
	cs, err := profile.Run(ctx, cr, profile.Options{Staging: warehouse.TableRef{Project: "p", Dataset: "d", Table: "stg"},
		Production: warehouse.TableRef{Project: "p", Dataset: "d", Table: "prod"}, Partitions: []string{"20240101", "20240102"}})
	if err != nil {
		t.Fatal(err)
	}
	if cr.reads != 1 {
		t.Errorf("%d queries, want one for both tables and all partitions", cr.reads)
	}
	got := map[string]string{}
	for _, c := range cs {
		got[c.Partition+" "+c.Metric] = c.String()
	}
	for k, want := range map[string]string{
		"20240101 rows":                "20240101 rows: 2 → 2 (+0.0%)",
		"20240101 nulls(country)":      "20240101 nulls(country): 0 → 1 (new)",
		"20240102 rows":                "20240102 rows: 1 → 2 (+100.0%)",
		"20240102 sum(n)":              "20240102 sum(n): 4 → 8 (+100.0%)",
		"20240102 max(n)":              "20240102 max(n): 4 → 4 (+0.0%)",
		"20240102 distinct(client_id)": "20240102 distinct(client_id): 1 → 2 (+100.0%)",
	} {
		if got[k] != want {
			t.Errorf("%s = %q, want %q", k, got[k], want)
		}
	}
	if _, ok := got["20240103 rows"]; ok {
		t.Errorf("a partition outside the backfill was profiled")
	}
	sorted := profile.Sorted(cs)
	if !strings.HasPrefix(sorted[0].String(), "20240101 nulls(country)") || !strings.Contains(sorted[1].String(), "(+100.0%)") {
		t.Errorf("largest changes first: %v, %v", sorted[0], sorted[1])
	}
}

// The profile's estimate, before staging exists: a dry run of the query's
// production side, doubled for the staging side. On BigQuery the dry run
// is BigQuery's (pruned to the profiled partitions); a new table has no
// production to estimate from.
func TestEstimateBytesBigQuery(t *testing.T) {
	ctx := context.Background()
	fake := bqfake.New()
	defer fake.Close()
	prod := warehouse.TableRef{Project: "p", Dataset: "d", Table: "prod"}
	fake.PutTable(&bq.Table{TableReference: &bq.TableReference{ProjectId: "p", DatasetId: "d", TableId: "prod"},
		Schema:           &bq.TableSchema{Fields: []*bq.TableFieldSchema{{Name: "submission_date", Type: "DATE"}, {Name: "n", Type: "INTEGER"}}},
		TimePartitioning: &bq.TimePartitioning{Type: "DAY", Field: "submission_date"}})
	var dry []string
	fake.OnQuery(func(q *bqfake.Query) (*bqfake.Result, error) {
		if !q.DryRun {
			t.Errorf("query run for real: %s", q.SQL)
			return nil, nil
		}
		dry = append(dry, q.SQL)
		return &bqfake.Result{BytesProcessed: 1000}, nil
	})
	w, err := bqw.NewWithConfig(ctx, bqw.Config{Project: "p"}, fake.ClientOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	o := profile.Options{Staging: warehouse.TableRef{Project: "p", Dataset: "staging", Table: "not_yet"}, Production: prod, Partitions: []string{"20240101", "20240102"}}
	got, known, err := profile.EstimateBytes(ctx, w, o)
	if err != nil || !known || got != 2000 {
		t.Fatalf("EstimateBytes = %d, %v, %v; want 2 × the dry run's 1000", got, known, err)
	}
	if len(dry) != 1 || !strings.HasPrefix(dry[0], "SELECT 'production' AS side") || !strings.Contains(dry[0], "FROM `p.d.prod` WHERE DATE(`submission_date`) BETWEEN DATE '2024-01-01' AND DATE '2024-01-02'") || strings.Contains(dry[0], "not_yet") {
		t.Errorf("dry runs %q, want one of the production side over the profiled partitions", dry)
	}
	o.Production = warehouse.TableRef{Project: "p", Dataset: "d", Table: "new_table"}
	if got, known, err := profile.EstimateBytes(ctx, w, o); err != nil || known || got != 0 {
		t.Errorf("EstimateBytes of a new table = %d, %v, %v; want 0, not known", got, known, err)
	}
}

// On the embedded warehouse the dry run is DuckDB's own estimate: the
// table read, whole (no pruning), so the profile's figure is twice
// production's size, an upper bound.
func TestEstimateBytesEmbedded(t *testing.T) {
	ctx := context.Background()
	w, err := duckdb.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, err := w.Query(ctx, warehouse.QueryJob{SQL: `
CREATE SCHEMA p.d;
CREATE TABLE p.d.prod (submission_date DATE, n INT64) PARTITION BY submission_date;
INSERT INTO p.d.prod SELECT d, 1 FROM UNNEST(GENERATE_DATE_ARRAY(DATE '2024-01-01', DATE '2024-01-30')) AS d;`}); err != nil {
		t.Fatal(err)
	}
	whole, err := w.Query(ctx, warehouse.QueryJob{SQL: "SELECT * FROM `p.d.prod`", DryRun: true})
	if err != nil || whole.BytesProcessed == 0 {
		t.Fatalf("dry run of the whole table: %+v, %v", whole, err)
	}
	got, known, err := profile.EstimateBytes(ctx, w, profile.Options{Production: warehouse.TableRef{Project: "p", Dataset: "d", Table: "prod"}, Partitions: []string{"20240101"}})
	if err != nil || !known || got != 2*whole.BytesProcessed {
		t.Errorf("EstimateBytes = %d, %v, %v; want twice the table's %d bytes", got, known, err, whole.BytesProcessed)
	}
}
