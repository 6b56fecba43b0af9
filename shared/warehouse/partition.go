package warehouse

import (
	"fmt"

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
