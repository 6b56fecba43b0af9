package pipeline

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/bqbackfill/bqbackfill/shared/ledger"
	"github.com/bqbackfill/bqbackfill/shared/notify"
	"github.com/bqbackfill/bqbackfill/shared/warehouse"
)

// Latest returns the newest ledger record of table (by entry date) whose
// state is one of states (any state when none is given).
func (p *Pipeline) Latest(ctx context.Context, table warehouse.TableRef, states ...ledger.State) (*ledger.Backfill, error) {
	all, err := p.Ledger.ListTable(ctx, table.String())
	if err != nil {
		return nil, fmt.Errorf("list ledger: %w", err)
	}
	var match []*ledger.Backfill
	for _, b := range all {
		if len(states) == 0 || slices.Contains(states, b.State) {
			match = append(match, b)
		}
	}
	if len(match) == 0 {
		want := "any state"
		if len(states) > 0 {
			var names []string
			for _, s := range states {
				names = append(names, string(s))
			}
			want = strings.Join(names, " or ")
		}
		if len(all) == 0 {
			return nil, fmt.Errorf("no backfill of %s in the ledger: %w", table, ledger.ErrNotFound)
		}
		// Say what there is: "not found" alone reads as if the backfill
		// did not exist (review: hostile input, item 12).
		newest := all[0]
		for _, b := range all[1:] {
			if b.EntryDate > newest.EntryDate {
				newest = b
			}
		}
		return nil, fmt.Errorf("no backfill of %s is %s: the newest, %s, is %s: %w", table, want, newest.ID, newest.State, ledger.ErrNotFound)
	}
	sort.Slice(match, func(i, j int) bool { return match[i].EntryDate > match[j].EntryDate })
	return match[0], nil
}

// Retry re-runs what failed in the table's newest failed backfill, by the
// recorded kind of failure: a failed start starts again; failed partitions
// (for a chain, from the first failed one on) are re-run, keeping staging
// and every partition already done; a refused or stopped completion goes
// back to processed, so the next scan requests completion again (a stopped
// swap resumes where it stopped); partitions found empty in staging at
// completion are re-run (an earlier --allow-empty is dropped). It returns
// the backfill id and the number of partitions queued again.
func (p *Pipeline) Retry(ctx context.Context, table warehouse.TableRef) (string, int, error) {
	r, err := p.RetryReport(ctx, table)
	return r.ID, len(r.Rerun), err
}

// Retried is what RetryReport did.
type Retried struct {
	// ID is the backfill retried.
	ID string
	// Rerun lists the partitions queued again, sorted.
	Rerun []string
	// Kinds holds the error kind each partition re-run had failed with,
	// by id ("" when it had none, as a partition empty in staging).
	Kinds map[string]string
}

