package pipeline_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	"cloud.google.com/go/civil"

	"github.com/bqbackfill/bqbackfill/shared/ledger"
	"github.com/bqbackfill/bqbackfill/shared/pipeline"
	"github.com/bqbackfill/bqbackfill/shared/warehouse"
)

// stepReads counts the reads of swap steps.
type stepReads struct {
	pipeline.Ledger
	mu          sync.Mutex
	lists, gets int
}

func (l *stepReads) ListSwapSteps(ctx context.Context, id string) ([]*ledger.SwapStep, error) {
	l.mu.Lock()
	l.lists++
	l.mu.Unlock()
	return l.Ledger.ListSwapSteps(ctx, id)
}

func (l *stepReads) GetSwapStep(ctx context.Context, id, step string) (*ledger.SwapStep, error) {
	l.mu.Lock()
	l.gets++
	l.mu.Unlock()
	return l.Ledger.GetSwapStep(ctx, id, step)
}

// deniedCopy refuses the copy of one partition, as BigQuery does when a
// grant is missing.
type deniedCopy struct {
	warehouse.Warehouse
	partition string
}

func (w *deniedCopy) Copy(ctx context.Context, job warehouse.CopyJob) (warehouse.JobResult, error) {
	if job.DestPartition == w.partition {
		return warehouse.JobResult{}, warehouse.Errorf(warehouse.PermissionDenied, "copy", "Access Denied: Table %s", job.Dest)
	}
	return w.Warehouse.Copy(ctx, job)
}

// TestRollbackFailedSwapReadsStepsOnce: the rollback of a swap stopped on
// an error reads the list of swap steps once (it tells both that the swap
// started and which units to restore), and the backup step once more only
// for the partitions the backup has no rows of.
func TestRollbackFailedSwapReadsStepsOnce(t *testing.T) {
	e := newContractEnv(t)
	days := startCompleting(t, e, dayRange("Initiate", "2023-01-01", "2023-02-19"), civil.Date{Year: 2023, Month: 1, Day: 1}, 50)
	wh := e.p.Warehouse
	e.p.Warehouse = &deniedCopy{Warehouse: wh, partition: days[7]}
	if err := e.p.Complete(e.ctx, contractID); err != nil {
		t.Fatal(err)
	}
	if bf := e.record(t); bf.State != ledger.StateFailed || bf.Failure != ledger.FailureSwapStopped {
		t.Fatalf("after the denied copy: %s (%s), want failed with %s", bf.State, bf.Failure, ledger.FailureSwapStopped)
	}
	e.p.Warehouse = wh
	reads := &stepReads{Ledger: e.p.Ledger}
	e.p.Ledger = reads
	if _, n, err := e.p.Rollback(e.ctx, table); err != nil || n != len(days) {
		t.Fatalf("Rollback = %d, %v; want %d restored", n, err, len(days))
	}
	if reads.lists != 1 || reads.gets != 1 {
		t.Errorf("the rollback listed the swap steps %d time(s) and read one %d time(s); want 1 and 1", reads.lists, reads.gets)
	}
	if bf := e.record(t); bf.State != ledger.StateRolledBack {
		t.Errorf("after the rollback: %s, want rolled_back", bf.State)
	}
}

// TestRollbackEmptiesChunkNewToProduction: a rollback restoring a chunk
// the backup holds no rows of (days production did not have) empties it
// with one DELETE and copies nothing (the DELETE's job id, named for the
// chunk's first partition, was read after the chunk was narrowed to its
// copies, none here: an index out of range).
func TestRollbackEmptiesChunkNewToProduction(t *testing.T) {
	e := newContractEnv(t)
	days := startCompleting(t, e, dayRange("Initiate", "2023-01-01", "2023-02-19"), civil.Date{Year: 2023, Month: 1, Day: 1}, 50)
	if err := e.p.Complete(e.ctx, contractID); err != nil {
		t.Fatal(err)
	}
	e.fake.ResetRequests()
	if _, n, err := e.p.Rollback(e.ctx, table); err != nil || n != len(days) {
		t.Fatalf("Rollback = %d, %v; want %d restored", n, err, len(days))
	}
	rows := e.fake.PartitionRows(table)
	for _, d := range days {
		if rows[d] != 0 {
			t.Errorf("production partition %s has %d rows after the rollback, want none (the backup has none)", d, rows[d])
		}
	}
	jobs := e.insertedJobs(t)
	if len(jobs) != 1 || jobs[0].Configuration.Query == nil || !strings.HasPrefix(jobs[0].Configuration.Query.Query, "DELETE FROM") {
		t.Errorf("the rollback ran %d job(s), want one DELETE and no copy", len(jobs))
	}
}
