package pipeline

import (
	"context"
	"fmt"

	"github.com/bqbackfill/bqbackfill/shared/backfill"
	"github.com/bqbackfill/bqbackfill/shared/config"
	"github.com/bqbackfill/bqbackfill/shared/warehouse"
)

// stepAtomicPrefix names the swap step of one atomic transaction.
const stepAtomicPrefix = "atomic-"

// Pacer spaces the jobs that modify one table so that all the processes of
// a backfill together stay under BigQuery's per-table rate
// (shared/pacing.Tables implements it).
type Pacer interface {
	// Wait is for a table others write too: production, with its
	// scheduled jobs.
	Wait(ctx context.Context, table warehouse.TableRef) error
	// WaitOwn is for a table only this backfill writes (its staging
	// table), which may use more of the rate.
	WaitOwn(ctx context.Context, table warehouse.TableRef) error
}

// pace waits for the next slot of table t (no-op without a Pacer).
func (p *Pipeline) pace(ctx context.Context, t warehouse.TableRef) error {
	return p.paceTable(ctx, t, false)
}

// paceOwn waits for the next slot of t, a table only this backfill
// writes (no-op without a Pacer).
func (p *Pipeline) paceOwn(ctx context.Context, t warehouse.TableRef) error {
	return p.paceTable(ctx, t, true)
}

func (p *Pipeline) paceTable(ctx context.Context, t warehouse.TableRef, own bool) error {
	if p.Pacer == nil {
		return nil
	}
	wait := p.Pacer.Wait
	if own {
		wait = p.Pacer.WaitOwn
	}
	if err := wait(ctx, t); err != nil {
		return fmt.Errorf("pace jobs on %s: %w", t, err)
	}
	return nil
}

// replacer is the warehouse's atomic promotion (warehouse/duckdb and
// warehouse/bigquery implement it).
type replacer interface {
	ReplacePartitions(ctx context.Context, job warehouse.ReplaceJob) (warehouse.JobResult, error)
}

// swapUnit is one recorded step of a promotion: a chunk of partition
// copies, or one transaction.
type swapUnit struct {
	step   string
	parts  []backfill.Partition
	atomic bool
}

// atomicPromotion reports whether spec is promoted by transactions, as
// bqbackfill.yaml asks. (A whole-table copy keeps production's schema too:
// the BigQuery adapter restores it after the copy.)
func atomicPromotion(spec *Spec) bool {
	return spec.Promotion == config.PromoteAtomic
}

// swapUnits splits the promotion into its steps, in order: chunks of
// swapChunk copies, or transactions of at most 4,000 partitions.
func swapUnits(spec *Spec) []swapUnit {
	var out []swapUnit
	if !atomicPromotion(spec) {
		for _, c := range chunks(spec.Partitions, swapChunk) {
			out = append(out, swapUnit{step: chunkStep(stepCopyPrefix, c), parts: c})
		}
		return out
	}
	for _, c := range chunks(spec.Partitions, warehouse.MaxReplacePartitions) {
		out = append(out, swapUnit{step: chunkStep(stepAtomicPrefix, c), parts: c, atomic: true})
	}
	return out
}

// rollbackStep names the step that undoes u.
func (u swapUnit) rollbackStep() string {
	if u.atomic {
		return chunkStep(stepRollbackPrefix+stepAtomicPrefix, u.parts)
	}
	return chunkStep(stepRollbackPrefix, u.parts)
}

// runUnit replaces the partitions of u in dst with those of src: by paced
// copies, or by one transaction (readers see all-old or all-new).
// srcRows are src's rows per partition ("" for the whole table), which
// copies need: a partition without rows is emptied, not copied.
func (p *Pipeline) runUnit(ctx context.Context, spec *Spec, u swapUnit, src, dst warehouse.TableRef, jobPrefix string, srcRows map[string]int64) error {
	if !u.atomic {
		return p.copyChunk(ctx, spec, u.parts, src, dst, jobPrefix, srcRows)
	}
	r, ok := p.Warehouse.(replacer)
	if !ok {
		return fmt.Errorf("atomic promotion of %s: the warehouse has no transactions", dst)
	}
	var ids []string
	for _, ps := range u.parts {
		if ps.ID != "" {
			ids = append(ids, ps.ID)
		}
	}
	err := p.withRetry(ctx, func() error {
		if err := p.pace(ctx, dst); err != nil {
			return err
		}
		_, err := r.ReplacePartitions(ctx, warehouse.ReplaceJob{
			Source: src, Dest: dst, Partitions: ids, BillingProject: spec.BillingProject,
			Labels: jobLabels(spec), JobID: jobID(spec, jobPrefix+"atomic_"+PartitionID(u.parts[0])),
		})
		return err
	})
	if err != nil {
		return fmt.Errorf("replace %d partition(s) of %s from %s in one transaction: %w", len(u.parts), dst, src, err)
	}
	return nil
}