// RetryReport is Retry, saying which partitions it queued again and why
// they had failed (from the one listing of the partition records it
// needs), so the caller can warn about failures a retry cannot fix.
func (p *Pipeline) RetryReport(ctx context.Context, table warehouse.TableRef) (Retried, error) {
	bf, err := p.Latest(ctx, table, ledger.StateFailed)
	if err != nil {
		return Retried{}, err
	}
	spec, err := p.spec(ctx, bf)
	if err != nil {
		return Retried{}, err
	}
	res := Retried{ID: bf.ID}
	switch kind := bf.Failure; {
	case kind == ledger.FailureCompletionRefused, kind == ledger.FailureSwapStopped:
		// The cause is fixed (a grant, a schema): the next scan asks for
		// the completion again, which resumes from the recorded steps.
		if _, err := p.reopen(ctx, bf.ID, ledger.StateProcessed); err != nil {
			return Retried{}, err
		}
		return res, nil
	case kind == ledger.FailureStart, kind == ledger.FailureNone && bf.StartedAt.IsZero():
		moved, err := p.reopen(ctx, bf.ID, ledger.StatePending)
		if err != nil {
			return Retried{}, err
		}
		if !moved {
			return res, nil
		}
		return res, p.start(ctx, bf.ID, false)
	}
	// One listing: the states (what to publish again) and why the failed
	// partitions failed.
	sum, err := p.Ledger.PartitionSummary(ctx, bf.ID)
	if err != nil {
		return Retried{}, fmt.Errorf("retry %s: %w", bf.ID, err)
	}
	rerun := sum.Failed
	if bf.Failure == ledger.FailureStagingLost {
		rerun = slices.Sorted(slices.Values(bf.FailedPartitions))
	}
	for _, id := range rerun {
		if _, err := p.Ledger.UpdatePartition(ctx, bf.ID, id, func(r *ledger.PartitionRecord) error {
			r.State = ledger.PartitionPending
			r.Attempts = 0
			r.Error, r.ErrorKind = "", ""
			r.UpdatedAt = p.now()
			return nil
		}); err != nil {
			return Retried{}, fmt.Errorf("retry %s: reset partition %s: %w", bf.ID, id, err)
		}
	}
	moved, err := p.Ledger.Transition(ctx, bf.ID, []ledger.State{ledger.StateFailed}, ledger.StateProcessing, func(b *ledger.Backfill) error {
		b.LastError = ""
		b.AllowEmpty = nil
		b.UpdatedAt = p.now()
		return nil
	})
	if err != nil {
		return Retried{}, fmt.Errorf("retry %s: %w", bf.ID, err)
	}
	if !moved {
		return res, nil
	}
	// The states as listed, with the partitions just reset, say what to
	// publish again (no second listing): a partition a late worker finished
	// since the listing is published once more, and skipped as done.
	states := sum.States
	res.Kinds = map[string]string{}
	for _, id := range rerun {
		states[id] = ledger.PartitionPending
		res.Kinds[id] = sum.FailedKinds[id]
	}
	if err := p.publishPending(ctx, spec, states, true); err != nil {
		return Retried{}, fmt.Errorf("retry %s: %w", bf.ID, err)
	}
	res.Rerun = rerun
	return res, nil
}

