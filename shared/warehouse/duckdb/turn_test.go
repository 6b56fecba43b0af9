package duckdb

import (
	"context"
	"testing"
	"time"

	"github.com/bqbackfill/bqbackfill/shared/warehouse"
)

// A writer waiting for its table's turn has already taken and set up its
// connection (USE of the job's defaults): the writer holding the turn does
// not wait for that setup, so the writes of one table, which go one at a
// time, go faster.
func TestWriterSetsUpItsConnectionBeforeItsTurn(t *testing.T) {
	ctx := context.Background()
	dest := warehouse.TableRef{Project: "turn-project", Dataset: "ds", Table: "t"}
	w := openWithDayTables(t, nil, dest)

	unlock := w.lockTable(dest) // another writer's turn
	done := make(chan error, 1)
	go func() {
		_, err := w.Query(ctx, warehouse.QueryJob{SQL: "SELECT DATE '2024-03-01' AS d, 1 AS n", Destination: &dest, Partition: "20240301",
			Write: warehouse.WriteTruncate, DefaultProject: dest.Project, DefaultDataset: dest.Dataset})
		done <- err
	}()
	for deadline := time.Now().Add(10 * time.Second); w.db.Stats().InUse == 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			unlock()
			t.Fatal("the waiting writer took no connection before its turn")
		}
	}
	select {
	case err := <-done:
		t.Fatalf("the write ended before its turn: %v", err)
	default:
	}
	unlock()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	parts, err := w.Partitions(ctx, dest)
	if err != nil || len(parts) != 1 || parts[0].ID != "20240301" || parts[0].Rows != 1 {
		t.Errorf("partitions after the write: %+v, %v; want 20240301 with 1 row", parts, err)
	}
}

// openWithDayTables opens a warehouse in a temporary directory with tables
// (d DATE, n INT64) partitioned by day on d.
func openWithDayTables(t *testing.T, opts *Options, tables ...warehouse.TableRef) *Warehouse {
	t.Helper()
	ctx := context.Background()
	w, err := Open(t.TempDir(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	for _, ref := range tables {
		if err := w.EnsureDataset(ctx, ref.Project, ref.Dataset, 0); err != nil {
			t.Fatal(err)
		}
		if err := w.CreateTable(ctx, warehouse.TableMetadata{Ref: ref, Schema: warehouse.Schema{{Name: "d", Type: "DATE"}, {Name: "n", Type: "INT64"}},
			PartitionType: warehouse.Day, PartitionField: "d"}); err != nil {
			t.Fatal(err)
		}
	}
	return w
}
