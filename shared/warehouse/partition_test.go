package warehouse_test

import (
	"strings"
	"testing"

	"github.com/bqbackfill/bqbackfill/shared/warehouse"
)

// TestPartitionFilter: the filter names exactly the partitions given,
// contiguous ones merged into one range, in date order, with literals of
// the partitioning column's type (as BigQuery needs for a free DELETE and
// exact pruning).
func TestPartitionFilter(t *testing.T) {
	ref := warehouse.TableRef{Project: "p", Dataset: "d", Table: "t"}
	table := func(pt warehouse.PartitionType, field, typ string) *warehouse.TableMetadata {
		md := &warehouse.TableMetadata{Ref: ref, PartitionType: pt, PartitionField: field}
		if typ != "" {
			md.Schema = []warehouse.Field{{Name: "n", Type: "INTEGER"}, {Name: field, Type: typ}}
		}
		return md
	}
	const (
		f       = "`submission_date`"
		day1    = "(" + f + " >= DATE '2024-01-01' AND " + f + " < DATE '2024-01-02')"
		day1to3 = "(" + f + " >= DATE '2024-01-01' AND " + f + " < DATE '2024-01-04')"
	)
	for _, c := range []struct {
		name    string
		md      *warehouse.TableMetadata
		ids     []string
		want    string
		wantErr string
	}{
		{"single day", table(warehouse.Day, "submission_date", "DATE"), []string{"20240101"}, day1, ""},
		{"contiguous days are one range", table(warehouse.Day, "submission_date", "DATE"), []string{"20240101", "20240102", "20240103"}, day1to3, ""},
		{"gaps: excluded dates stay out", table(warehouse.Day, "submission_date", "DATE"), []string{"20240101", "20240102", "20240103", "20240110", "20240112"},
			day1to3 + " OR (" + f + " >= DATE '2024-01-10' AND " + f + " < DATE '2024-01-11') OR (" + f + " >= DATE '2024-01-12' AND " + f + " < DATE '2024-01-13')", ""},
		{"unsorted and repeated ids", table(warehouse.Day, "submission_date", "DATE"), []string{"20240103", "20240101", "20240102", "20240101"}, day1to3, ""},
		{"across a month end", table(warehouse.Day, "submission_date", "DATE"), []string{"20240131", "20240201"},
			"(" + f + " >= DATE '2024-01-31' AND " + f + " < DATE '2024-02-02')", ""},
		{"month partitions", table(warehouse.Month, "submission_date", "DATE"), []string{"202401", "202402", "202405"},
			"(" + f + " >= DATE '2024-01-01' AND " + f + " < DATE '2024-03-01') OR (" + f + " >= DATE '2024-05-01' AND " + f + " < DATE '2024-06-01')", ""},
		{"single month", table(warehouse.Month, "submission_date", "DATE"), []string{"202412"},
			"(" + f + " >= DATE '2024-12-01' AND " + f + " < DATE '2025-01-01')", ""},
		{"TIMESTAMP column", table(warehouse.Day, "ts", "TIMESTAMP"), []string{"20240101", "20240103"},
			"(`ts` >= TIMESTAMP '2024-01-01' AND `ts` < TIMESTAMP '2024-01-02') OR (`ts` >= TIMESTAMP '2024-01-03' AND `ts` < TIMESTAMP '2024-01-04')", ""},
		{"DATETIME column by month", table(warehouse.Month, "dt", "DATETIME"), []string{"202401"},
			"(`dt` >= DATETIME '2024-01-01' AND `dt` < DATETIME '2024-02-01')", ""},
		{"column matched case-insensitively", table(warehouse.Day, "TS", "timestamp"), []string{"20240101"},
			"(`TS` >= TIMESTAMP '2024-01-01' AND `TS` < TIMESTAMP '2024-01-02')", ""},
		{"no schema: DATE", table(warehouse.Day, "submission_date", ""), []string{"20240101"}, day1, ""},
		{"month id on a day table", table(warehouse.Day, "submission_date", "DATE"), []string{"20240101", "202401"}, "",
			"p.d.t: partition 202401 is a MONTH partition id but the table is partitioned by DAY"},
		{"not a partition id", table(warehouse.Day, "submission_date", "DATE"), []string{"2024-01-01"}, "", `partition id "2024-01-01" is not YYYYMMDD or YYYYMM`},
		{"no such date", table(warehouse.Day, "submission_date", "DATE"), []string{"20240230"}, "", `partition id "20240230" is not a valid date`},
		{"unpartitioned", table(warehouse.Unpartitioned, "", ""), []string{"20240101"}, "", "p.d.t is not partitioned by a column"},
		{"ingestion-time partitioned", table(warehouse.Day, "", ""), []string{"20240101"}, "", "p.d.t is not partitioned by a column"},
		{"no partitions", table(warehouse.Day, "submission_date", "DATE"), nil, "", "p.d.t: no partitions named"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := warehouse.PartitionFilter(c.md, c.ids)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("PartitionFilter = %q, %v; want an error with %q", got, err, c.wantErr)
				}
				return
			}
			if err != nil || got != c.want {
				t.Errorf("PartitionFilter = %q, %v\nwant %q", got, err, c.want)
			}
		})
	}
}

// TestPartitionRanges: the ranges are half-open, in date order, merged
// where partitions touch or repeat.
func TestPartitionRanges(t *testing.T) {
	for _, c := range []struct {
		name string
		t    warehouse.PartitionType
		ids  []string
		want string
	}{
		{"none", warehouse.Day, nil, ""},
		{"one day", warehouse.Day, []string{"20241231"}, "2024-12-31..2025-01-01"},
		{"leap day run", warehouse.Day, []string{"20240228", "20240229", "20240301"}, "2024-02-28..2024-03-02"},
		{"sparse days", warehouse.Day, []string{"20240105", "20240101", "20240103"}, "2024-01-01..2024-01-02 2024-01-03..2024-01-04 2024-01-05..2024-01-06"},
		{"months across a year", warehouse.Month, []string{"202412", "202501", "202503"}, "2024-12-01..2025-02-01 2025-03-01..2025-04-01"},
	} {
		t.Run(c.name, func(t *testing.T) {
			rs, err := warehouse.PartitionRanges(c.t, c.ids)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, r := range rs {
				got = append(got, r.Start.String()+".."+r.End.String())
			}
			if s := strings.Join(got, " "); s != c.want {
				t.Errorf("PartitionRanges = %s, want %s", s, c.want)
			}
		})
	}
}
