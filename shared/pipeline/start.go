package pipeline

import (
	"context"
	"fmt"
	"time"

	"github.com/bqbackfill/bqbackfill/shared/ledger"
	"github.com/bqbackfill/bqbackfill/shared/message"
	"github.com/bqbackfill/bqbackfill/shared/notify"
	"github.com/bqbackfill/bqbackfill/shared/warehouse"
)

// start prepares staging, seeds a depends_on_past chain, publishes the
// partition messages and launches workers. The scanner that created the
// ledger record calls it; a later scan calls it again if the start was
// interrupted (the state stayed pending or staging for StaleAfter). Every
// step tolerates having been done before.
func (p *Pipeline) start(ctx context.Context, id string, resume bool) error {
	_, err := p.claimStart(ctx, id, resume)
	return err
}

// claimStart is start that also reports whether this caller claimed the
// start (false: another scanner has it, or it is past staging).
func (p *Pipeline) claimStart(ctx context.Context, id string, resume bool) (bool, error) {
	now := p.now()
	from := []ledger.State{ledger.StatePending}
	if resume {
		from = append(from, ledger.StateStaging)
	}
	var bf ledger.Backfill
	claimed, err := p.Ledger.Transition(ctx, id, from, ledger.StateStaging, func(b *ledger.Backfill) error {
		b.UpdatedAt = now
		bf = *b
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("start %s: %w", id, err)
	}
	if !claimed {
		return false, nil
	}
	spec, err := p.spec(ctx, &bf)
	if err != nil {
		return true, err
	}
	return true, p.prepare(ctx, &bf, spec, now)
}

// prepare is the work of a claimed start (the record is in staging): spec
// is the backfill's spec, handed on by whoever has it.
func (p *Pipeline) prepare(ctx context.Context, bf *ledger.Backfill, spec *Spec, now time.Time) error {
	id := bf.ID
	log := p.log().With("backfill_id", id, "table", spec.Table.String())

	if !spec.IsScript() {
		if err := p.withRetry(ctx, func() error {
			_, err := p.Warehouse.Table(ctx, spec.Effective)
			return err
		}); warehouse.IsNotFound(err) {
			return p.failStart(ctx, spec, bf, fmt.Sprintf("the table to backfill, %s, does not exist (deploy it first; bqbackfill never creates production tables)", spec.Effective))
		} else if warehouse.Code(err) == warehouse.PermissionDenied {
			// Retrying cannot help until someone grants access (issue 9 F3).
			return p.failStart(ctx, spec, bf, fmt.Sprintf("bqbackfill may not read the table to backfill, %s (is its dataset in the deployment's production_datasets?): %v", spec.Effective, err))
		} else if err != nil {
			return fmt.Errorf("start %s: read %s: %w", id, spec.Effective, err)
		}
	}
	// The staging dataset normally exists (terraform creates it); under a
	// target, or on a fresh local warehouse, it may not, and bqetl creates it
	// then too. A query.py script creates its staging table itself, so it
	// needs the dataset as well.
	if err := p.withRetry(ctx, func() error {
		return p.Warehouse.EnsureDataset(ctx, spec.Staging.Project, spec.Staging.Dataset, p.opts().StagingExpiry)
	}); err != nil {
		return fmt.Errorf("start %s: staging dataset %s.%s: %w", id, spec.Staging.Project, spec.Staging.Dataset, err)
	}
	if !spec.IsScript() {
		err := p.withRetry(ctx, func() error {
			return p.Warehouse.CreateTableLike(ctx, spec.Effective, spec.Staging, warehouse.CreateLikeOptions{
				Expiration: now.Add(p.opts().StagingExpiry),
				Labels:     jobLabels(spec),
			})
		})
		switch {
		case err == nil, warehouse.IsAlreadyExists(err):
		default:
			return fmt.Errorf("start %s: create staging %s: %w", id, spec.Staging, err)
		}
		if spec.MirrorIAM() {
			if err := p.withRetry(ctx, func() error { return p.mirrorIAM(ctx, spec.Effective, spec.Staging) }); err != nil {
				// Leave no staging behind without its permissions; the next
				// scan retries the whole start.
				if derr := p.withRetry(ctx, func() error { return p.Warehouse.Delete(ctx, spec.Staging) }); derr != nil && !warehouse.IsNotFound(derr) {
					return fmt.Errorf("start %s: mirror permissions onto %s: %v; deleting staging also failed, manual cleanup required: %w", id, spec.Staging, err, derr)
				}
				return fmt.Errorf("start %s: mirror permissions onto %s (staging deleted; will retry): %w", id, spec.Staging, err)
			}
		}
	}
	if seed := spec.SeedID(); seed != "" {
		// A copy from an empty partition is not relied on (what BigQuery
		// does is undocumented): an empty previous partition leaves
		// staging's, created empty, as it is.
		var seedRows int64
		err := p.withRetry(ctx, func() error {
			parts, err := p.Warehouse.Partitions(ctx, spec.Effective)
			seedRows = rowsByPartition(parts)[seed]
			return err
		})
		if err != nil && !warehouse.IsNotFound(err) {
			return fmt.Errorf("start %s: read the partitions of %s: %w", id, spec.Effective, err)
		}
		if seedRows > 0 {
			err = p.withRetry(ctx, func() error {
				_, err := p.Warehouse.Copy(ctx, warehouse.CopyJob{
					Source: spec.Effective, SourcePartition: seed,
					Dest: spec.Staging, DestPartition: seed,
					Write: warehouse.WriteTruncate, BillingProject: spec.BillingProject,
					Labels: jobLabels(spec), JobID: jobID(spec, "seed_"+seed),
				})
				return err
			})
		}
		if err != nil && !warehouse.IsNotFound(err) {
			return fmt.Errorf("start %s: seed %s$%s into staging: %w", id, spec.Effective, seed, err)
		}
		log.Info("seeded previous partition into staging", "partition", seed, "rows", seedRows)
	}

	// One write records the start and the publish that follows: a record in
	// processing whose messages were lost is re-published by the stale check.
	started := p.now()
	moved, err := p.Ledger.Transition(ctx, id, []ledger.State{ledger.StateStaging}, ledger.StateProcessing, func(b *ledger.Backfill) error {
		b.StartedAt, b.PublishedAt, b.UpdatedAt = started, started, started
		return nil
	})
	if err != nil {
		return fmt.Errorf("start %s: %w", id, err)
	}
	if !moved {
		return nil
	}
	if err := p.publishPending(ctx, spec, nil, false); err != nil {
		// The partitions stay pending; the next scan re-publishes them.
		return fmt.Errorf("start %s: %w", id, err)
	}
	p.emit(ctx, eventStarted(spec))
	log.Info("backfill started", "partitions", len(spec.Partitions), "sequential", spec.Sequential)
	return nil
}

// failStart records a start that cannot succeed without a human.
func (p *Pipeline) failStart(ctx context.Context, spec *Spec, bf *ledger.Backfill, reason string) error {
	moved, err := p.Ledger.Transition(ctx, bf.ID, []ledger.State{ledger.StatePending, ledger.StateStaging}, ledger.StateFailed, func(b *ledger.Backfill) error {
		b.LastError = reason
		b.Failure = ledger.FailureStart
		b.UpdatedAt = p.now()
		return nil
	})
	if err != nil {
		return fmt.Errorf("record failed start of %s: %w", bf.ID, err)
	}
	if moved {
		e := baseEvent(spec, notify.KindFailed)
		e.Text = reason
		p.emit(ctx, e)
	}
	p.log().Error("backfill cannot start", "backfill_id", bf.ID, "reason", reason)
	return nil
}

// publishPending publishes the partitions that are not done or failed (for
// a chain: only the first one not done) and launches workers for them;
// with record, it records when in the ledger, which
// also restarts the stale clock. states may be nil (nothing recorded yet).
func (p *Pipeline) publishPending(ctx context.Context, spec *Spec, states map[string]ledger.PartitionState, record bool) error {
	id := spec.ID()
	final := map[string]bool{}
	for pid, st := range states {
		if st == ledger.PartitionDone || st == ledger.PartitionFailed {
			final[pid] = true
		}
	}
	var msgs []message.Message
	for _, ps := range spec.Partitions {
		if final[PartitionID(ps)] {
			continue
		}
		msgs = append(msgs, partitionMessage(spec, ps))
		if spec.Sequential {
			break
		}
	}
	if len(msgs) == 0 {
		return nil
	}
	if err := p.Publisher.Publish(ctx, p.Topics.Partitions, msgs...); err != nil {
		return fmt.Errorf("publish %d partition messages: %w", len(msgs), err)
	}
	exec := ""
	if p.Launcher != nil {
		workers := len(msgs)
		if spec.Sequential {
			workers = 1
		}
		var err error
		exec, err = p.Launcher.Launch(ctx, id, workers)
		if err != nil {
			// Messages wait in the subscription; the next scan launches again.
			p.log().Error("launch workers", "backfill_id", id, "error", err.Error())
		}
	}
	// The execution's name goes to the log, not the ledger (docs/ARCHITECTURE.md,
	// "Decisions": the start path would need a write of its own for it).
	if exec != "" {
		p.log().Info("workers launched", "backfill_id", id, "execution", exec)
	}
	if !record {
		return nil
	}
	_, err := p.Ledger.Update(ctx, id, func(b *ledger.Backfill) error {
		b.PublishedAt = p.now()
		b.UpdatedAt = p.now()
		return nil
	})
	if err != nil {
		return fmt.Errorf("record publish of %s: %w", id, err)
	}
	return nil
}
