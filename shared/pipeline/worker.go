package pipeline

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/bqbackfill/bqbackfill/shared/backfill"
	"github.com/bqbackfill/bqbackfill/shared/ledger"
	"github.com/bqbackfill/bqbackfill/shared/message"
	"github.com/bqbackfill/bqbackfill/shared/notify"
	"github.com/bqbackfill/bqbackfill/shared/warehouse"
)

// Touched remembers the backfills a worker task processed partitions of, so
// that the task can check them for completion once its subscription is empty.
type Touched struct {
	mu  sync.Mutex
	ids map[string]bool
}

func (t *Touched) add(id string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ids == nil {
		t.ids = map[string]bool{}
	}
	t.ids[id] = true
}

// IDs returns the backfill ids seen so far.
func (t *Touched) IDs() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]string, 0, len(t.ids))
	for id := range t.ids {
		out = append(out, id)
	}
	return out
}

// HandlePartition processes one message of the partitions topic: it
// computes the partition into staging unless the ledger says it is already
// done or the backfill is no longer running. It returns Ack when the message
// needs no further delivery, Nack to have it redelivered.
func (p *Pipeline) HandlePartition(ctx context.Context, m message.Received, touched *Touched) message.Outcome {
	msg, err := decodePartitionMessage(m.Data)
	if err != nil {
		// A malformed message can never succeed: keep it for humans.
		p.log().Error("dropping malformed partition message", "error", err.Error(), "message_id", m.ID)
		p.deadLetter(ctx, m.Data, m.Attributes, err)
		return message.Ack
	}
	log := p.log().With("backfill_id", msg.BackfillID, "partition", msg.Partition)
	if touched != nil {
		touched.add(msg.BackfillID)
	}
	bf, err := p.cachedBackfill(ctx, msg.BackfillID)
	if errors.Is(err, ledger.ErrNotFound) {
		log.Warn("partition of an unknown backfill; dropping")
		return message.Ack
	}
	if err != nil {
		log.Warn("read ledger; will retry", "error", err.Error())
		return message.Nack
	}
	switch bf.State {
	case ledger.StateProcessing:
	default:
		log.Info("backfill is not processing; skipping partition", "state", string(bf.State))
		return message.Ack
	}
	spec, err := p.spec(ctx, bf)
	if err != nil {
		// Most likely a storage error that the redelivery will not meet;
		// acking would lose the partition until the stale re-publish. A
		// spec that can never be read ends on the dead-letter topic after
		// the subscription's delivery attempts.
		log.Warn("read spec; will retry", "error", err.Error())
		return message.Nack
	}
	part, idx, ok := spec.Partition(msg.Partition)
	if !ok {
		log.Error("partition is not part of the backfill; dropping")
		return message.Ack
	}
	pid := PartitionID(part)
	rec, err := p.Ledger.GetPartition(ctx, bf.ID, pid)
	if err != nil && !errors.Is(err, ledger.ErrNotFound) {
		log.Warn("read partition record; will retry", "error", err.Error())
		return message.Nack
	}
	if rec != nil && (rec.State == ledger.PartitionDone || rec.State == ledger.PartitionFailed) {
		// A redelivery. For a chain, make sure the next link was published
		// (the previous delivery may have died between the two writes).
		if rec.State == ledger.PartitionDone && spec.Sequential {
			if err := p.publishNext(ctx, spec, idx); err != nil {
				log.Warn("re-publish next partition; will retry", "error", err.Error())
				return message.Nack
			}
		}
		return message.Ack
	}

	// No "running" record is written before the query: it would double the
	// ledger writes, and a delivery that dies mid-query is counted by
	// Pub/Sub's delivery attempts (the subscription has a dead-letter policy).
	start := p.now()
	res, runErr := p.runPartition(ctx, spec, part)
	var warnings []string
	if runErr == nil {
		warnings, runErr = p.runChecks(ctx, spec, part)
	}
	if runErr == nil {
		if _, err := p.Ledger.UpdatePartitionFrom(ctx, bf.ID, pid, rec, func(r *ledger.PartitionRecord) error {
			r.Attempts++
			r.State = ledger.PartitionDone
			r.JobID = res.JobID
			r.BytesProcessed = res.BytesProcessed
			r.Rows = res.RowsWritten
			r.Duration = p.now().Sub(start)
			r.UpdatedAt = p.now()
			r.Error, r.ErrorKind = "", ""
			r.Warnings = warnings
			return nil
		}); err != nil {
			// The data is in staging; the redelivery will find the write
			// idempotent and record it.
			log.Warn("record partition done; will retry", "error", err.Error())
			return message.Nack
		}
		log.Info(LogPartitionDone, "rows", res.RowsWritten, "bytes", res.BytesProcessed, "job_id", res.JobID, "duration_seconds", p.now().Sub(start).Seconds())
		if spec.Sequential {
			if err := p.publishNext(ctx, spec, idx); err != nil {
				log.Warn("publish next partition; will retry", "error", err.Error())
				return message.Nack
			}
		}
		return message.Ack
	}

	if ctx.Err() != nil {
		// The task is shutting down: let another task take the message.
		return message.Nack
	}
	permanent := !warehouse.IsRetryable(runErr) && warehouse.Code(runErr) != warehouse.Unknown
	exhausted := m.DeliveryAttempt >= p.opts().MaxDeliveries
	if rec != nil && rec.Attempts+1 >= p.opts().MaxDeliveries {
		exhausted = true
	}
	if !permanent && !exhausted {
		if _, err := p.Ledger.UpdatePartition(ctx, bf.ID, pid, func(r *ledger.PartitionRecord) error {
			r.Attempts++
			r.State = ledger.PartitionPending
			r.Error = runErr.Error()
			r.ErrorKind = string(failureKind(runErr))
			r.UpdatedAt = p.now()
			return nil
		}); err != nil {
			log.Warn("record partition attempt", "error", err.Error())
		}
		log.Warn("partition attempt failed; will be redelivered", "error", runErr.Error(), "delivery_attempt", m.DeliveryAttempt)
		return message.Nack
	}
	if _, err := p.Ledger.UpdatePartition(ctx, bf.ID, pid, func(r *ledger.PartitionRecord) error {
		r.Attempts++
		r.State = ledger.PartitionFailed
		r.Error = runErr.Error()
		r.ErrorKind = string(failureKind(runErr))
		r.Duration = p.now().Sub(start)
		r.UpdatedAt = p.now()
		return nil
	}); err != nil {
		log.Warn("record partition failure; will retry", "error", err.Error())
		return message.Nack
	}
	log.Error(LogPartitionFailed, "error", runErr.Error(), "attempts", m.DeliveryAttempt)
	p.deadLetter(ctx, m.Data, m.Attributes, runErr)
	return message.Ack
}

