package ledger

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"

	"cloud.google.com/go/storage"
	"google.golang.org/api/iterator"
)

// warningsKey marks, in object metadata, a partition record that holds
// data-check warnings, so the "done" report reads only those records.
const warningsKey = "bqbackfill-warnings"

// partitionMetadata is the object metadata of a partition record: its state
// and whether it holds warnings.
func partitionMetadata(r *PartitionRecord) map[string]string {
	md := map[string]string{stateKey: string(r.State)}
	if len(r.Warnings) > 0 {
		md[warningsKey] = fmt.Sprint(len(r.Warnings))
	}
	return md
}

// PartitionsWithWarnings returns the partition records that hold data-check
// warnings, in listing order: one listing, then one read per such record.
func (s *Store) PartitionsWithWarnings(ctx context.Context, id string) ([]*PartitionRecord, error) {
	p, err := backfillPrefix(id)
	if err != nil {
		return nil, err
	}
	prefix := p + "partitions/"
	it := s.client.Bucket(s.bucket).Objects(ctx, &storage.Query{Prefix: prefix})
	var out []*PartitionRecord
	for {
		a, err := it.Next()
		if errors.Is(err, iterator.Done) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("list gs://%s/%s: %w", s.bucket, prefix, err)
		}
		if !strings.HasSuffix(a.Name, ".json") || a.Metadata[warningsKey] == "" {
			continue
		}
		r, err := s.GetPartition(ctx, id, strings.TrimSuffix(path.Base(a.Name), ".json"))
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if len(r.Warnings) > 0 {
			out = append(out, r)
		}
	}
}
