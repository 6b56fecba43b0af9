package ledger

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"sort"
	"strconv"
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
	pids := make([]string, len(names))
	for i, n := range names {
		pids[i] = strings.TrimSuffix(path.Base(n), ".json")
	}
	return s.ReadPartitions(ctx, id, pids)
}

// stateKey is a record's state (backfill or partition) in object metadata.
const stateKey = "bqbackfill-state"

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

// PartitionEntry is one partition record as a listing shows it, from its
// object's metadata (a record written without metadata is read).
type PartitionEntry struct {
	ID    string
	State PartitionState
	// ErrorKind is the record's ErrorKind ("" if none).
	ErrorKind string
	// Warnings counts the record's data-check warnings.
	Warnings int
	// Updated is when the object was written (zero for a record that had
	// to be read).
	Updated time.Time

	// kindListed is false for a record written before its error kind was
	// kept in metadata: its ErrorKind is unknown until it is read.
	kindListed bool
}

// PartitionEntries lists the partition records written so far, sorted by
// id: one listing, since state, error kind and warnings are in each
// object's metadata. A record written without any metadata is read.
func (s *Store) PartitionEntries(ctx context.Context, id string) ([]PartitionEntry, error) {
	p, err := backfillPrefix(id)
	if err != nil {
		return nil, err
	}
	prefix := p + "partitions/"
	it := s.client.Bucket(s.bucket).Objects(ctx, &storage.Query{Prefix: prefix})
	var out []PartitionEntry
	var missing []string
	for {
		a, err := it.Next()
		if errors.Is(err, iterator.Done) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("list gs://%s/%s: %w", s.bucket, prefix, err)
		}
		if !strings.HasSuffix(a.Name, ".json") {
			continue
		}
		pid := strings.TrimSuffix(path.Base(a.Name), ".json")
		st := PartitionState(a.Metadata[stateKey])
		if st == "" {
			missing = append(missing, pid)
			continue
		}
		kind, listed := a.Metadata[kindKey]
		// A failed record always has a kind: one without the key predates it.
		e := PartitionEntry{ID: pid, State: st, Updated: a.Updated, ErrorKind: kind, kindListed: listed || st != PartitionFailed}
		if w := a.Metadata[warningsKey]; w != "" {
			// Their number; any value marks a record that holds some.
			if e.Warnings, _ = strconv.Atoi(w); e.Warnings < 1 {
				e.Warnings = 1
			}
		}
		out = append(out, e)
	}
	// Records written without the metadata are read one by one.
	for _, pid := range missing {
		r, err := s.GetPartition(ctx, id, pid)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, PartitionEntry{ID: pid, State: r.State, ErrorKind: r.ErrorKind, Warnings: len(r.Warnings), kindListed: true})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

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
	entries, err := s.PartitionEntries(ctx, id)
	if err != nil {
		return nil, time.Time{}, err
	}
	var last time.Time
	out := make(map[string]PartitionState, len(entries))
	for _, e := range entries {
		out[e.ID] = e.State
		if (e.State == PartitionDone || e.State == PartitionFailed) && e.Updated.After(last) {
			last = e.Updated
		}
	}
	return out, last, nil
}

// ReadPartitions reads the records of the partitions pids (16 at a time),
// in that order; a record deleted meanwhile is left out.
func (s *Store) ReadPartitions(ctx context.Context, id string, pids []string) ([]*PartitionRecord, error) {
	return readEach(ctx, s, len(pids), func(i int) (*PartitionRecord, error) { return s.GetPartition(ctx, id, pids[i]) })
}

// Summary counts a backfill's partition records by state.
type Summary struct {
	// Counts holds the number of records in each state (states with none
	// are absent).
	Counts map[PartitionState]int
	// Total is the number of partition records written so far (partitions
	// never recorded are not counted; compare with Backfill.PartitionCount).
	Total int
	// States holds the state of each partition record, by id.
	States map[string]PartitionState
	// Failed lists the ids of failed partitions, sorted.
	Failed []string
	// FailedKinds holds the error kind of each failed partition, by id
	// ("" when its record has none); nil when none failed.
	FailedKinds map[string]string
	// Warned lists the ids of the partitions whose records hold
	// data-check warnings, sorted (ReadPartitions reads them).
	Warned []string
}

// PartitionSummary counts the partition records of a backfill with one
// listing: states, error kinds and warnings come from object metadata. A
// record written without them (by an earlier version) is read.
func (s *Store) PartitionSummary(ctx context.Context, id string) (Summary, error) {
	entries, err := s.PartitionEntries(ctx, id)
	if err != nil {
		return Summary{}, fmt.Errorf("summarize partitions of %s: %w", id, err)
	}
	sum := Summary{Counts: map[PartitionState]int{}, Total: len(entries), States: make(map[string]PartitionState, len(entries))}
	var unlisted []string
	for _, e := range entries {
		sum.Counts[e.State]++
		sum.States[e.ID] = e.State
		if e.Warnings > 0 {
			sum.Warned = append(sum.Warned, e.ID)
		}
		if e.State != PartitionFailed {
			continue
		}
		sum.Failed = append(sum.Failed, e.ID)
		if sum.FailedKinds == nil {
			sum.FailedKinds = map[string]string{}
		}
		sum.FailedKinds[e.ID] = e.ErrorKind
		if !e.kindListed {
			unlisted = append(unlisted, e.ID)
		}
	}
	recs, err := s.ReadPartitions(ctx, id, unlisted)
	if err != nil {
		return Summary{}, fmt.Errorf("summarize partitions of %s: %w", id, err)
	}
	for _, r := range recs {
		sum.FailedKinds[r.ID] = r.ErrorKind
	}
	return sum, nil
}
