package pipeline

import (
	"context"
	"fmt"
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