// StateCache holds recently read backfill records for the workers: every
// partition message needs its backfill's state, and reading it once per
// StateCacheTTL instead of once per message keeps the ledger off the hot
// path. A cancellation reaches the workers within the TTL. Safe for
// concurrent use; a nil *StateCache caches nothing.
type StateCache struct {
	m sync.Map // id -> cachedRecord
}

type cachedRecord struct {
	b  *ledger.Backfill
	at time.Time
}

func (p *Pipeline) cachedBackfill(ctx context.Context, id string) (*ledger.Backfill, error) {
	if p.Cache != nil {
		if v, ok := p.Cache.m.Load(id); ok {
			// Only "processing" is trusted from the cache: any other state
			// (failed, say) may just have been retried, and skipping a
			// retried partition would strand it.
			c := v.(cachedRecord)
			if c.b.State == ledger.StateProcessing && time.Since(c.at) < p.opts().StateCacheTTL {
				return c.b, nil
			}
		}
	}
	b, err := p.Ledger.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if p.Cache != nil {
		p.Cache.m.Store(id, cachedRecord{b: b, at: time.Now()})
	}
	return b, nil
}

func (p *Pipeline) publishNext(ctx context.Context, spec *Spec, idx int) error {
	if idx+1 >= len(spec.Partitions) {
		return nil
	}
	next := spec.Partitions[idx+1]
	return p.Publisher.Publish(ctx, p.Topics.Partitions, partitionMessage(spec, next))
}

