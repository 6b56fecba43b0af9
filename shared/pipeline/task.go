package pipeline

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"cloud.google.com/go/pubsub/v2"

	"github.com/bqbackfill/bqbackfill/shared/queue"
)

// TaskOptions tune one worker task.
type TaskOptions struct {
	// Concurrency is how many partitions the task computes at once [1].
	Concurrency int
	// IdleTimeout ends the task once the subscription stayed empty this long [10s].
	IdleTimeout time.Duration
	// ReturnImmediately polls instead of waiting in each pull (for pstest).
	ReturnImmediately bool
}

// TaskStats report what a task did.
type TaskStats struct {
	Handled   int64
	Redeliver int64 // messages nacked for redelivery
	Finished  []string
}

// RunTask is one worker task (a Cloud Run job task, or a goroutine in local
// mode): it pulls the partitions subscription until it stays empty, then
// checks the backfills it touched and finishes those whose partitions are
// all final. It returns an error only when the subscription itself fails.
func (p *Pipeline) RunTask(ctx context.Context, client *pubsub.Client, subscription string, o TaskOptions) (TaskStats, error) {
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = 10 * time.Second
	}
	var st TaskStats
	var handled, nacked atomic.Int64
	touched := &Touched{}
	err := queue.Receive(ctx, client, subscription, queue.ReceiveOptions{Concurrency: o.Concurrency, IdleTimeout: o.IdleTimeout, ReturnImmediately: o.ReturnImmediately},
		func(ctx context.Context, m queue.Received) queue.Outcome {
			out := p.HandlePartition(ctx, m, touched)
			handled.Add(1)
			if out == queue.Nack {
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
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	for _, id := range touched.IDs() {
		ok, err := p.Finish(fctx, id)
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
