package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/bqbackfill/bqbackfill/shared/backfill"
	"github.com/bqbackfill/bqbackfill/shared/ledger"
	"github.com/bqbackfill/bqbackfill/shared/warehouse"
)

// Swap step names in the ledger.
const (
	stepBackup         = "backup"
	stepBackupIAM      = "backup-iam"
	stepDeleteStaging  = "delete-staging"
	stepCopyPrefix     = "copy-"
	stepRollbackPrefix = "rollback-"
)

// refusal is a completion that must not go on until a human acts; it is
// recorded and reported once, not retried.
type refusal struct{ reason string }

func (r *refusal) Error() string { return r.reason }

func refuse(format string, args ...any) error { return &refusal{reason: fmt.Sprintf(format, args...)} }

// Complete backs up production, copies every staged partition over it,
// deletes staging and marks the backfill completed. It resumes after a crash
// at any point: the backup is taken once, before any copy; each copy is
// recorded; a resumed run skips what the ledger says is done. A completion
// that cannot be done safely (staging missing or empty, incompatible schema)
// is refused before anything is touched, recorded and reported; it returns
// nil then, since retrying cannot help. Transient errors are returned.
//
// One call works for at most Options.CompletionBudget (and stops in time
// for ctx's deadline): a longer swap publishes a completion request for
// the rest and returns nil; that request resumes where this one stopped.
func (p *Pipeline) Complete(ctx context.Context, id string) error {
	started := p.now()
	bf, err := p.Ledger.Get(ctx, id)
	if errors.Is(err, ledger.ErrNotFound) {
		p.log().Warn("completion request for an unknown backfill", "backfill_id", id)
		return nil
	}
	if err != nil {
		return fmt.Errorf("complete %s: %w", id, err)
	}
	if bf.State != ledger.StateCompleting {
		p.log().Info("completion request ignored: backfill is not completing", "backfill_id", id, "state", string(bf.State))
		return nil
	}
	if !bf.RollbackStartedAt.IsZero() {
		p.log().Info("completion request ignored: a rollback of the backfill started", "backfill_id", id)
		return nil
	}
	spec, err := p.spec(ctx, bf)
	if err != nil {
		return err
	}
	log := p.log().With("backfill_id", id, "table", spec.Table.String())
	steps, err := p.Ledger.ListSwapSteps(ctx, id)
	if err != nil {
		return fmt.Errorf("complete %s: %w", id, err)
	}
	done := map[string]bool{}
	for _, s := range steps {
		done[s.Name] = s.Done
	}

	if !done[stepBackup] {
		if err := p.withRetry(ctx, func() error { return p.preflight(ctx, spec) }); err != nil {
			var r *refusal
			if errors.As(err, &r) {
				// A concurrent completion (the request delivered twice)
				// may have backed up, swapped and deleted staging since
				// the steps were read: then the refusal comes from a stale
				// view, and the steps say where to go on.
				if st, gerr := p.Ledger.GetSwapStep(ctx, id, stepBackup); gerr == nil && st.Done {
					return p.Complete(ctx, id)
				}
				return p.refuseCompletion(ctx, spec, bf, r.reason)
			}
			if warehouse.Code(err) == warehouse.PermissionDenied {
				// Nothing is touched yet, and retrying cannot help until
				// someone grants access (issue 9 F3).
				return p.refuseCompletion(ctx, spec, bf, fmt.Sprintf("bqbackfill may not use the tables of this swap (production untouched): %v", err))
			}
			return fmt.Errorf("complete %s: %w", id, err)
		}
		res, err := p.backup(ctx, spec)
		if err != nil {
			return fmt.Errorf("complete %s: %w", id, err)
		}
		if err := p.recordStep(ctx, id, stepBackup, res.JobID); err != nil {
			return err
		}
		log.Info("production backed up", "backup", spec.Backup.String())
	}
	if spec.MirrorIAM() && !done[stepBackupIAM] {
		if err := p.withRetry(ctx, func() error { return p.mirrorIAM(ctx, spec.SwapDestination, spec.Backup) }); err != nil {
			return fmt.Errorf("complete %s: mirror permissions onto the backup: %w", id, err)
		}
		if err := p.recordStep(ctx, id, stepBackupIAM, ""); err != nil {
			return err
		}
	}

	// A long swap is cut into requests: before each unit, the request
	// stops if the longest unit so far would end past its budget, and
	// publishes the next completion request, which resumes from the
	// ledger. The first unit of a request always runs, so each request
	// makes progress.
	// Several copy units run at once (swapRun), each recorded when done.
	end := p.requestEnd(ctx, started)
	run := p.newSwapRun(ctx, spec, id)
	for _, u := range swapUnits(spec) {
		if done[u.step] {
			continue
		}
		if run.failed() {
			break
		}
		if l := run.longestUnit(); l > 0 && p.now().Add(l).After(end) {
			if err := run.wait(); err != nil {
				return fmt.Errorf("complete %s: %w", id, err)
			}
			return p.continueLater(ctx, id, log)
		}
		run.start(u)
	}
	if err := run.wait(); errors.Is(err, errRollbackStarted) {
		log.Warn("completion stopped: a rollback of the backfill started")
		return nil
	} else if err != nil {
		return fmt.Errorf("complete %s: %w", id, err)
	}

	if !done[stepDeleteStaging] {
		err := p.withRetry(ctx, func() error { return p.Warehouse.Delete(ctx, spec.Staging) })
		if err != nil && !warehouse.IsNotFound(err) {
			return fmt.Errorf("complete %s: delete staging %s: %w", id, spec.Staging, err)
		}
		if err := p.recordStep(ctx, id, stepDeleteStaging, ""); err != nil {
			return err
		}
	}

	now := p.now()
	moved, err := p.Ledger.Transition(ctx, id, []ledger.State{ledger.StateCompleting}, ledger.StateCompleted, func(b *ledger.Backfill) error {
		if !b.RollbackStartedAt.IsZero() {
			return errRollbackStarted
		}
		b.CompletedAt = now
		b.LastError = ""
		return nil
	})
	if errors.Is(err, errRollbackStarted) {
		log.Warn("completion stopped: a rollback of the backfill started")
		return nil
	}
	if err != nil {
		return fmt.Errorf("complete %s: %w", id, err)
	}
	if moved {
		p.emit(ctx, eventCompleted(spec))
		log.Info("backfill completed", "partitions", len(spec.Partitions), "duration_seconds", now.Sub(bf.CompletionRequestedAt).Seconds())
	}
	return nil
}

