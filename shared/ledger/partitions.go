package ledger

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"sort"
	"strings"
	"time"

	"cloud.google.com/go/storage"
	"google.golang.org/api/iterator"
)

// PartitionState is the state of one partition.
type PartitionState string

// Partition states. A partition with no record yet is pending.
const (
	PartitionPending PartitionState = "pending" // not started
	PartitionRunning PartitionState = "running" // a worker is computing it
	PartitionDone    PartitionState = "done"    // in staging
	PartitionFailed  PartitionState = "failed"  // every attempt failed
)

// PartitionRecord is the record of one partition (partitions/<id>.json).
type PartitionRecord struct {
	// ID is the partition decorator (20240101, 202401) or "all" for a
	// whole-table backfill.
	ID string `json:"id"`
	// State is the partition's state.
	State PartitionState `json:"state"`
	// Attempts counts the attempts started, across redeliveries.
	Attempts int `json:"attempts"`
	// JobID is the warehouse job of the latest attempt.
	JobID string `json:"job_id,omitempty"`
	// BytesProcessed and Rows are the latest successful attempt's
	// statistics: bytes the query read, rows it wrote to the partition.
	BytesProcessed int64 `json:"bytes_processed,omitempty"`
	Rows           int64 `json:"rows"`
	// Duration is how long the latest attempt took (JSON: nanoseconds).
	Duration time.Duration `json:"duration_ns,omitempty"`
	// Error is the latest attempt's error ("" if it succeeded).
	Error string `json:"error,omitempty"`
	// ErrorKind classifies Error, so the notice and status say what helps
	// (a notify.FailureKind: transient, permission, not_found, query,
	// schema, check, unknown); "" if it succeeded.
	ErrorKind string `json:"error_kind,omitempty"`
	// Warnings are the failed #warn data checks of the latest successful
	// attempt ("check 2 (#warn) failed: …"); they never block.
	Warnings []string `json:"warnings,omitempty"`
	// UpdatedAt is when the record last changed.
	UpdatedAt time.Time `json:"updated_at"`

	// Generation is the GCS generation the record was read or written at
	// (not stored).
	Generation int64 `json:"-"`
}

// GetPartition reads one partition record; ErrNotFound if none was written.
func (s *Store) GetPartition(ctx context.Context, id, partition string) (*PartitionRecord, error) {
	name, err := childName(id, "partitions", partition)
	if err != nil {
		return nil, err
	}
	data, gen, err := s.read(ctx, name)
	if err != nil {
		return nil, err
	}
	var r PartitionRecord
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("decode %s: %w", name, err)
	}
	r.Generation = gen
	return &r, nil
}

// UpdatePartition applies fn to a partition record (a new pending record
// when none exists) with compare-and-swap, like Update.
func (s *Store) UpdatePartition(ctx context.Context, id, partition string, fn func(*PartitionRecord) error) (*PartitionRecord, error) {
	return s.updatePartition(ctx, id, partition, nil, fn)
}

// UpdatePartitionFrom is UpdatePartition starting from cur, the record as
// the caller just read it (nil: it did not exist), saving one read when
// nothing changed it meanwhile.
func (s *Store) UpdatePartitionFrom(ctx context.Context, id, partition string, cur *PartitionRecord, fn func(*PartitionRecord) error) (*PartitionRecord, error) {
	first := &snapshot{}
	if cur != nil {
		data, err := json.Marshal(cur)
		if err != nil {
			return nil, err
		}
		first = &snapshot{data: data, gen: cur.Generation}
	}
	return s.updatePartition(ctx, id, partition, first, fn)
}

func (s *Store) updatePartition(ctx context.Context, id, partition string, first *snapshot, fn func(*PartitionRecord) error) (*PartitionRecord, error) {
	name, err := childName(id, "partitions", partition)
	if err != nil {
		return nil, err
	}
	var r *PartitionRecord
	gen, err := s.updateFrom(ctx, name, true, first,
		func(data []byte, exists bool) error {
			r = &PartitionRecord{ID: partition, State: PartitionPending}
			if !exists {
				return nil
			}
			return json.Unmarshal(data, r)
		},
		func() error { return fn(r) },
		func() ([]byte, map[string]string, error) {
			data, err := json.Marshal(r)
			// The state is also object metadata, so PartitionStates can read
			// every partition's state from one listing.
			return data, partitionMetadata(r), err
		})
	if r != nil {
		r.Generation = gen
	}
	if err != nil {
		if errors.Is(err, ErrNoChange) {
			return r, err
		}
		return nil, fmt.Errorf("update partition %s of %s: %w", partition, id, err)
	}
	return r, nil
}

