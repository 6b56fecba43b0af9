package local

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"google.golang.org/api/googleapi"

	"github.com/bqbackfill/bqbackfill/shared/ledger"
	"github.com/bqbackfill/bqbackfill/shared/pipeline"
)

// fullDiskLedger is the ledger on a full disk: once full, every partition
// write fails as the local GCS server answers a write it cannot store
// (fake-gcs-server: HTTP 500 "…: no space left on device", reason
// internalError), wrapped as ledger.Store wraps a failed write.
type fullDiskLedger struct {
	pipeline.Ledger
	full *atomic.Bool
}

func (l *fullDiskLedger) err(id, partition string) error {
	return fmt.Errorf("update partition %s of %s: write gs://%s/backfills/%s/partitions/%s.json: %w", partition, id, LedgerBucket, id, partition,
		&googleapi.Error{Code: 500, Message: "write state/gcs/data/" + LedgerBucket + "/x: no space left on device", Errors: []googleapi.ErrorItem{{Reason: "internalError"}}})
}

func (l *fullDiskLedger) UpdatePartition(ctx context.Context, id, partition string, fn func(*ledger.PartitionRecord) error) (*ledger.PartitionRecord, error) {
	if l.full.Load() {
		return nil, l.err(id, partition)
	}
	return l.Ledger.UpdatePartition(ctx, id, partition, fn)
}

func (l *fullDiskLedger) UpdatePartitionFrom(ctx context.Context, id, partition string, cur *ledger.PartitionRecord, fn func(*ledger.PartitionRecord) error) (*ledger.PartitionRecord, error) {
	if l.full.Load() {
		return nil, l.err(id, partition)
	}
	return l.Ledger.UpdatePartitionFrom(ctx, id, partition, cur, fn)
}

// TestDiskFullDuringInitiate: a run whose partition records cannot be
// written does not end as if all went well (review: hostile input, item
// 9: "processing 284/699", exit 0); once there is space, a new run
// resumes and finishes.
func TestDiskFullDuringInitiate(t *testing.T) {
	full := &atomic.Bool{}
	full.Store(true)
	s := openStack(t, Options{Ledger: func(l pipeline.Ledger) pipeline.Ledger { return &fullDiskLedger{Ledger: l, full: full} }})
	loadWarehouse(t, s)
	tc := e2eCases[0]
	id := pipeline.BackfillID(tc.table, testToday)
	sqlDir := writeTree(t, tc.table, tc.entry)

	_, err := s.Run(context.Background(), sqlDir)
	var unfinished *UnfinishedError
	if !errors.As(err, &unfinished) {
		t.Fatalf("run on a full disk: error %v, want an *UnfinishedError", err)
	}
	if msg := err.Error(); !strings.Contains(msg, id+": processing, 0/2 partitions done") || !strings.Contains(msg, "run again to resume") {
		t.Errorf("error %q does not name the backfill, its progress and what to do", msg)
	}

	full.Store(false)
	run(t, s, sqlDir)
	checkProcessed(t, s, tc, id)
}
