package duckdb_test

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	_ "github.com/duckdb/duckdb-go/v2"

	"github.com/bqbackfill/bqbackfill/shared/warehouse"
	"github.com/bqbackfill/bqbackfill/shared/warehouse/duckdb"
)

// The partition-write benchmarks write 1,000 day partitions, each a small
// query (10 rows of one day read from a 10,000-row source table) into
// dest$YYYYMMDD with WRITE_TRUNCATE. Each reports ms/partition;
// BenchmarkRawDeleteInsert1000 does the same delete-then-insert directly
// in DuckDB, so the difference is the warehouse's overhead (translation,
// catalog lookups, staging, the outside-the-partition check, counting).
// Record results in BENCHMARKS.md:
//
//	go test -run '^$' -bench 'Partition|Raw' -benchtime 3x ./shared/warehouse/duckdb/

const (
	benchDays       = 1000
	benchRowsPerDay = 10
)

var benchStart = time.Date(2022, 1, 1, 0, 0, 0, 0, time.UTC)

// benchSourceSQL generates the source rows: benchDays days × benchRowsPerDay.
const benchSourceSQL = "SELECT DATE_ADD(DATE '2022-01-01', INTERVAL d DAY) AS submission_date, CONCAT('client-', CAST(c AS STRING)) AS client_id, d * c AS n " +
	"FROM UNNEST(GENERATE_ARRAY(0, 999)) AS d, UNNEST(GENERATE_ARRAY(1, 10)) AS c"

func setupBench(b *testing.B) (*duckdb.Warehouse, warehouse.TableRef) {
	b.Helper()
	ctx := context.Background()
	w, err := duckdb.Open(b.TempDir(), nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { w.Close() })
	if err := w.EnsureDataset(ctx, "bench-project", "telemetry_derived", 0); err != nil {
		b.Fatal(err)
	}
	schema := warehouse.Schema{{Name: "submission_date", Type: "DATE", Mode: "REQUIRED"}, {Name: "client_id", Type: "STRING"}, {Name: "n", Type: "INT64"}}
	src := warehouse.TableRef{Project: "bench-project", Dataset: "telemetry_derived", Table: "source_v1"}
	dst := warehouse.TableRef{Project: "bench-project", Dataset: "telemetry_derived", Table: "dest_v1"}
	for _, ref := range []warehouse.TableRef{src, dst} {
		if err := w.CreateTable(ctx, warehouse.TableMetadata{Ref: ref, Schema: schema, PartitionType: warehouse.Day, PartitionField: "submission_date"}); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := w.Query(ctx, warehouse.QueryJob{SQL: benchSourceSQL, Destination: &src, Write: warehouse.WriteAppend}); err != nil {
		b.Fatal(err)
	}
	return w, dst
}

// partitionQuery is the per-partition job, as the worker sends it.
func partitionQuery(dst warehouse.TableRef, day time.Time) warehouse.QueryJob {
	return warehouse.QueryJob{
		SQL:            "SELECT submission_date, client_id, n * 2 AS n FROM `bench-project.telemetry_derived.source_v1` WHERE submission_date = @submission_date",
		Params:         []warehouse.Param{{Name: "submission_date", Type: "DATE", Value: day.Format("2006-01-02")}},
		Destination:    &dst,
		Partition:      warehouse.PartitionID(warehouse.Day, day),
		Write:          warehouse.WriteTruncate,
		DefaultProject: "bench-project",
		JobID:          "bench",
		Labels:         map[string]string{"backfill": "bench"},
	}
}

func BenchmarkPartitionWrite1000(b *testing.B) {
	ctx := context.Background()
	w, dst := setupBench(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for d := 0; d < benchDays; d++ {
			res, err := w.Query(ctx, partitionQuery(dst, benchStart.AddDate(0, 0, d)))
			if err != nil {
				b.Fatal(err)
			}
			if res.RowsWritten != benchRowsPerDay {
				b.Fatalf("RowsWritten = %d, want %d", res.RowsWritten, benchRowsPerDay)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N*benchDays), "ms/partition")
}

// BenchmarkPartitionWrite1000Parallel writes the 1,000 partitions from 4
// goroutines, as worker tasks do.
func BenchmarkPartitionWrite1000Parallel(b *testing.B) {
	ctx := context.Background()
	w, dst := setupBench(b)
	const workers = 4
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		days := make(chan int)
		var wg sync.WaitGroup
		errs := make(chan error, workers)
		for k := 0; k < workers; k++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for d := range days {
					if _, err := w.Query(ctx, partitionQuery(dst, benchStart.AddDate(0, 0, d))); err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		for d := 0; d < benchDays; d++ {
			days <- d
		}
		close(days)
		wg.Wait()
		close(errs)
		for err := range errs {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N*benchDays), "ms/partition")
}

// BenchmarkRawDeleteInsert1000 is the baseline: the same partition
// replacement as one hand-written DuckDB transaction per day.
func BenchmarkRawDeleteInsert1000(b *testing.B) {
	ctx := context.Background()
	db, err := sql.Open("duckdb", filepath.Join(b.TempDir(), "raw.duckdb"))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	setup := `CREATE TABLE source_v1 (submission_date DATE NOT NULL, client_id VARCHAR, n BIGINT);
		CREATE TABLE dest_v1 (submission_date DATE NOT NULL, client_id VARCHAR, n BIGINT);
		INSERT INTO source_v1 SELECT DATE '2022-01-01' + CAST(d AS INTEGER), 'client-' || c, d * c FROM range(0, 1000) AS a(d), range(1, 11) AS b(c)`
	if _, err := db.ExecContext(ctx, setup); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for d := 0; d < benchDays; d++ {
			day := benchStart.AddDate(0, 0, d).Format("2006-01-02")
			tx, err := db.BeginTx(ctx, nil)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := tx.ExecContext(ctx, fmt.Sprintf("DELETE FROM dest_v1 WHERE submission_date = DATE '%s'", day)); err != nil {
				b.Fatal(err)
			}
			if _, err := tx.ExecContext(ctx, fmt.Sprintf("INSERT INTO dest_v1 SELECT submission_date, client_id, n * 2 FROM source_v1 WHERE submission_date = DATE '%s'", day)); err != nil {
				b.Fatal(err)
			}
			if err := tx.Commit(); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N*benchDays), "ms/partition")
}
