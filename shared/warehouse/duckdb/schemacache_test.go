package duckdb

import (
	"context"
	"testing"
	"time"

	"github.com/bqbackfill/bqbackfill/shared/warehouse"
)

// The copies of a swap, one per partition, read the source's and the
// destination's columns once, not once per copy; a catalog change (here a
// destination dropped and created again with other columns, at the same
// frozen instant, so under the same name and creation time) makes the next
// copy read them again and refuse the incompatible destination.
func TestCopiesReadSchemasOnce(t *testing.T) {
	ctx := context.Background()
	frozen := time.Date(2024, 3, 20, 12, 0, 0, 0, time.UTC)
	src := warehouse.TableRef{Project: "sc-project", Dataset: "ds", Table: "src"}
	dst := warehouse.TableRef{Project: "sc-project", Dataset: "ds", Table: "dst"}
	w := openWithDayTables(t, &Options{Now: func() time.Time { return frozen }}, src, dst)
	days := []string{"20240301", "20240302", "20240303", "20240304"}
	if _, err := w.Query(ctx, warehouse.QueryJob{SQL: "SELECT d, 1 AS n FROM UNNEST([DATE '2024-03-01', DATE '2024-03-02', DATE '2024-03-03', DATE '2024-03-04']) AS d",
		Destination: &src, Write: warehouse.WriteAppend}); err != nil {
		t.Fatal(err)
	}
	copyDay := func(day string) error {
		_, err := w.Copy(ctx, warehouse.CopyJob{Source: src, SourcePartition: day, Dest: dst, DestPartition: day, Write: warehouse.WriteTruncate})
		return err
	}
	for _, day := range days {
		if err := copyDay(day); err != nil {
			t.Fatal(err)
		}
	}
	if n := w.schemaReads.Load(); n != 2 {
		t.Errorf("%d schema reads for %d copies, want 2 (source and destination once)", n, len(days))
	}
	parts, err := w.Partitions(ctx, dst)
	if err != nil || len(parts) != len(days) {
		t.Fatalf("destination partitions %+v, %v; want %d", parts, err, len(days))
	}

	if err := w.Delete(ctx, dst); err != nil {
		t.Fatal(err)
	}
	other := warehouse.Schema{{Name: "d", Type: "DATE"}, {Name: "label", Type: "STRING"}}
	if err := w.CreateTable(ctx, warehouse.TableMetadata{Ref: dst, Schema: other, PartitionType: warehouse.Day, PartitionField: "d"}); err != nil {
		t.Fatal(err)
	}
	if err := copyDay(days[0]); warehouse.Code(err) != warehouse.FailedPrecondition {
		t.Errorf("copy onto the recreated, incompatible destination: %v, want FailedPrecondition", err)
	}
	if n := w.schemaReads.Load(); n != 4 {
		t.Errorf("%d schema reads after the catalog change, want 4 (both read again)", n)
	}
}
