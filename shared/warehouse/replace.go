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