// swapChunk is how many partitions one swap step covers. A step per
// partition would cost a ledger write per partition; a crash redoes at most
// one chunk, and every copy is a WRITE_TRUNCATE of one partition, so
// redoing it is harmless.
const swapChunk = 50

// copyConcurrency bounds the copy jobs of one chunk that run at once;
// pacedCopyConcurrency when a Pacer spaces them.
const (
	copyConcurrency      = 8
	pacedCopyConcurrency = 32
)

// chunks splits the partitions into swap steps of at most size, in order.
func chunks(parts []backfill.Partition, size int) [][]backfill.Partition {
	var out [][]backfill.Partition
	for len(parts) > 0 {
		n := min(size, len(parts))
		out = append(out, parts[:n])
		parts = parts[n:]
	}
	return out
}

// chunkStep names the swap step of a chunk: prefix + first id [+ "-" + last id].
func chunkStep(prefix string, c []backfill.Partition) string {
	if len(c) == 1 {
		return prefix + PartitionID(c[0])
	}
	return prefix + PartitionID(c[0]) + "-" + PartitionID(c[len(c)-1])
}

// copyChunk copies each partition of c from src to dst (WRITE_TRUNCATE of
// that partition), several at once, and returns the first error after all
// finished.
func (p *Pipeline) copyChunk(ctx context.Context, spec *Spec, c []backfill.Partition, src, dst warehouse.TableRef, jobPrefix string) error {
	return p.startCopies(ctx, spec, c, src, dst, jobPrefix, make(chan struct{}, p.copyConcurrency()))()
}

