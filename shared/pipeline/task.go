package pipeline

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bqbackfill/bqbackfill/shared/message"
)

// Receiver hands the messages of the partitions subscription to a handler
// until the subscription stays empty or ctx ends, settling each by the
// handler's outcome (shared/queue.Subscription implements it over Pub/Sub).
// It returns an error only when the subscription itself fails.
type Receiver interface {
	Receive(ctx context.Context, h message.Handler) error
}

// TaskStats report what a task did.
type TaskStats struct {
	Handled   int64
	Redeliver int64 // messages nacked for redelivery
	Finished  []string
}

// RunTask is one worker task (a Cloud Run job task, or a goroutine in local
// mode): it takes the partition messages from recv until it stays empty, then
// checks the backfills it touched and finishes those whose partitions are
// all final. It returns an error only when the subscription itself fails.
func (p *Pipeline) RunTask(ctx context.Context, recv Receiver) (TaskStats, error) {
	var st TaskStats
	var handled, nacked atomic.Int64
	touched := &Touched{}
	err := recv.Receive(ctx,
		func(ctx context.Context, m message.Received) message.Outcome {
			out := p.HandlePartition(ctx, m, touched)
			handled.Add(1)
			if out == message.Nack {
				nacked.Add(1)
			}
			return out
		})
	st.Handled, st.Redeliver = handled.Load(), nacked.Load()
	if err != nil {
		return st, fmt.Errorf("worker task: %w", err)
	}
	// Finish even if the task is being stopped: the check is short and
	// saves the next scan from doing it.
	for _, id := range touched.IDs() {
		// A minute per backfill: a wait for another task's turn at one
		// does not shorten the checks of the others.
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		ok, err := p.finishInTurn(fctx, id)
		cancel()
		if err != nil {
			p.log().Warn("finish check failed; the next scan retries it", "backfill_id", id, "error", err.Error())
			continue
		}
		if ok {
			st.Finished = append(st.Finished, id)
		}
	}
	return st, nil
}

// finishing holds each backfill's turn at the finish check among the worker
// tasks of this process. The tasks go idle together when their
// subscription runs dry, and each check lists all the backfill's partition
// records: taking turns, the first finishes the backfill and the others
// find it finished with one read (without turns the 16 tasks of a
// 3,650-partition local run listed 16 × 3,650 records at once).
// Process-wide, like the spec cache; an id's entry goes when its last
// task leaves, so a long-lived process keeps none.
var (
	finishingMu sync.Mutex
	finishing   = map[string]*finishTurn{}
)

// finishTurn is one backfill's turn (a channel of capacity 1) and the
// number of tasks holding or waiting for it.
type finishTurn struct {
	turn  chan struct{}
	users int
}

// finishInTurn is Finish, run once the other tasks of this process are
// done checking the same backfill.
func (p *Pipeline) finishInTurn(ctx context.Context, id string) (bool, error) {
	finishingMu.Lock()
	t := finishing[id]
	if t == nil {
		t = &finishTurn{turn: make(chan struct{}, 1)}
		finishing[id] = t
	}
	t.users++
	finishingMu.Unlock()
	defer func() {
		finishingMu.Lock()
		if t.users--; t.users == 0 {
			delete(finishing, id)
		}
		finishingMu.Unlock()
	}()
	select {
	case t.turn <- struct{}{}:
	case <-ctx.Done():
		return false, fmt.Errorf("finish %s: wait for another task's check: %w", id, ctx.Err())
	}
	defer func() { <-t.turn }()
	return p.Finish(ctx, id)
}
