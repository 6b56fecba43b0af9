package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
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
// recorded and reported once, not retried. lost names the partitions
// staging no longer holds although their workers recorded rows
// (FailureStagingLost: retry re-runs them).
type refusal struct {
	reason string
	lost   []string
	// swapping: the refusal came after the backup, when the swap may have
	// begun.
	swapping bool
}

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
	// Registered before anything is touched, so that a rollback waits for
	// this request's jobs (fence.go); it leaves when it returns.
	req, err := p.enterCompletion(ctx, id)
	if errors.Is(err, errRollbackStarted) {
		p.log().Info("completion request ignored", "backfill_id", id, "reason", err.Error())
		return nil
	}
	if err != nil {
		return err
	}
	defer req.leave(ctx)
	spec, err := p.spec(ctx, bf)
	if err != nil {
		return err
	}
	log := p.log().With("backfill_id", id, "table", spec.Table.String())
	done, err := p.swapStepsDone(ctx, id)
	if err != nil {
		return fmt.Errorf("complete %s: %w", id, err)
	}

	// staged holds staging's rows per partition ("" for the whole table),
	// read once per request: a partition without rows is emptied in
	// production, never copied.
	var staged map[string]int64
	if !done[stepBackup] {
		err := p.withRetry(ctx, func() error {
			var err error
			staged, err = p.preflight(ctx, spec, bf)
			return err
		})
		if err != nil {
			var r *refusal
			if errors.As(err, &r) {
				// A concurrent completion (the request delivered twice)
				// may have backed up, swapped and deleted staging since
				// the steps were read: then the refusal comes from a stale
				// view, and the steps say where to go on.
				if st, gerr := p.Ledger.GetSwapStep(ctx, id, stepBackup); gerr == nil && st.Done {
					return p.Complete(ctx, id)
				}
				return p.refuseCompletion(ctx, spec, bf, r)
			}
			if denied(err) {
				// Nothing is touched yet, and retrying cannot help until
				// someone grants access (issue 9 F3).
				return p.refuseCompletion(ctx, spec, bf, &refusal{reason: fmt.Sprintf("bqbackfill may not use the tables of this swap (production untouched): %v", err)})
			}
			return fmt.Errorf("complete %s: %w", id, err)
		}
		res, err := p.backup(ctx, spec)
		var empty []string
		if err == nil {
			// Recorded with the backup, so a rollback needs no read of
			// the backup's partitions (the operator may list no staging
			// table).
			empty, err = p.emptyIn(ctx, spec, spec.Backup)
		}
		if err != nil {
			if denied(err) {
				return p.stopSwap(ctx, spec, bf, []string{stepBackup}, err)
			}
			return fmt.Errorf("complete %s: %w", id, err)
		}
		if err := p.recordBackup(ctx, id, res.JobID, empty); err != nil {
			return err
		}
		log.Info("production backed up", "backup", spec.Backup.String())
	}
	if spec.MirrorIAM() && !done[stepBackupIAM] {
		if err := p.withRetry(ctx, func() error { return p.mirrorIAM(ctx, spec.SwapDestination, spec.Backup) }); err != nil {
			if denied(err) {
				return p.stopSwap(ctx, spec, bf, []string{stepBackupIAM}, err)
			}
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
	if staged == nil && slices.ContainsFunc(swapUnits(spec), func(u swapUnit) bool { return !u.atomic && !done[u.step] }) {
		// A resumed swap reads staging again, and stops before it
		// empties a partition that lost its rows since the preflight.
		err := p.withRetry(ctx, func() error {
			var err error
			staged, err = p.checkStaged(ctx, spec, bf, true)
			return err
		})
		var r *refusal
		switch {
		case errors.As(err, &r):
			return p.refuseCompletion(ctx, spec, bf, r)
		case denied(err):
			return p.stopSwap(ctx, spec, bf, []string{"read-staging"}, err)
		case err != nil:
			return fmt.Errorf("complete %s: %w", id, err)
		}
	}
	// The backup may have taken long (quota waits): a rollback that began
	// meanwhile, and found this request's lease lapsed, has already read
	// the steps; no unit may start now.
	if err := req.stillCompleting(ctx); errors.Is(err, errRollbackStarted) {
		log.Warn("completion stopped before its first swap unit", "reason", err.Error())
		return nil
	} else if err != nil {
		return err
	}
	run := p.newSwapRun(ctx, spec, req, staged)
	for _, u := range swapUnits(spec) {
		if done[u.step] {
			continue
		}
		if run.failed() {
			break
		}
		if l := run.longestUnit(); l > 0 && p.now().Add(l).After(end) {
			if err := run.wait(); err != nil {
				return p.swapFailed(ctx, spec, bf, run, err)
			}
			return p.continueLater(ctx, id, log)
		}
		run.start(u)
	}
	if err := run.wait(); err != nil {
		return p.swapFailed(ctx, spec, bf, run, err)
	}

	if !done[stepDeleteStaging] {
		err := p.withRetry(ctx, func() error { return p.Warehouse.Delete(ctx, spec.Staging) })
		if denied(err) {
			return p.stopSwap(ctx, spec, bf, []string{stepDeleteStaging}, err)
		}
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
		log.Info(LogBackfillCompleted, "partitions", len(spec.Partitions), "duration_seconds", now.Sub(bf.CompletionRequestedAt).Seconds())
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

// copyChunk replaces each partition of c in dst with src's (see
// startCopies) and returns the errors after all finished.
func (p *Pipeline) copyChunk(ctx context.Context, spec *Spec, c []backfill.Partition, src, dst warehouse.TableRef, jobPrefix string, srcRows map[string]int64) error {
	return p.startCopies(ctx, spec, c, src, dst, jobPrefix, srcRows, make(chan struct{}, p.copyConcurrency()))()
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

// startCopies replaces each partition of c in dst with src's: it starts
// the copies (WRITE_TRUNCATE of one partition) of the partitions src has
// rows in (srcRows, by partition id, "" for the whole table), in order,
// each once sem has room, and one DELETE emptying in dst those src has no
// rows in, since what a copy from an empty partition does is
// undocumented. It returns a function that waits for them and returns
// their errors.
func (p *Pipeline) startCopies(ctx context.Context, spec *Spec, c []backfill.Partition, src, dst warehouse.TableRef, jobPrefix string, srcRows map[string]int64, sem chan struct{}) (wait func() error) {
	var empty []string
	var copies []backfill.Partition
	for _, ps := range c {
		if srcRows[ps.ID] > 0 {
			copies = append(copies, ps)
		} else if ps.ID != "" {
			empty = append(empty, ps.ID)
		}
	}
	errs := make([]error, len(copies)+1)
	var wg sync.WaitGroup
	// start runs job, paced and retried, once sem has room; its error
	// goes to errs[i], prefixed with what.
	start := func(i int, what string, job func() error) {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			err := p.withRetry(ctx, func() error {
				if err := p.pace(ctx, dst); err != nil {
					return err
				}
				return job()
			})
			if err != nil {
				errs[i] = fmt.Errorf("%s: %w", what, err)
			}
		}()
	}
	if len(copies) < len(c) {
		// Named for the chunk's first partition.
		deleteID := jobID(spec, jobPrefix+"empty_"+PartitionID(c[0]))
		start(len(copies), fmt.Sprintf("empty %d partition(s) of %s that %s has no rows in", len(c)-len(copies), dst, src), func() error {
			// No ids: the whole table (a whole-table swap of an empty table).
			_, err := p.Warehouse.DeletePartitions(ctx, warehouse.DeleteJob{
				Table: dst, Partitions: empty, BillingProject: spec.BillingProject,
				Labels: jobLabels(spec), JobID: deleteID,
			})
			return err
		})
	}
	for i, ps := range copies {
		start(i, fmt.Sprintf("copy %s$%s to %s", src, ps.ID, dst), func() error {
			_, err := p.Warehouse.Copy(ctx, warehouse.CopyJob{
				Source: src, SourcePartition: ps.ID,
				Dest: dst, DestPartition: ps.ID,
				Write: warehouse.WriteTruncate, BillingProject: spec.BillingProject,
				Labels: jobLabels(spec), JobID: jobID(spec, jobPrefix+PartitionID(ps)),
			})
			return err
		})
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

// emptyIn names the partitions of spec (PartitionID) that t holds no
// rows of.
func (p *Pipeline) emptyIn(ctx context.Context, spec *Spec, t warehouse.TableRef) ([]string, error) {
	var parts []warehouse.Partition
	err := p.withRetry(ctx, func() error {
		var err error
		parts, err = p.Warehouse.Partitions(ctx, t)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list the partitions of %s: %w", t, err)
	}
	rows := rowsByPartition(parts)
	empty := []string{}
	for _, ps := range spec.Partitions {
		if rows[ps.ID] == 0 {
			empty = append(empty, PartitionID(ps))
		}
	}
	return empty, nil
}

// recordBackup records the backup step with the partitions the backup
// has no rows of.
func (p *Pipeline) recordBackup(ctx context.Context, id, jobID string, empty []string) error {
	now := p.now()
	_, err := p.Ledger.UpdateSwapStep(ctx, id, stepBackup, func(s *ledger.SwapStep) error {
		s.Done, s.JobID, s.At, s.Error = true, jobID, now, ""
		s.EmptyPartitions, s.EmptyListed = empty, true
		return nil
	})
	if err != nil {
		return fmt.Errorf("record swap step %s of %s: %w", stepBackup, id, err)
	}
	return nil
}

// backupRows tells a rollback which partitions of spec the backup has
// rows of (1) or none (0), by partition id ("" for the whole table): from
// the backup step's record, or, for a record without the list, from the
// backup's partitions.
func (p *Pipeline) backupRows(ctx context.Context, spec *Spec, id string) (map[string]int64, error) {
	st, err := p.Ledger.GetSwapStep(ctx, id, stepBackup)
	if err != nil {
		return nil, fmt.Errorf("read the backup step of %s: %w", id, err)
	}
	empty := st.EmptyPartitions
	if !st.EmptyListed {
		if empty, err = p.emptyIn(ctx, spec, spec.Backup); err != nil {
			return nil, err
		}
	}
	isEmpty := make(map[string]bool, len(empty))
	for _, id := range empty {
		isEmpty[id] = true
	}
	rows := map[string]int64{}
	for _, ps := range spec.Partitions {
		rows[ps.ID] = 1
		if isEmpty[PartitionID(ps)] {
			rows[ps.ID] = 0
		}
	}
	return rows, nil
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
// column for column (a copy maps columns by position), and staging must
// hold the partitions the workers wrote (checkStaged). It returns
// staging's rows per partition.
func (p *Pipeline) preflight(ctx context.Context, spec *Spec, bf *ledger.Backfill) (map[string]int64, error) {
	st, err := p.Warehouse.Table(ctx, spec.Staging)
	if warehouse.IsNotFound(err) {
		if spec.IsScript() {
			return nil, refuse("staging table %s does not exist: the script %s did not write to it (set its destination in query_script_args)", spec.Staging, spec.Query.Path)
		}
		return nil, refuse("staging table %s does not exist (it expires 30 days after the start)", spec.Staging)
	}
	if err != nil {
		return nil, fmt.Errorf("read staging %s: %w", spec.Staging, err)
	}
	prod, err := p.Warehouse.Table(ctx, spec.SwapDestination)
	if warehouse.IsNotFound(err) {
		return nil, refuse("production table %s does not exist; nothing to back up or swap into", spec.SwapDestination)
	}
	if err != nil {
		return nil, fmt.Errorf("read production %s: %w", spec.SwapDestination, err)
	}
	if err := warehouse.CompatibleSchemas(st.Schema, prod.Schema); err != nil {
		return nil, refuse("staging schema is not compatible with production %s: %v", spec.SwapDestination, err)
	}
	if st.PartitionType != prod.PartitionType && !spec.WholeTableSwap {
		return nil, refuse("staging is partitioned by %q but production %s by %q", st.PartitionType, spec.SwapDestination, prod.PartitionType)
	}
	return p.checkStaged(ctx, spec, bf, false)
}

// rowsByPartition returns the rows of each partition of a listing, and
// under "" the rows of the whole table.
func rowsByPartition(parts []warehouse.Partition) map[string]int64 {
	out := map[string]int64{}
	var total int64
	for _, pt := range parts {
		if pt.ID != "" {
			out[pt.ID] += pt.Rows
		}
		total += pt.Rows
	}
	out[""] = total
	return out
}

// maxNamed is how many partitions a message names before "and N more".
const maxNamed = 10

// checkStaged reads staging's rows per partition and refuses a swap that
// would empty production partitions by mistake (issue 14 item 3):
//
//   - a partition staging holds no rows of although its worker recorded
//     rows (or could not count them) was lost since (deleted by hand,
//     expired): refused, naming it, unless the operator confirmed it
//     (Backfill.AllowEmpty). A partition recorded with 0 rows is the
//     query's answer, and the swap empties it in production.
//   - an empty staging while production has rows in the swapped
//     partitions is refused even if every partition recorded 0 rows: a
//     query (or script) that produced nothing at all is far more likely
//     broken than right. --allow-empty confirms it too.
//
// swapping says the backup is taken and some units may be swapped.
func (p *Pipeline) checkStaged(ctx context.Context, spec *Spec, bf *ledger.Backfill, swapping bool) (map[string]int64, error) {
	parts, err := p.Warehouse.Partitions(ctx, spec.Staging)
	if err != nil {
		return nil, fmt.Errorf("list staging partitions: %w", err)
	}
	staged := rowsByPartition(parts)
	allowed := map[string]bool{}
	for _, id := range bf.AllowEmpty {
		allowed[id] = true
	}
	state := "Nothing was changed"
	if swapping {
		state = fmt.Sprintf("The swap stopped part-way: production may hold some partitions of the backfill already, and the backup %s is intact", spec.Backup)
	}
	proceed := fmt.Sprintf("%s. Re-run them with `bqbackfill retry %s` (the swap then goes on), or confirm that production loses their rows with `bqbackfill complete --allow-empty %s` (local mode) or `bqbackfill confirm-empty %s` (local mode or a deployment).", state, spec.Table, spec.Table, spec.Table)
	if staged[""] == 0 && !swapping {
		prodParts, err := p.Warehouse.Partitions(ctx, spec.SwapDestination)
		if err != nil {
			return nil, fmt.Errorf("list production partitions: %w", err)
		}
		prodRows := rowsByPartition(prodParts)
		var lost []string
		var rows int64
		for _, ps := range spec.Partitions {
			if n := prodRows[ps.ID]; n > 0 && !allowed[PartitionID(ps)] {
				lost = append(lost, PartitionID(ps))
				rows += n
			}
		}
		if len(lost) > 0 {
			what := "the backfill query produced no rows"
			if spec.IsScript() {
				what = fmt.Sprintf("the script %s wrote nothing to it", spec.Query.Path)
			}
			return nil, &refusal{lost: lost, reason: fmt.Sprintf("staging table %s is empty (%s) while production has %d rows in those partitions; refusing to swap an empty table over production. %s", spec.Staging, what, rows, proceed)}
		}
	}
	// The records matter only for partitions staging has no rows of: in
	// the usual swap there are none, and reading every record would cost a
	// ledger read per partition on every completion request.
	candidates := false
	for _, ps := range spec.Partitions {
		if staged[ps.ID] == 0 && !allowed[PartitionID(ps)] {
			candidates = true
			break
		}
	}
	if !candidates {
		return staged, nil
	}
	recs, err := p.Ledger.ListPartitions(ctx, bf.ID)
	if err != nil {
		return nil, fmt.Errorf("read partition records of %s: %w", bf.ID, err)
	}
	byID := map[string]*ledger.PartitionRecord{}
	for _, r := range recs {
		byID[r.ID] = r
	}
	var lost, named []string
	for _, ps := range spec.Partitions {
		id := PartitionID(ps)
		r := byID[id]
		if staged[ps.ID] > 0 || allowed[id] || (r != nil && r.State == ledger.PartitionDone && r.Rows == 0) {
			continue
		}
		lost = append(lost, id)
		if len(named) == maxNamed {
			continue
		}
		switch {
		case r == nil:
			named = append(named, id+" (no record)")
		case r.State != ledger.PartitionDone:
			named = append(named, fmt.Sprintf("%s (%s)", id, r.State))
		case r.Rows < 0:
			named = append(named, id+" (rows not counted)")
		default:
			named = append(named, fmt.Sprintf("%s (%d rows recorded)", id, r.Rows))
		}
	}
	if len(lost) == 0 {
		return staged, nil
	}
	list := strings.Join(named, ", ")
	if len(lost) > len(named) {
		list += fmt.Sprintf(" and %d more", len(lost)-len(named))
	}
	// The ways on come before the list: a notification shows the start.
	return nil, &refusal{lost: lost, swapping: swapping, reason: fmt.Sprintf("%d partition(s) are empty or missing in staging although their workers wrote rows. %s Partitions: %s (staging %s).", len(lost), proceed, list, spec.Staging)}
}

// denied reports whether err is one that no retry fixes until someone
// grants access.
func denied(err error) bool { return warehouse.Code(err) == warehouse.PermissionDenied }

func (p *Pipeline) refuseCompletion(ctx context.Context, spec *Spec, bf *ledger.Backfill, r *refusal) error {
	moved, err := p.Ledger.Transition(ctx, bf.ID, []ledger.State{ledger.StateCompleting}, ledger.StateFailed, func(b *ledger.Backfill) error {
		b.LastError = "completion refused: " + r.reason
		b.Failure = ledger.FailureCompletionRefused
		// Set in full: a transition to failed keeps an earlier refusal's list.
		b.FailedPartitions = r.lost
		if len(r.lost) > 0 {
			b.Failure = ledger.FailureStagingLost
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("record refused completion of %s: %w", bf.ID, err)
	}
	if moved {
		p.emit(ctx, eventRefused(spec, r.reason, r.swapping))
	}
	p.log().Error("completion refused", "backfill_id", bf.ID, "reason", r.reason)
	return nil
}

// stopSwap records a completion that hit an error no retry fixes (a
// permission denied) after it began: the step with its error, the
// backfill failed (FailureSwapStopped) with what to do, the watchers told
// once. It returns nil: the completion request is done with; retry (or
// complete) resumes the swap from the ledger once access is granted, and
// rollback restores production from the backup.
func (p *Pipeline) stopSwap(ctx context.Context, spec *Spec, bf *ledger.Backfill, steps []string, cause error) error {
	now := p.now()
	for _, step := range steps {
		if _, err := p.Ledger.UpdateSwapStep(ctx, bf.ID, step, func(s *ledger.SwapStep) error {
			s.Error = cause.Error()
			s.At = now
			return nil
		}); err != nil {
			return fmt.Errorf("record the failed swap step %s of %s: %w", step, bf.ID, err)
		}
	}
	step := strings.Join(steps, ", ")
	state := "Production is unchanged."
	if step != stepBackup {
		state = fmt.Sprintf("Production may hold some partitions of the backfill already; the backup %s is intact.", spec.Backup)
	}
	// The ways on come before the cause: a notification shows the start.
	reason := fmt.Sprintf("completion stopped at step %s on an error retrying cannot fix. %s Once it is fixed (the permission granted), `bqbackfill retry %s` resumes the swap where it stopped (locally, `bqbackfill complete %s` does too); `bqbackfill rollback %s` restores production from the backup instead. Error: %v",
		step, state, spec.Table, spec.Table, spec.Table, cause)
	moved, err := p.Ledger.Transition(ctx, bf.ID, []ledger.State{ledger.StateCompleting}, ledger.StateFailed, func(b *ledger.Backfill) error {
		b.LastError = reason
		b.Failure = ledger.FailureSwapStopped
		b.FailedPartitions = nil
		b.UpdatedAt = now
		return nil
	})
	if err != nil {
		return fmt.Errorf("record the stopped completion of %s: %w", bf.ID, err)
	}
	if moved {
		p.emit(ctx, eventStopped(spec, reason))
	}
	p.log().Error("completion stopped", "backfill_id", bf.ID, "step", step, "error", cause.Error())
	return nil
}

// swapFailed handles the error of swap units: a rollback that started
// ends the request; a permission denied stops the swap (stopSwap, naming
// the failed units); any other error is returned, and the redelivered
// request redoes the failed units.
func (p *Pipeline) swapFailed(ctx context.Context, spec *Spec, bf *ledger.Backfill, run *swapRun, err error) error {
	if errors.Is(err, errRollbackStarted) {
		p.log().Warn("completion stopped", "backfill_id", bf.ID, "reason", stopText(err))
		return nil
	}
	if denied(err) {
		return p.stopSwap(ctx, spec, bf, run.failedSteps(), err)
	}
	return fmt.Errorf("complete %s: %w", bf.ID, err)
}

// stopText is the reason a swap run stopped: which of errNotCompleting
// and errRollbackStarted it holds (a run's error may join several).
func stopText(err error) string {
	if errors.Is(err, errNotCompleting) {
		return errNotCompleting.Error()
	}
	return errRollbackStarted.Error()
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
