package profile_test

import (
	"context"
	"strings"
	"testing"

	"github.com/bqbackfill/bqbackfill/shared/profile"
	"github.com/bqbackfill/bqbackfill/shared/warehouse"
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
