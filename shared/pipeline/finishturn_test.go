package pipeline_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bqbackfill/bqbackfill/shared/ledger"
	"github.com/bqbackfill/bqbackfill/shared/message"
	"github.com/bqbackfill/bqbackfill/shared/pipeline"
)

// countStates counts the listings of partition records (Finish's is
// PartitionEntries). Each takes a while, as a listing of thousands of
// records does, so that checks started together overlap.
type countStates struct {
	pipeline.Ledger
	n atomic.Int64
}

func (c *countStates) PartitionEntries(ctx context.Context, id string) ([]ledger.PartitionEntry, error) {
	c.n.Add(1)
	time.Sleep(50 * time.Millisecond)
	return c.Ledger.PartitionEntries(ctx, id)
}

// redelivery hands one message to the task, then holds the task until every
// task has handled its message, so that all their finish checks start
// together, as when a subscription runs dry under many tasks.
type redelivery struct {
	m       message.Received
	handled *sync.WaitGroup
}

func (r redelivery) Receive(ctx context.Context, h message.Handler) error {
	h(ctx, r.m)
	r.handled.Done()
	r.handled.Wait()
	return nil
}

// Tasks that go idle together check the backfill they touched in turns:
// the first lists the partition states and finishes it, the others find
// it finished without listing.
func TestRunTaskFinishChecksTakeTurns(t *testing.T) {
	e := newContractEnv(t)
	m := firstPartition(t, e)
	if out := e.p.HandlePartition(e.ctx, m, nil); out != message.Ack {
		t.Fatalf("first partition: outcome %v, want ack", out)
	}
	e.work(t)
	led := &countStates{Ledger: e.led}
	e.p.Ledger = led

	const tasks = 8
	var handled, done sync.WaitGroup
	handled.Add(tasks)
	finished := make(chan []string, tasks)
	for range tasks {
		done.Add(1)
		go func() {
			defer done.Done()
			st, err := e.p.RunTask(e.ctx, redelivery{m: m, handled: &handled})
			if err != nil {
				t.Error(err)
			}
			finished <- st.Finished
		}()
	}
	done.Wait()
	close(finished)
	var ids []string
	for f := range finished {
		ids = append(ids, f...)
	}
	if len(ids) != 1 || ids[0] != contractID {
		t.Errorf("finished by the tasks: %v, want %s once", ids, contractID)
	}
	if bf := e.record(t); bf.State != ledger.StateProcessed {
		t.Errorf("state %s, want processed", bf.State)
	}
	if n := led.n.Load(); n != 1 {
		t.Errorf("%d listings of the partition states by %d tasks, want 1", n, tasks)
	}
	if n := pipeline.FinishTurns(); n != 0 {
		t.Errorf("%d finish-check turns kept after every task left, want none (a long-lived process would keep one per backfill)", n)
	}
}