// ListPartitions returns the partition records written so far, by id.
func (s *Store) ListPartitions(ctx context.Context, id string) ([]*PartitionRecord, error) {
	p, err := backfillPrefix(id)
	if err != nil {
		return nil, err
	}
	names, err := s.names(ctx, p+"partitions/", func(n string) bool { return strings.HasSuffix(n, ".json") })
	if err != nil {
		return nil, err
	}
	out := make([]*PartitionRecord, len(names))
	err = s.each(ctx, len(names), func(i int) error {
		r, err := s.GetPartition(ctx, id, strings.TrimSuffix(path.Base(names[i]), ".json"))
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		out[i] = r
		return err
	})
	if err != nil {
		return nil, err
	}
	var res []*PartitionRecord
	for _, r := range out {
		if r != nil {
			res = append(res, r)
		}
	}
	return res, nil
}

const stateKey = "bqbackfill-state"

// PartitionStates returns the state of every partition record written so
// far, from one listing (the state is kept in each object's metadata).
func (s *Store) PartitionStates(ctx context.Context, id string) (map[string]PartitionState, error) {
	states, _, err := s.PartitionProgress(ctx, id)
	return states, err
}

// PartitionProgress is PartitionStates plus the time the most recent
// partition record reached a final state, done or failed (zero when none
// did): the backfill's last sign of progress, from the same single listing.
// A record written for a nacked attempt (still pending) is not progress: a
// partition failing over and over must not keep the scanner from seeing
// that nothing moves.
func (s *Store) PartitionProgress(ctx context.Context, id string) (map[string]PartitionState, time.Time, error) {
	p, err := backfillPrefix(id)
	if err != nil {
		return nil, time.Time{}, err
	}
	var last time.Time
	prefix := p + "partitions/"
	it := s.client.Bucket(s.bucket).Objects(ctx, &storage.Query{Prefix: prefix})
	out := map[string]PartitionState{}
	var missing []string
	for {
		a, err := it.Next()
		if errors.Is(err, iterator.Done) {
			break
		}
		if err != nil {
			return nil, time.Time{}, fmt.Errorf("list gs://%s/%s: %w", s.bucket, prefix, err)
		}
		if !strings.HasSuffix(a.Name, ".json") {
			continue
		}
		pid := strings.TrimSuffix(path.Base(a.Name), ".json")
		if st := PartitionState(a.Metadata[stateKey]); st != "" {
			out[pid] = st
			if (st == PartitionDone || st == PartitionFailed) && a.Updated.After(last) {
				last = a.Updated
			}
		} else {
			missing = append(missing, pid)
		}
	}
	// Records written without the metadata are read one by one.
	for _, pid := range missing {
		r, err := s.GetPartition(ctx, id, pid)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, time.Time{}, err
		}
		out[pid] = r.State
	}
	return out, last, nil
}

// Summary counts a backfill's partition records by state.
type Summary struct {
	// Counts holds the number of records in each state (states with none
	// are absent).
	Counts map[PartitionState]int
	// Total is the number of partition records written so far (partitions
	// never recorded are not counted; compare with Backfill.PartitionCount).
	Total int
	// Failed lists the ids of failed partitions, sorted.
	Failed []string
}

// PartitionSummary counts the partition records of a backfill with one
// listing (states come from object metadata; a record written without it
// is read).
func (s *Store) PartitionSummary(ctx context.Context, id string) (Summary, error) {
	states, err := s.PartitionStates(ctx, id)
	if err != nil {
		return Summary{}, fmt.Errorf("summarize partitions of %s: %w", id, err)
	}
	sum := Summary{Counts: map[PartitionState]int{}, Total: len(states)}
	for pid, st := range states {
		sum.Counts[st]++
		if st == PartitionFailed {
			sum.Failed = append(sum.Failed, pid)
		}
	}
	sort.Strings(sum.Failed)
	return sum, nil
}