// deadLetter keeps a message that will never succeed on the dead-letter
// topic, with the reason, for humans and alerts.
func (p *Pipeline) deadLetter(ctx context.Context, data []byte, attrs map[string]string, reason error) {
	if p.Topics.DeadLetter == "" {
		return
	}
	a := map[string]string{"error": truncate(reason.Error(), 1024)}
	for k, v := range attrs {
		a[k] = v
	}
	if err := p.Publisher.Publish(ctx, p.Topics.DeadLetter, message.Message{Data: data, Attributes: a}); err != nil {
		p.log().Error("publish to dead-letter topic", "error", err.Error())
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// runPartition computes one partition into staging.
func (p *Pipeline) runPartition(ctx context.Context, spec *Spec, part backfill.Partition) (warehouse.JobResult, error) {
	if spec.IsScript() {
		return p.runScript(ctx, spec, part)
	}
	// One try per delivery for transient errors: the delivery is this
	// path's retry layer (the subscription's retry policy spaces them, 30 s
	// to 600 s, and MaxDeliveries bounds them). quotaExceeded waits here,
	// holding the message, since such waits must not use up deliveries.
	// Worst case, BigQuery jobs per partition: MaxDeliveries × (1 +
	// Retry.QuotaWaits) query jobs (5 × 37), of which at most MaxDeliveries
	// fail for another reason than a quota; plus one swap copy per
	// completion request that covers it (docs/ARCHITECTURE.md, "Retries").
	var res warehouse.JobResult
	err := p.retry(ctx, 1, func() error {
		if err := p.paceOwn(ctx, spec.Staging); err != nil {
			return err
		}
		var err error
		res, err = p.Warehouse.Query(ctx, warehouse.QueryJob{
			SQL:            spec.SQL,
			Params:         part.Params,
			Destination:    &spec.Staging,
			Partition:      part.ID,
			Write:          warehouse.WriteTruncate,
			BillingProject: spec.BillingProject,
			DefaultProject: spec.DefaultProject,
			DefaultDataset: spec.DefaultDataset,
			Labels:         jobLabels(spec),
			JobID:          jobID(spec, PartitionID(part)),
		})
		return err
	})
	if err != nil {
		return res, fmt.Errorf("query %s into %s$%s: %w", spec.Table, spec.Staging, part.ID, err)
	}
	return res, nil
}

// Finish marks a processing backfill processed (every partition done) or
// failed (every partition final, some failed; for a chain, the first failure
// ends it), and emits the "done" or "failed" event. Only the caller whose
// compare-and-swap moves the state emits; calling it again is harmless.
func (p *Pipeline) Finish(ctx context.Context, id string) (bool, error) {
	bf, err := p.Ledger.Get(ctx, id)
	if err != nil {
		return false, fmt.Errorf("finish %s: %w", id, err)
	}
	if bf.State != ledger.StateProcessing {
		return false, nil
	}
	spec, err := p.spec(ctx, bf)
	if err != nil {
		return false, err
	}
	// One listing gives the states and which records hold check warnings
	// (for the "done" report); only the failed records are read, for
	// their errors.
	entries, err := p.Ledger.PartitionEntries(ctx, id)
	if err != nil {
		return false, fmt.Errorf("finish %s: %w", id, err)
	}
	states := make(map[string]ledger.PartitionState, len(entries))
	var warned []string
	for _, e := range entries {
		states[e.ID] = e.State
		if e.Warnings > 0 {
			warned = append(warned, e.ID)
		}
	}
	var failedIDs []string
	open := 0
	for _, ps := range spec.Partitions {
		switch states[PartitionID(ps)] {
		case ledger.PartitionDone:
		case ledger.PartitionFailed:
			failedIDs = append(failedIDs, PartitionID(ps))
		default:
			open++
		}
	}
	if open > 0 && !(spec.Sequential && len(failedIDs) > 0) {
		return false, nil
	}
	failed, err := p.Ledger.ReadPartitions(ctx, id, failedIDs)
	if err != nil {
		return false, fmt.Errorf("finish %s: %w", id, err)
	}
	if len(failed) != len(failedIDs) {
		return false, fmt.Errorf("finish %s: %d failed partition record(s) vanished since the listing: %w", id, len(failedIDs)-len(failed), ledger.ErrNotFound)
	}
	state := ledger.StateProcessed
	if len(failed) > 0 {
		state = ledger.StateFailed
	}
	now := p.now()
	moved, err := p.Ledger.Transition(ctx, id, []ledger.State{ledger.StateProcessing}, state, func(b *ledger.Backfill) error {
		b.ProcessedAt = now
		b.LastError = ""
		if len(failed) > 0 {
			b.LastError = fmt.Sprintf("%d partition(s) failed, first %s: %s", len(failed), failed[0].ID, failed[0].Error)
			b.Failure = ledger.FailurePartitions
		}
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("finish %s: %w", id, err)
	}
	if !moved {
		return false, nil
	}
	if state == ledger.StateProcessed {
		cmp := p.compare(ctx, spec)
		e := eventDone(spec, cmp, p.checkWarnings(ctx, spec, id, warned))
		e.Changes = p.topChanges(ctx, spec)
		p.emit(ctx, e)
	} else {
		p.emit(ctx, eventFailed(spec, failed, open))
	}
	p.log().Info(LogBackfillFinished, "backfill_id", id, "state", string(state), "failed", len(failed), "duration_seconds", now.Sub(bf.StartedAt).Seconds())
	return true, nil
}

// compare counts rows per partition in staging and in the source table. A
// failure to read is reported in the comparison, not fatal: the counts are
// advisory.
func (p *Pipeline) compare(ctx context.Context, spec *Spec) []notify.PartitionRows {
	counts := func(t warehouse.TableRef) map[string]int64 {
		out := map[string]int64{}
		parts, err := p.Warehouse.Partitions(ctx, t)
		if err != nil {
			if !warehouse.IsNotFound(err) {
				p.log().Warn("count rows for the report", "table", t.String(), "error", err.Error())
			}
			return out
		}
		for _, pt := range parts {
			out[pt.ID] = pt.Rows
		}
		return out
	}
	st, prod := counts(spec.Staging), counts(spec.Effective)
	var out []notify.PartitionRows
	for _, ps := range spec.Partitions {
		out = append(out, notify.PartitionRows{Partition: PartitionID(ps), StagingRows: st[ps.ID], ProductionRows: prod[ps.ID]})
	}
	return out
}

// sinceOrZero is the age of t, or a large value for the zero time.
func sinceOrZero(now, t time.Time) time.Duration {
	if t.IsZero() {
		return 1 << 62
	}
	return now.Sub(t)
}
