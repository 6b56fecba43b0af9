package warehouse

// ReplaceJob replaces partitions of Dest with the same partitions of
// Source in one multi-statement transaction: DELETE the partitions from
// Dest (free on BigQuery when the filter covers whole partitions), INSERT
// them from Source (billed for the Source bytes read), COMMIT. Readers see
// Dest all-old or all-new (snapshot isolation); a failure rolls back and
// leaves Dest as it was. Dest keeps its own schema, description and
// policies: the table is not replaced, only rows are.
type ReplaceJob struct {
	Source TableRef
	Dest   TableRef
	// Partitions are the decorators replaced ("20240101", "202401"); at
	// most 4,000 (BigQuery's partitions per statement). Empty replaces
	// every row of Dest with every row of Source.
	Partitions     []string
	BillingProject string
	Labels         map[string]string
	JobID          string
}

// MaxReplacePartitions is the most partitions one ReplaceJob may name: one
// DML statement modifies at most 4,000 partitions (spec/gcp-limits.md §3).
const MaxReplacePartitions = 4000

// DeleteJob empties whole partitions of Table: a DELETE filtered on the
// partitioning column only, which BigQuery runs without scanning or
// billing bytes when the filter covers whole partitions
// (spec/gcp-limits.md §3); with no Partitions, every row of the table
// (TRUNCATE TABLE, free as well). The table keeps its schema,
// partitioning and policies. A swap uses it where the partition it would
// copy in is empty: what a copy from an empty partition does is
// undocumented, so it is never relied on.
type DeleteJob struct {
	Table TableRef
	// Partitions are the decorators emptied ("20240101", "202401"); at
	// most MaxReplacePartitions. Partitions that hold no rows are fine.
	Partitions     []string
	BillingProject string
	Labels         map[string]string
	JobID          string
}
