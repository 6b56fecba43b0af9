package ledger

import (
	"context"
	"fmt"
	"slices"
)

// warningsKey marks, in object metadata, a partition record that holds
// data-check warnings (their number), so the "done" report and status read
// only those records.
const warningsKey = "bqbackfill-warnings"

// kindKey is a partition record's ErrorKind in object metadata, so status
// and retry learn why partitions failed from the listing that gives their
// states, without reading each failed record.
const kindKey = "bqbackfill-error-kind"

// partitionMetadata is the object metadata of a partition record: its
// state, its error kind and how many warnings it holds.
func partitionMetadata(r *PartitionRecord) map[string]string {
	md := map[string]string{stateKey: string(r.State)}
	if len(r.Warnings) > 0 {
		md[warningsKey] = fmt.Sprint(len(r.Warnings))
	}
	if r.ErrorKind != "" {
		md[kindKey] = r.ErrorKind
	}
	return md
}

// PartitionsWithWarnings returns the partition records that hold data-check
// warnings, by id: one listing, then one read per such record.
func (s *Store) PartitionsWithWarnings(ctx context.Context, id string) ([]*PartitionRecord, error) {
	entries, err := s.PartitionEntries(ctx, id)
	if err != nil {
		return nil, err
	}
	var warned []string
	for _, e := range entries {
		if e.Warnings > 0 {
			warned = append(warned, e.ID)
		}
	}
	recs, err := s.ReadPartitions(ctx, id, warned)
	if err != nil {
		return nil, err
	}
	// A record rewritten since the listing may hold none any more.
	return slices.DeleteFunc(recs, func(r *PartitionRecord) bool { return len(r.Warnings) == 0 }), nil
}
