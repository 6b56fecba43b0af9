package duckdb

import (
	"context"
	"strings"
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

// A copy from an empty source partition is refused whatever the
// disposition, and leaves the destination as it was: with WRITE_TRUNCATE
// the emptiness is read from the INSERT, after the DELETE, which the
// refusal rolls back; with the others from a count before the write.
func TestCopyFromEmptyPartitionEveryDisposition(t *testing.T) {
	ctx := context.Background()
	src := warehouse.TableRef{Project: "ce-project", Dataset: "ds", Table: "src"}
	dst := warehouse.TableRef{Project: "ce-project", Dataset: "ds", Table: "dst"}
	w := openWithDayTables(t, nil, src, dst)
	if _, err := w.Query(ctx, warehouse.QueryJob{SQL: "SELECT DATE '2024-03-01' AS d, 1 AS n", Destination: &src, Write: warehouse.WriteAppend}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Query(ctx, warehouse.QueryJob{SQL: "SELECT d, 2 AS n FROM UNNEST([DATE '2024-03-02', DATE '2024-03-02']) AS d", Destination: &dst, Write: warehouse.WriteAppend}); err != nil {
		t.Fatal(err)
	}
	for _, write := range []warehouse.WriteDisposition{warehouse.WriteTruncate, warehouse.WriteAppend, warehouse.WriteEmpty} {
		for _, destPartition := range []string{"20240302", ""} {
			_, err := w.Copy(ctx, warehouse.CopyJob{Source: src, SourcePartition: "20240302", Dest: dst, DestPartition: destPartition, Write: write})
			if warehouse.Code(err) != warehouse.InvalidArgument || !strings.Contains(err.Error(), "copy from the empty partition") {
				t.Errorf("%s into %q from an empty partition: %v, want InvalidArgument (empty partition)", write, destPartition, err)
			}
			parts, err := w.Partitions(ctx, dst)
			if err != nil || len(parts) != 1 || parts[0].ID != "20240302" || parts[0].Rows != 2 {
				t.Errorf("%s into %q: destination partitions %+v, %v; want 20240302 with its 2 rows", write, destPartition, parts, err)
			}
		}
	}
}
