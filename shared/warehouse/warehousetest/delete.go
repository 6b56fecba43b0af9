package warehousetest

import (
	"context"
	"fmt"
	"reflect"
	"testing"

	"github.com/bqbackfill/bqbackfill/shared/warehouse"
)

// RowSeeder is implemented by harnesses whose warehouse cannot compute
// rows from SQL (no RealData) but can hold row counts per partition, as a
// fake of BigQuery's REST API does; cases about partitions then run too.
type RowSeeder interface {
	SeedPartitionRows(ctx context.Context, ref warehouse.TableRef, partition string, rows int64) error
}

// seedCounts gives ref the row counts of counts (partition id -> rows;
// "" for an unpartitioned table): with real rows when the warehouse
// computes them, through the harness's RowSeeder otherwise. It skips the
// case when the harness can do neither.
func (f *fixture) seedCounts(ref warehouse.TableRef, counts map[string]int64) {
	f.t.Helper()
	if !f.h.Capabilities().RealData {
		s, ok := f.h.(RowSeeder)
		if !ok {
			f.t.Skip("harness can neither compute rows nor seed row counts")
		}
		for id, n := range counts {
			if err := s.SeedPartitionRows(f.ctx, ref, id, n); err != nil {
				f.t.Fatalf("seed %s$%s: %v", ref, id, err)
			}
		}
		return
	}
	var rows []row
	for id, n := range counts {
		day := "2024-01-01"
		if id != "" {
			_, lo, _, err := warehouse.ParsePartitionID(id)
			if err != nil {
				f.t.Fatalf("seed %s: %v", ref, err)
			}
			day = lo.String()
		}
		for i := int64(0); i < n; i++ {
			rows = append(rows, row{day, fmt.Sprintf("c%d", i), i})
		}
	}
	f.seed(ref, rows...)
}

// nonEmpty drops the partitions without rows from a partitions map.
func nonEmpty(m map[string]int64) map[string]int64 {
	out := map[string]int64{}
	for id, n := range m {
		if n > 0 {
			out[id] = n
		}
	}
	return out
}

func testDeletePartitions(t *testing.T, f *fixture) {
	daily := f.createDaily("daily")
	f.seedCounts(daily, map[string]int64{"20240101": 2, "20240102": 3, "20240103": 1, "20240105": 4})
	// 20240104 holds no rows: emptying it is no error. Running the same
	// job twice leaves the same table (a resumed swap repeats it).
	job := warehouse.DeleteJob{Table: daily, Partitions: []string{"20240102", "20240103", "20240104"}, JobID: "clear_x"}
	for i := 0; i < 2; i++ {
		res, err := f.w.DeletePartitions(f.ctx, job)
		if err != nil {
			t.Fatalf("DeletePartitions (run %d): %v", i+1, err)
		}
		if res.RowsWritten != 0 {
			t.Errorf("RowsWritten = %d, want 0", res.RowsWritten)
		}
	}
	if got, want := nonEmpty(f.partitions(daily)), map[string]int64{"20240101": 2, "20240105": 4}; !reflect.DeepEqual(got, want) {
		t.Errorf("partitions after emptying 20240102-20240104: %v, want %v", got, want)
	}
	md, err := f.w.Table(f.ctx, daily)
	if err != nil {
		t.Fatal(err)
	}
	if md.PartitionType != warehouse.Day || md.PartitionField != "submission_date" {
		t.Errorf("table lost its partitioning: %s %q", md.PartitionType, md.PartitionField)
	}
	sameSchema(t, "emptied table", md.Schema, dailySchema)

	monthly := f.createMonthly("monthly")
	f.seedCounts(monthly, map[string]int64{"202401": 2, "202402": 1})
	if _, err := f.w.DeletePartitions(f.ctx, warehouse.DeleteJob{Table: monthly, Partitions: []string{"202402"}}); err != nil {
		t.Fatalf("DeletePartitions of a month: %v", err)
	}
	if got, want := nonEmpty(f.partitions(monthly)), map[string]int64{"202401": 2}; !reflect.DeepEqual(got, want) {
		t.Errorf("month partitions after emptying 202402: %v, want %v", got, want)
	}

	// No partitions: the whole table, which keeps its schema.
	plainSchema := warehouse.Schema{{Name: "submission_date", Type: "DATE"}, {Name: "client", Type: "STRING"}, {Name: "n", Type: "INT64"}}
	plain := f.createPlain("plain", plainSchema)
	f.seedCounts(plain, map[string]int64{"": 3})
	if _, err := f.w.DeletePartitions(f.ctx, warehouse.DeleteJob{Table: plain}); err != nil {
		t.Fatalf("DeletePartitions of a whole table: %v", err)
	}
	if got := nonEmpty(f.partitions(plain)); len(got) != 0 {
		t.Errorf("whole table after emptying it: %v, want no rows", got)
	}
	if md, err := f.w.Table(f.ctx, plain); err != nil {
		t.Fatal(err)
	} else {
		sameSchema(t, "emptied whole table", md.Schema, plainSchema)
	}

	for _, c := range []struct {
		what string
		job  warehouse.DeleteJob
		code warehouse.ErrorCode
	}{
		{"a missing table", warehouse.DeleteJob{Table: f.ref("missing"), Partitions: []string{"20240101"}}, warehouse.NotFound},
		{"a month id on a day table", warehouse.DeleteJob{Table: daily, Partitions: []string{"202401"}}, warehouse.InvalidArgument},
		{"a malformed id", warehouse.DeleteJob{Table: daily, Partitions: []string{"2024-01-01"}}, warehouse.InvalidArgument},
		{"partitions of an unpartitioned table", warehouse.DeleteJob{Table: plain, Partitions: []string{"20240101"}}, warehouse.InvalidArgument},
		{"more partitions than one statement may change", warehouse.DeleteJob{Table: daily, Partitions: make([]string, warehouse.MaxReplacePartitions+1)}, warehouse.InvalidArgument},
	} {
		_, err := f.w.DeletePartitions(f.ctx, c.job)
		wantCode(t, "DeletePartitions of "+c.what, err, c.code)
	}
	if got, want := nonEmpty(f.partitions(daily)), map[string]int64{"20240101": 2, "20240105": 4}; !reflect.DeepEqual(got, want) {
		t.Errorf("refused deletions changed the table: %v, want %v", got, want)
	}
}

// testCopyFromEmptyPartition: a copy from an empty partition is refused
// (what BigQuery does with one is undocumented, so no implementation
// gives callers an answer to depend on), and the destination is kept.
func testCopyFromEmptyPartition(t *testing.T, f *fixture) {
	src := f.createDaily("staging")
	dst := f.createDaily("prod")
	f.seedCounts(src, map[string]int64{"20240101": 1})
	f.seedCounts(dst, map[string]int64{"20240101": 2, "20240102": 3})
	_, err := f.w.Copy(f.ctx, warehouse.CopyJob{Source: src, SourcePartition: "20240102", Dest: dst, DestPartition: "20240102", Write: warehouse.WriteTruncate})
	wantCode(t, "copy from an empty partition", err, warehouse.InvalidArgument)
	if got, want := nonEmpty(f.partitions(dst)), map[string]int64{"20240101": 2, "20240102": 3}; !reflect.DeepEqual(got, want) {
		t.Errorf("a refused copy changed the destination: %v, want %v", got, want)
	}
}
