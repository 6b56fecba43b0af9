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

// countingReader records the queries profiling reads with.
type countingReader struct {
	*duckdb.Warehouse
	sql []string
}

func (c *countingReader) Read(ctx context.Context, job warehouse.QueryJob) (*warehouse.Rows, error) {
	c.sql = append(c.sql, job.SQL)
	return c.Warehouse.Read(ctx, job)
}

// embedded opens an embedded warehouse and runs setup on it.
func embedded(t *testing.T, setup string) *duckdb.Warehouse {
	t.Helper()
	w, err := duckdb.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	if _, err := w.Query(context.Background(), warehouse.QueryJob{SQL: setup}); err != nil {
		t.Fatal(err)
	}
	return w
}

func TestRun(t *testing.T) {
	ctx := context.Background()
	w := embedded(t, `
CREATE SCHEMA p.d;
CREATE TABLE p.d.prod (submission_date DATE, client_id STRING, country STRING, n INT64) PARTITION BY submission_date CLUSTER BY country;
CREATE TABLE p.d.stg (submission_date DATE, client_id STRING, country STRING, n INT64) PARTITION BY submission_date CLUSTER BY country;
INSERT INTO p.d.prod VALUES (DATE '2024-01-01', 'a', 'DE', 1), (DATE '2024-01-01', 'b', 'US', 2), (DATE '2024-01-02', 'a', 'DE', 4), (DATE '2024-01-03', 'z', 'FR', 9);
INSERT INTO p.d.stg VALUES (DATE '2024-01-01', 'a', 'DE', 1), (DATE '2024-01-01', 'b', NULL, 2), (DATE '2024-01-02', 'a', 'DE', 4), (DATE '2024-01-02', 'c', 'DE', 4);`)
	cr := &countingReader{Warehouse: w}
	cs, err := profile.Run(ctx, cr, profile.Options{Staging: warehouse.TableRef{Project: "p", Dataset: "d", Table: "stg"},
		Production: warehouse.TableRef{Project: "p", Dataset: "d", Table: "prod"}, Partitions: []string{"20240101", "20240102"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(cr.sql) != 1 {
		t.Errorf("%d queries, want one for both tables and all partitions", len(cr.sql))
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
	if len(dry) != 1 || !strings.HasPrefix(dry[0], "SELECT 'production' AS side") || !strings.Contains(dry[0], "FROM `p.d.prod` WHERE (`submission_date` >= DATE '2024-01-01' AND `submission_date` < DATE '2024-01-03') GROUP BY") || strings.Contains(dry[0], "not_yet") {
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
	w := embedded(t, `
CREATE SCHEMA p.d;
CREATE TABLE p.d.prod (submission_date DATE, n INT64) PARTITION BY submission_date;
INSERT INTO p.d.prod SELECT d, 1 FROM UNNEST(GENERATE_DATE_ARRAY(DATE '2024-01-01', DATE '2024-01-30')) AS d;`)
	whole, err := w.Query(ctx, warehouse.QueryJob{SQL: "SELECT * FROM `p.d.prod`", DryRun: true})
	if err != nil || whole.BytesProcessed == 0 {
		t.Fatalf("dry run of the whole table: %+v, %v", whole, err)
	}
	got, known, err := profile.EstimateBytes(ctx, w, profile.Options{Production: warehouse.TableRef{Project: "p", Dataset: "d", Table: "prod"}, Partitions: []string{"20240101"}})
	if err != nil || !known || got != 2*whole.BytesProcessed {
		t.Errorf("EstimateBytes = %d, %v, %v; want twice the table's %d bytes", got, known, err, whole.BytesProcessed)
	}
}

// TestRunScatteredPartitions: the profile of scattered partitions (dates
// excluded between them) filters exactly those partitions, as ranges of
// the partitioning column typed like it, not everything between the first
// and the last (which the profile, its dry-run cost and the Q2 guard
// paid for); the result is the profile of those partitions only.
func TestRunScatteredPartitions(t *testing.T) {
	ctx := context.Background()
	// Every day of 2024-01-01..06 holds rows in both tables; 03 and 04 are
	// not profiled and differ wildly, so reading them would show.
	w := embedded(t, `
CREATE SCHEMA p.d;
CREATE TABLE p.d.prod (submission_date DATE, client_id STRING, n INT64) PARTITION BY submission_date;
CREATE TABLE p.d.stg (submission_date DATE, client_id STRING, n INT64) PARTITION BY submission_date;
CREATE TABLE p.d.prod_ts (ts TIMESTAMP, client_id STRING, n INT64) PARTITION BY DATE(ts);
CREATE TABLE p.d.stg_ts (ts TIMESTAMP, client_id STRING, n INT64) PARTITION BY DATE(ts);
INSERT INTO p.d.prod SELECT d, 'a', 1 FROM UNNEST(GENERATE_DATE_ARRAY(DATE '2024-01-01', DATE '2024-01-06')) AS d;
INSERT INTO p.d.stg SELECT d, 'a', IF(d IN (DATE '2024-01-03', DATE '2024-01-04'), 1000, 2) FROM UNNEST(GENERATE_DATE_ARRAY(DATE '2024-01-01', DATE '2024-01-06')) AS d;
INSERT INTO p.d.prod_ts SELECT TIMESTAMP(d), 'a', 1 FROM UNNEST(GENERATE_DATE_ARRAY(DATE '2024-01-01', DATE '2024-01-06')) AS d;
INSERT INTO p.d.stg_ts SELECT TIMESTAMP(d), 'a', IF(d IN (DATE '2024-01-03', DATE '2024-01-04'), 1000, 2) FROM UNNEST(GENERATE_DATE_ARRAY(DATE '2024-01-01', DATE '2024-01-06')) AS d;
INSERT INTO p.d.stg_ts VALUES (TIMESTAMP '2024-01-02 23:59:59', 'b', 5), (TIMESTAMP '2024-01-03 00:00:00', 'c', 7);`)
	parts := []string{"20240101", "20240102", "20240105"}
	for _, c := range []struct {
		prod, stg, filter string
		wantRows2         string // 20240102: the row at 23:59:59 is in it, the one at midnight is not
	}{
		{"prod", "stg", "WHERE (`submission_date` >= DATE '2024-01-01' AND `submission_date` < DATE '2024-01-03') OR (`submission_date` >= DATE '2024-01-05' AND `submission_date` < DATE '2024-01-06') GROUP BY",
			"20240102 rows: 1 → 1 (+0.0%)"},
		{"prod_ts", "stg_ts", "WHERE (`ts` >= TIMESTAMP '2024-01-01' AND `ts` < TIMESTAMP '2024-01-03') OR (`ts` >= TIMESTAMP '2024-01-05' AND `ts` < TIMESTAMP '2024-01-06') GROUP BY",
			"20240102 rows: 1 → 2 (+100.0%)"},
	} {
		t.Run(c.prod, func(t *testing.T) {
			r := &countingReader{Warehouse: w}
			cs, err := profile.Run(ctx, r, profile.Options{Staging: warehouse.TableRef{Project: "p", Dataset: "d", Table: c.stg},
				Production: warehouse.TableRef{Project: "p", Dataset: "d", Table: c.prod}, Partitions: parts})
			if err != nil {
				t.Fatal(err)
			}
			if len(r.sql) != 1 || strings.Count(r.sql[0], c.filter) != 2 || strings.Contains(r.sql[0], "BETWEEN") {
				t.Errorf("profile query %q, want both sides filtered by %q", r.sql, c.filter)
			}
			got := map[string]string{}
			for _, ch := range cs {
				got[ch.Partition+" "+ch.Metric] = ch.String()
			}
			for k, want := range map[string]string{
				"20240101 rows":   "20240101 rows: 1 → 1 (+0.0%)",
				"20240101 sum(n)": "20240101 sum(n): 1 → 2 (+100.0%)",
				"20240102 rows":   c.wantRows2,
				"20240105 rows":   "20240105 rows: 1 → 1 (+0.0%)",
				"20240105 max(n)": "20240105 max(n): 1 → 2 (+100.0%)",
			} {
				if got[k] != want {
					t.Errorf("%s = %q, want %q", k, got[k], want)
				}
			}
			for _, ch := range cs {
				if ch.Partition != "20240101" && ch.Partition != "20240102" && ch.Partition != "20240105" {
					t.Errorf("change of a partition not profiled: %v", ch)
				}
			}
		})
	}
}