// copyConcurrency is how many copy jobs may run at once.
func (p *Pipeline) copyConcurrency() int {
	if p.Pacer != nil {
		// The pacer keeps the rate; enough copies must be in flight to use
		// it (at 4.5 copies a second and a few seconds a copy).
		return pacedCopyConcurrency
	}
	return copyConcurrency
}

// startCopies starts the copies of c, in order, each once sem has room,
// and returns a function that waits for them and returns their errors.
func (p *Pipeline) startCopies(ctx context.Context, spec *Spec, c []backfill.Partition, src, dst warehouse.TableRef, jobPrefix string, sem chan struct{}) (wait func() error) {
	errs := make([]error, len(c))
	var wg sync.WaitGroup
	for i, ps := range c {
		wg.Add(1)
		sem <- struct{}{}
		go func(i int, ps backfill.Partition) {
			defer wg.Done()
			defer func() { <-sem }()
			err := p.withRetry(ctx, func() error {
				if err := p.pace(ctx, dst); err != nil {
					return err
				}
				_, err := p.Warehouse.Copy(ctx, warehouse.CopyJob{
					Source: src, SourcePartition: ps.ID,
					Dest: dst, DestPartition: ps.ID,
					Write: warehouse.WriteTruncate, BillingProject: spec.BillingProject,
					Labels: jobLabels(spec), JobID: jobID(spec, jobPrefix+PartitionID(ps)),
				})
				return err
			})
			if err != nil {
				errs[i] = fmt.Errorf("copy %s$%s to %s: %w", src, ps.ID, dst, err)
			}
		}(i, ps)
	}
	return func() error {
		wg.Wait()
		return errors.Join(errs...)
	}
}

func (p *Pipeline) recordStep(ctx context.Context, id, name, jobID string) error {
	now := p.now()
	_, err := p.Ledger.UpdateSwapStep(ctx, id, name, func(s *ledger.SwapStep) error {
		s.Done = true
		s.JobID = jobID
		s.At = now
		s.Error = ""
		return nil
	})
	if err != nil {
		return fmt.Errorf("record swap step %s of %s: %w", name, id, err)
	}
	return nil
}

// backup clones production into the backup table. If the backup already
// exists, the previous attempt died between the clone and its record; no
// partition has been copied before the backup is recorded, so production is
// unchanged and the existing backup is adopted.
func (p *Pipeline) backup(ctx context.Context, spec *Spec) (warehouse.JobResult, error) {
	exp := p.now().Add(p.opts().BackupExpiry)
	var res warehouse.JobResult
	err := p.withRetry(ctx, func() error {
		var err error
		// The backup is of what the swap overwrites: Dest (a public
		// table's public copy), which a rollback restores (issue 9 F3).
		res, err = p.Warehouse.Backup(ctx, spec.SwapDestination, spec.Backup, exp, jobLabels(spec))
		return err
	})
	if warehouse.IsAlreadyExists(err) {
		return warehouse.JobResult{}, nil
	}
	if err != nil {
		return res, fmt.Errorf("back up %s to %s: %w", spec.SwapDestination, spec.Backup, err)
	}
	return res, nil
}