// reopen moves a failed backfill to state to, clearing its error (and,
// through Transition, its failure kind).
func (p *Pipeline) reopen(ctx context.Context, id string, to ledger.State) (bool, error) {
	moved, err := p.Ledger.Transition(ctx, id, []ledger.State{ledger.StateFailed}, to, func(b *ledger.Backfill) error {
		b.LastError = ""
		b.UpdatedAt = p.now()
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("reopen %s: %w", id, err)
	}
	return moved, nil
}

// Rollback restores the partitions the table's newest completed backfill
// swapped in, from its backup, while the backup lives (30 days). Each
// restored unit is recorded, so an interrupted rollback resumes. A
// completion stopped half-done (completing) is rolled back too: it is
// fenced first (no completion request swaps more of it), the rollback
// waits until no completion request is at work (fence.go: their jobs
// run in BigQuery whatever they do), then the swapped partitions are
// restored, and the rest of production is left as it is;
// so is a backfill whose swap stopped on an error (failed after its
// backup: a permission denied mid-swap, partitions lost from staging). A
// partition the backup has no rows of (it did not exist, or was empty,
// before the backfill) is emptied, not copied.
func (p *Pipeline) Rollback(ctx context.Context, table warehouse.TableRef) (string, int, error) {
	bf, err := p.Latest(ctx, table, ledger.StateCompleted, ledger.StateRolledBack, ledger.StateCompleting, ledger.StateFailed)
	if err != nil {
		return "", 0, err
	}
	// done: the swap steps of bf, read once. A completing backfill's are
	// read after its fence, when no completion records more.
	var done map[string]bool
	if bf.State == ledger.StateFailed {
		if done, err = p.swapStepsDone(ctx, bf.ID); err != nil {
			return "", 0, fmt.Errorf("rollback %s: %w", bf.ID, err)
		}
		if !done[stepBackup] {
			// Its swap never started, so nothing of it reached production:
			// the newest swapped one is what a rollback means.
			if bf, err = p.Latest(ctx, table, ledger.StateCompleted, ledger.StateRolledBack); err != nil {
				return "", 0, err
			}
			done = nil
		}
	}
	if bf.State == ledger.StateRolledBack {
		return bf.ID, 0, nil
	}
	spec, err := p.spec(ctx, bf)
	if err != nil {
		return "", 0, err
	}
	if bf.State == ledger.StateCompleting {
		if bf, err = p.startRollback(ctx, bf); err != nil {
			return "", 0, err
		}
	}
	// Whatever the state, a completion request may still have jobs
	// running (a duplicate request of a swap that stopped or ended): the
	// restore waits for them, and then reads the steps they recorded.
	bf, waited, err := p.awaitCompletions(ctx, bf)
	if err != nil {
		return "", 0, err
	}
	if waited {
		done = nil
	}
	if done == nil {
		if done, err = p.swapStepsDone(ctx, bf.ID); err != nil {
			return "", 0, fmt.Errorf("rollback %s: %w", bf.ID, err)
		}
	}
	units := rollbackUnits(spec, bf, done)
	if len(units) == 0 {
		// Nothing swapped (a completion stopped before its backup): no
		// backup is needed.
		return p.rolledBack(ctx, spec, bf, 0)
	}
	if _, err := p.Warehouse.Table(ctx, spec.Backup); err != nil {
		if warehouse.IsNotFound(err) {
			return "", 0, fmt.Errorf("rollback %s: the backup %s no longer exists (backups expire 30 days after completion)", bf.ID, spec.Backup)
		}
		return "", 0, fmt.Errorf("rollback %s: %w", bf.ID, err)
	}
	var backupRows map[string]int64
	restored := 0
	for _, u := range units {
		if backupRows == nil && !u.atomic {
			if backupRows, err = p.backupRows(ctx, spec, bf.ID); err != nil {
				return "", restored, fmt.Errorf("rollback %s: %w", bf.ID, err)
			}
		}
		if err := p.runUnit(ctx, spec, u, spec.Backup, spec.SwapDestination, "rollback_", backupRows); err != nil {
			return "", restored, fmt.Errorf("rollback %s: %w", bf.ID, err)
		}
		if err := p.recordStep(ctx, bf.ID, u.rollbackStep(), ""); err != nil {
			return "", restored, err
		}
		restored += len(u.parts)
	}
	return p.rolledBack(ctx, spec, bf, restored)
}

// rolledBack marks bf rolled back once its partitions are restored.
func (p *Pipeline) rolledBack(ctx context.Context, spec *Spec, bf *ledger.Backfill, restored int) (string, int, error) {
	moved, err := p.Ledger.Transition(ctx, bf.ID, []ledger.State{ledger.StateCompleted, ledger.StateCompleting, ledger.StateFailed}, ledger.StateRolledBack, func(b *ledger.Backfill) error {
		b.UpdatedAt = p.now()
		b.Held = ""
		return nil
	})
	if err != nil {
		return "", restored, fmt.Errorf("rollback %s: %w", bf.ID, err)
	}
	if moved {
		p.emit(ctx, baseEvent(spec, notify.KindRolledBack))
	}
	return bf.ID, restored, nil
}

// ResumeCompletion readies the table's newest backfill for another
// completion when its last one stopped (bqbackfill complete): a swap that
// stopped part-way (a permission since granted) goes back to processed
// and, asked for again, resumes where it stopped; a completion refused
// because partitions are empty in staging although their workers wrote
// rows goes back to processed only with allowEmpty, which records that
// production may lose those partitions' rows (the swap empties them). It
// returns the backfill id and the partitions confirmed, or "" when the
// newest backfill did not stop in its completion (nothing to resume).
func (p *Pipeline) ResumeCompletion(ctx context.Context, table warehouse.TableRef, allowEmpty bool) (string, []string, error) {
	bf, err := p.Latest(ctx, table)
	if err != nil {
		if errors.Is(err, ledger.ErrNotFound) {
			return "", nil, nil
		}
		return "", nil, err
	}
	if bf.State != ledger.StateFailed {
		return "", nil, nil
	}
	var confirmed []string
	switch bf.Failure {
	case ledger.FailureSwapStopped:
	case ledger.FailureStagingLost:
		if !allowEmpty {
			return "", nil, fmt.Errorf("%s: the completion was refused: %s", bf.ID, bf.LastError)
		}
		if confirmed, err = p.recordAllowEmpty(ctx, bf.ID); err != nil {
			return "", nil, err
		}
	default:
		return "", nil, nil
	}
	moved, err := p.reopen(ctx, bf.ID, ledger.StateProcessed)
	if err != nil {
		return "", nil, err
	}
	if !moved {
		return "", nil, nil
	}
	return bf.ID, confirmed, nil
}

// recordAllowEmpty records, on a backfill failed with staging_lost, that
// production may lose the rows of the partitions found empty in staging,
// and returns them.
func (p *Pipeline) recordAllowEmpty(ctx context.Context, id string) ([]string, error) {
	var confirmed []string
	_, err := p.Ledger.Update(ctx, id, func(b *ledger.Backfill) error {
		if b.State != ledger.StateFailed || b.Failure != ledger.FailureStagingLost {
			return ledger.ErrNoChange
		}
		for _, pid := range b.FailedPartitions {
			if !slices.Contains(b.AllowEmpty, pid) {
				b.AllowEmpty = append(b.AllowEmpty, pid)
			}
		}
		confirmed = b.FailedPartitions
		return nil
	})
	if err != nil && !errors.Is(err, ledger.ErrNoChange) {
		return nil, fmt.Errorf("%s: record the confirmation of partitions empty in staging: %w", id, err)
	}
	return confirmed, nil
}

// ConfirmEmpty is the operator's explicit confirmation (bqbackfill
// confirm-empty, local or against a deployment) that the table's newest
// backfill, failed with staging_lost, may empty the production partitions
// its completion found empty in staging: it records them (allow_empty),
// moves the backfill back to completing and publishes its completion
// request, as the scanner does, so the completion that runs empties them.
// Only a backfill failed with staging_lost is confirmed; it returns the
// backfill id and the partitions confirmed.
func (p *Pipeline) ConfirmEmpty(ctx context.Context, table warehouse.TableRef) (string, []string, error) {
	bf, err := p.Latest(ctx, table, ledger.StateFailed)
	if err != nil {
		return "", nil, err
	}
	if bf.Failure != ledger.FailureStagingLost {
		kind := string(bf.Failure)
		if kind == "" {
			kind = "no recorded kind"
		}
		return "", nil, fmt.Errorf("%s failed with %s, not %s: there are no partitions lost from staging to confirm (see 'bqbackfill status %s'; 'bqbackfill retry %s' re-runs what failed)",
			bf.ID, kind, ledger.FailureStagingLost, table, table)
	}
	confirmed, err := p.recordAllowEmpty(ctx, bf.ID)
	if err != nil {
		return "", nil, err
	}
	if len(confirmed) == 0 {
		return "", nil, fmt.Errorf("%s is no longer failed with %s (another operator acted): nothing confirmed", bf.ID, ledger.FailureStagingLost)
	}
	moved, err := p.reopen(ctx, bf.ID, ledger.StateProcessed)
	if err != nil {
		return "", nil, err
	}
	if !moved {
		return "", nil, fmt.Errorf("%s is no longer failed (another operator acted): nothing confirmed", bf.ID)
	}
	if _, err := p.requestCompletion(ctx, bf); err != nil {
		// Recorded completing: the scanner re-publishes a stale request
		// while the entry says Complete.
		return "", nil, fmt.Errorf("confirm-empty %s: %w", bf.ID, err)
	}
	return bf.ID, confirmed, nil
}
