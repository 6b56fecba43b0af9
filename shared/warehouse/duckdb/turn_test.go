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
	w, err := Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	if err := w.EnsureDataset(ctx, "turn-project", "ds", 0); err != nil {
		t.Fatal(err)
	}
	dest := warehouse.TableRef{Project: "turn-project", Dataset: "ds", Table: "t"}
	if err := w.CreateTable(ctx, warehouse.TableMetadata{Ref: dest, Schema: warehouse.Schema{{Name: "d", Type: "DATE"}, {Name: "n", Type: "INT64"}},
		PartitionType: warehouse.Day, PartitionField: "d"}); err != nil {
		t.Fatal(err)
	}

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