// preflight refuses a swap that would lose or mangle data, before anything
// is touched: staging and production must exist, their schemas must match
// column for column (a copy maps columns by position), and staging must not
// be empty where production has data.
func (p *Pipeline) preflight(ctx context.Context, spec *Spec) error {
	st, err := p.Warehouse.Table(ctx, spec.Staging)
	if warehouse.IsNotFound(err) {
		if spec.IsScript() {
			return refuse("staging table %s does not exist: the script %s did not write to it (set its destination in query_script_args)", spec.Staging, spec.Query.Path)
		}
		return refuse("staging table %s does not exist (it expires 30 days after the start)", spec.Staging)
	}
	if err != nil {
		return fmt.Errorf("read staging %s: %w", spec.Staging, err)
	}
	prod, err := p.Warehouse.Table(ctx, spec.SwapDestination)
	if warehouse.IsNotFound(err) {
		return refuse("production table %s does not exist; nothing to back up or swap into", spec.SwapDestination)
	}
	if err != nil {
		return fmt.Errorf("read production %s: %w", spec.SwapDestination, err)
	}
	if err := warehouse.CompatibleSchemas(st.Schema, prod.Schema); err != nil {
		return refuse("staging schema is not compatible with production %s: %v", spec.SwapDestination, err)
	}
	if st.PartitionType != prod.PartitionType && !spec.WholeTableSwap {
		return refuse("staging is partitioned by %q but production %s by %q", st.PartitionType, spec.SwapDestination, prod.PartitionType)
	}
	stParts, err := p.Warehouse.Partitions(ctx, spec.Staging)
	if err != nil {
		return fmt.Errorf("list staging partitions: %w", err)
	}
	var stRows int64
	for _, pt := range stParts {
		stRows += pt.Rows
	}
	if stRows == 0 {
		prodParts, err := p.Warehouse.Partitions(ctx, spec.SwapDestination)
		if err != nil {
			return fmt.Errorf("list production partitions: %w", err)
		}
		want := map[string]bool{}
		for _, ps := range spec.Partitions {
			want[ps.ID] = true
		}
		var prodRows int64
		for _, pt := range prodParts {
			if want[pt.ID] || spec.WholeTableSwap {
				prodRows += pt.Rows
			}
		}
		if prodRows > 0 {
			what := "the backfill query produced no rows"
			if spec.IsScript() {
				what = fmt.Sprintf("the script %s wrote nothing to it", spec.Query.Path)
			}
			return refuse("staging table %s is empty (%s) while production has %d rows in those partitions; refusing to swap an empty table over production", spec.Staging, what, prodRows)
		}
	}
	return nil
}

func (p *Pipeline) refuseCompletion(ctx context.Context, spec *Spec, bf *ledger.Backfill, reason string) error {
	moved, err := p.Ledger.Transition(ctx, bf.ID, []ledger.State{ledger.StateCompleting}, ledger.StateFailed, func(b *ledger.Backfill) error {
		b.LastError = "completion refused: " + reason
		b.Failure = ledger.FailureCompletionRefused
		return nil
	})
	if err != nil {
		return fmt.Errorf("record refused completion of %s: %w", bf.ID, err)
	}
	if moved {
		p.emit(ctx, eventRefused(spec, reason))
	}
	p.log().Error("completion refused; production untouched", "backfill_id", bf.ID, "reason", reason)
	return nil
}

// requestEnd is when a completion request that started at started must
// stop starting swap units: after the completion budget, and a budget's
// margin before ctx's deadline if that comes first.
func (p *Pipeline) requestEnd(ctx context.Context, started time.Time) time.Time {
	budget := p.opts().CompletionBudget
	end := started.Add(budget)
	if dl, ok := ctx.Deadline(); ok {
		// ctx's deadline is in real time; p.now may be another clock.
		if left := time.Until(dl) - pushDeadline/10; p.now().Add(left).Before(end) {
			end = p.now().Add(left)
		}
	}
	return end
}

// continueLater publishes a completion request for the rest of the swap.
// If the publish fails the error is returned, and the redelivered request
// resumes the swap itself.
func (p *Pipeline) continueLater(ctx context.Context, id string, log *slog.Logger) error {
	if err := p.Publisher.Publish(ctx, p.Topics.Complete, completeMessage(id)); err != nil {
		return fmt.Errorf("complete %s: hand the rest of the swap to a new request: %w", id, err)
	}
	log.Info("swap continues in a new completion request: this one used its time budget", "budget_seconds", p.opts().CompletionBudget.Seconds())
	return nil
}
