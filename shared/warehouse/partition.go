package warehouse

import (
	"fmt"
	"slices"
	"strings"

	"cloud.google.com/go/civil"
)

// NullPartitionID is the partition BigQuery keeps rows with a NULL
// partitioning column in.
const NullPartitionID = "__NULL__"

// ParsePartitionID parses a partition decorator: YYYYMMDD is a DAY
// partition, YYYYMM a MONTH partition. It returns the partition type and
// the half-open range of dates [start, end) the partition holds.
func ParsePartitionID(id string) (t PartitionType, start, end civil.Date, err error) {
	for _, c := range id {
		if c < '0' || c > '9' {
			return "", civil.Date{}, civil.Date{}, fmt.Errorf("partition id %q is not YYYYMMDD or YYYYMM", id)
		}
	}
	switch len(id) {
	case 8:
		d, perr := civil.ParseDate(id[:4] + "-" + id[4:6] + "-" + id[6:])
		if perr != nil {
			return "", civil.Date{}, civil.Date{}, fmt.Errorf("partition id %q is not a valid date", id)
		}
		return Day, d, d.AddDays(1), nil
	case 6:
		d, perr := civil.ParseDate(id[:4] + "-" + id[4:] + "-01")
		if perr != nil {
			return "", civil.Date{}, civil.Date{}, fmt.Errorf("partition id %q is not a valid month", id)
		}
		return Month, d, d.AddMonths(1), nil
	}
	return "", civil.Date{}, civil.Date{}, fmt.Errorf("partition id %q is not YYYYMMDD or YYYYMM", id)
}

// PartitionRange is the dates [Start, End) of one run of contiguous whole
// partitions.
type PartitionRange struct{ Start, End civil.Date }

// PartitionRanges parses the partition ids of a table partitioned by t
// (YYYYMMDD for DAY, YYYYMM for MONTH) and merges contiguous or repeated
// ones into ranges, in date order: 20240101, 20240102 and 20240105 are
// [2024-01-01, 2024-01-03) and [2024-01-05, 2024-01-06). A filter on
// these ranges selects exactly the partitions named, however scattered
// (excluded dates, a sparse list), and stays short for contiguous ones.
// An id that is not a partition id, or is one of another partition type,
// is an error.
func PartitionRanges(t PartitionType, ids []string) ([]PartitionRange, error) {
	rs := make([]PartitionRange, 0, len(ids))
	for _, id := range ids {
		pt, lo, hi, err := ParsePartitionID(id)
		if err != nil {
			return nil, err
		}
		if pt != t {
			return nil, fmt.Errorf("partition %s is a %s partition id but the table is partitioned by %s", id, pt, t)
		}
		rs = append(rs, PartitionRange{lo, hi})
	}
	slices.SortFunc(rs, func(a, b PartitionRange) int { return a.Start.Compare(b.Start) })
	out := rs[:0]
	for _, r := range rs {
		if n := len(out); n > 0 && !out[n-1].End.Before(r.Start) {
			if r.End.After(out[n-1].End) {
				out[n-1].End = r.End
			}
			continue
		}
		out = append(out, r)
	}
	return out, nil
}

// PartitionFilter is the GoogleSQL condition selecting the rows of the
// partitions ids of a table partitioned like md: one comparison pair per
// range of PartitionRanges, ORed,
//
//	(`f` >= DATE '2024-01-01' AND `f` < DATE '2024-01-03') OR (…)
//
// with literals of the partitioning column's type (DATE, TIMESTAMP or
// DATETIME: a TIMESTAMP literal without a zone is UTC, as partition
// boundaries are). It names only the partitioning column with whole
// partition bounds, so BigQuery prunes to exactly those partitions and a
// DELETE with it is free (spec/gcp-limits.md §3). md must be partitioned
// by a column: a table without one has no partitions to name.
func PartitionFilter(md *TableMetadata, ids []string) (string, error) {
	if md.PartitionType == Unpartitioned || md.PartitionField == "" {
		return "", fmt.Errorf("%s is not partitioned by a column: name no partitions to act on the whole table", md.Ref)
	}
	rs, err := PartitionRanges(md.PartitionType, ids)
	if err != nil {
		return "", fmt.Errorf("%s: %w", md.Ref, err)
	}
	if len(rs) == 0 {
		return "", fmt.Errorf("%s: no partitions named", md.Ref)
	}
	typ := "DATE"
	for _, f := range md.Schema {
		if strings.EqualFold(f.Name, md.PartitionField) {
			typ = CanonicalType(f.Type)
		}
	}
	f := "`" + md.PartitionField + "`"
	parts := make([]string, len(rs))
	for i, r := range rs {
		parts[i] = fmt.Sprintf("(%s >= %s '%s' AND %s < %s '%s')", f, typ, r.Start, f, typ, r.End)
	}
	return strings.Join(parts, " OR "), nil
}
