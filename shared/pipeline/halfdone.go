package pipeline

import (
	"context"
	"errors"
	"fmt"

	"github.com/bqbackfill/bqbackfill/shared/ledger"
	"github.com/bqbackfill/bqbackfill/shared/notify"
	"github.com/bqbackfill/bqbackfill/shared/warehouse"
)

// A half-done completion is never silent (issue 14): a completing backfill
// whose entry no longer says Complete (set to Cancelled, or back to
// Initiate) is held — the scanner stops re-requesting its completion and
// reports it on every scan — until an operator finishes it
// (FinishCompletion, `bqbackfill complete`) or restores production from
// the backup (Rollback, `bqbackfill rollback`).

// HeldError is what Reconcile returns for a held completion: production is
// half-swapped and waits for an operator. Scan turns it into
// Action.Warning, since it is a state to report, not a failed step.
type HeldError struct {
	BackfillID string
	Message    string
}

func (e *HeldError) Error() string { return e.Message }

// errRollbackStarted stops a completion whose rollback began.
var errRollbackStarted = errors.New("a rollback of this backfill started")

// errNotCompleting stops a completion request of a backfill that is no
// longer completing (another request completed or failed it). The request
// stops as under a fence, so errors.Is(errNotCompleting,
// errRollbackStarted) holds; its text says which it was.
var errNotCompleting error = notCompleting{}

type notCompleting struct{}

func (notCompleting) Error() string {
	return "the backfill is no longer completing (another completion request ended it)"
}
func (notCompleting) Is(target error) bool { return target == errRollbackStarted }

// stopReason is why a completion request of b must start nothing: a
// rollback began, or b is no longer completing; nil if neither.
func stopReason(b *ledger.Backfill) error {
	switch {
	case !b.RollbackStartedAt.IsZero():
		return errRollbackStarted
	case b.State != ledger.StateCompleting:
		return errNotCompleting
	}
	return nil
}

// holdCompletion decides whether the completing backfill bf goes on. It
// returns a *HeldError when it is held (its entry is no longer Complete,
// or a rollback of it began), after recording why on the record (for
// status) and notifying the watchers once per entry status; nil when the
// completion goes on (clearing a hold the entry set back to Complete
// ended).
func (p *Pipeline) holdCompletion(ctx context.Context, bf *ledger.Backfill, d Desired) error {
	table := bf.Table
	var msg string
	switch {
	case !bf.RollbackStartedAt.IsZero():
		msg = fmt.Sprintf("the rollback of %s was interrupted: production is partly restored from the backup %s; run 'bqbackfill rollback %s' again to finish it", bf.ID, bf.Backup, table)
	case d.Status != StatusComplete:
		swapped, total, err := p.swapProgress(ctx, bf)
		if err != nil {
			return err
		}
		entry, back := "its entry in backfill.yaml is now "+d.Status, "setting the entry back to Complete"
		if d.Status == statusRemoved {
			entry, back = "its entry is no longer in backfill.yaml (removed, or older than the scanner's history window)", "adding the entry back with status Complete"
		}
		msg = fmt.Sprintf("the completion of %s stopped half-done and is held: %s, so it is not finished automatically. "+
			"Production has %d of %d partition(s) swapped in (up to one more chunk may be partly copied); the backup %s holds them as they were. "+
			"Finish the swap by %s (in local mode also with 'bqbackfill complete %s'), or restore production from the backup with 'bqbackfill rollback %s'",
			bf.ID, entry, swapped, total, bf.Backup, back, table, table)
	default:
		if bf.Held != "" {
			// The entry says Complete again: the scanner resumes it.
			return p.clearHeld(ctx, bf.ID)
		}
		return nil
	}
	if bf.Held != msg {
		if _, err := p.Ledger.Update(ctx, bf.ID, func(b *ledger.Backfill) error {
			if b.State != ledger.StateCompleting || b.Held == msg {
				return ledger.ErrNoChange
			}
			b.Held = msg
			return nil
		}); err != nil && !errors.Is(err, ledger.ErrNoChange) {
			return fmt.Errorf("record held completion of %s: %w", bf.ID, err)
		}
	}
	key := "held:" + d.Status
	if d.Status == statusRemoved {
		key = "held:removed"
	}
	return p.held(ctx, bf, key, msg)
}

// statusRemoved is the entry status holdCompletion is given for a
// completing backfill no entry of the tree names any more.
const statusRemoved = ""

// HeldRemoved reports the completing backfills that no desired entry names
// (their entry was removed from backfill.yaml), which Scan never looks at:
// each is held as a completion whose entry changed is, and returned as an
// Action with its Warning (or Err). inScope says which tables the scan
// covered: a table left out by a filter, or whose backfill.yaml cannot be
// read, is not taken for removed. One ledger listing per call.
func (p *Pipeline) HeldRemoved(ctx context.Context, desired []Desired, inScope func(table string) bool) []Action {
	completing, err := p.Ledger.ListState(ctx, ledger.StateCompleting)
	if err != nil {
		p.log().Error("list completing backfills", "error", err.Error())
		return []Action{{Err: fmt.Errorf("list completing backfills: %w", err)}}
	}
	named := make(map[string]bool, len(desired))
	for _, d := range desired {
		named[d.ID()] = true
	}
	var out []Action
	for _, bf := range completing {
		if named[bf.ID] || !inScope(bf.Table) {
			continue
		}
		a := Action{BackfillID: bf.ID}
		err := p.holdCompletion(ctx, bf, Desired{Status: statusRemoved})
		if held := (*HeldError)(nil); errors.As(err, &held) {
			a.Warning = held.Message
		} else if err != nil {
			a.Err = err
			p.log().Error("reconcile", "backfill_id", bf.ID, "error", err.Error())
		}
		out = append(out, a)
	}
	return out
}

// held tells the watchers msg once (under key) and returns the
// *HeldError a scan reports every time.
func (p *Pipeline) held(ctx context.Context, bf *ledger.Backfill, key, msg string) error {
	if _, err := p.reportOnce(ctx, bf, key, func(spec *Spec) notify.Event {
		e := baseEvent(spec, notify.KindFailed)
		e.Text = msg
		return e
	}); err != nil {
		return err
	}
	return &HeldError{BackfillID: bf.ID, Message: msg}
}

// swapProgress counts the partitions of bf's recorded swap steps, and all.
func (p *Pipeline) swapProgress(ctx context.Context, bf *ledger.Backfill) (swapped, total int, err error) {
	spec, err := p.spec(ctx, bf)
	if err != nil {
		return 0, 0, err
	}
	done, err := p.swapStepsDone(ctx, bf.ID)
	if err != nil {
		return 0, 0, err
	}
	for _, u := range swapUnits(spec) {
		total += len(u.parts)
		if done[u.step] {
			swapped += len(u.parts)
		}
	}
	return swapped, total, nil
}

// swapStepsDone reads which swap steps of id are done.
func (p *Pipeline) swapStepsDone(ctx context.Context, id string) (map[string]bool, error) {
	steps, err := p.Ledger.ListSwapSteps(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("swap steps of %s: %w", id, err)
	}
	done := map[string]bool{}
	for _, s := range steps {
		done[s.Name] = s.Done
	}
	return done, nil
}

// FinishCompletion finishes the swap of the table's newest completing
// backfill in this process, whatever its entry now says (the operator's
// `bqbackfill complete` of a held completion), and returns its id. A long
// swap publishes a completion request for the rest, as Complete does.
func (p *Pipeline) FinishCompletion(ctx context.Context, table warehouse.TableRef) (string, error) {
	bf, err := p.Latest(ctx, table, ledger.StateCompleting)
	if err != nil {
		return "", err
	}
	if !bf.RollbackStartedAt.IsZero() {
		return "", fmt.Errorf("complete %s: a rollback of it started (production is partly restored from the backup); run 'bqbackfill rollback %s' again to finish it", bf.ID, table)
	}
	if err := p.clearHeld(ctx, bf.ID); err != nil {
		return "", err
	}
	return bf.ID, p.Complete(ctx, bf.ID)
}

// clearHeld ends the hold of a completion (the entry says Complete again,
// or an operator finishes it).
func (p *Pipeline) clearHeld(ctx context.Context, id string) error {
	_, err := p.Ledger.Update(ctx, id, func(b *ledger.Backfill) error {
		if b.Held == "" {
			return ledger.ErrNoChange
		}
		b.Held = ""
		return nil
	})
	if err != nil && !errors.Is(err, ledger.ErrNoChange) {
		return fmt.Errorf("resume completion of %s: %w", id, err)
	}
	return nil
}

// startRollback fences a completing backfill before its rollback restores
// anything: it records RollbackStartedAt, after which Complete swaps no
// further unit and never marks it completed (fence.go). It returns the
// record as fenced, with the completion requests then at work.
func (p *Pipeline) startRollback(ctx context.Context, bf *ledger.Backfill) (*ledger.Backfill, error) {
	if !bf.RollbackStartedAt.IsZero() {
		return bf, nil
	}
	now := p.now()
	fenced, err := p.Ledger.Update(ctx, bf.ID, func(b *ledger.Backfill) error {
		if !b.RollbackStartedAt.IsZero() {
			return ledger.ErrNoChange
		}
		if b.State != ledger.StateCompleting {
			return fmt.Errorf("%s is %s now, no longer completing: %w", b.ID, b.State, ledger.ErrInvalidTransition)
		}
		b.RollbackStartedAt = now
		b.UpdatedAt = now
		return nil
	})
	if errors.Is(err, ledger.ErrNoChange) {
		// Fenced meanwhile by another rollback: read what it fenced.
		fenced, err = p.Ledger.Get(ctx, bf.ID)
	}
	if err != nil {
		return nil, fmt.Errorf("rollback %s: %w", bf.ID, err)
	}
	return fenced, nil
}

// rollbackUnits are the swap units a rollback restores: those recorded
// done and, for a completion stopped half-done, the ones that may have
// been in flight — the first swapInFlight not recorded (units start in
// order and one starts only when one in flight is recorded, so the started
// but unrecorded units are always among them); restoring a partition that
// was not swapped writes back what the backup holds of it. The units after
// them were never swapped and are left alone.
func rollbackUnits(spec *Spec, bf *ledger.Backfill, done map[string]bool) []swapUnit {
	var out []swapUnit
	inflight := 0
	// A swap stopped on an error (failed after its backup) had as many in
	// flight.
	if (bf.State == ledger.StateCompleting || bf.State == ledger.StateFailed) && done[stepBackup] {
		inflight = swapInFlight
		if atomicPromotion(spec) {
			inflight = 1
		}
	}
	for _, u := range swapUnits(spec) {
		if !done[u.step] {
			if inflight == 0 {
				continue
			}
			inflight--
		}
		if !done[u.rollbackStep()] {
			out = append(out, u)
		}
	}
	return out
}

// holdStoppedSwap keeps a failed backfill whose swap stopped after its
// backup (a permission denied mid-swap, partitions lost from staging)
// from being cancelled: production may be partly swapped, so it is
// finished or rolled back, never abandoned. It returns a *HeldError,
// reported on every scan and to the watchers once; nil for any other
// backfill.
func (p *Pipeline) holdStoppedSwap(ctx context.Context, bf *ledger.Backfill) error {
	if bf.State != ledger.StateFailed {
		return nil
	}
	done, err := p.swapStepsDone(ctx, bf.ID)
	if err != nil {
		return err
	}
	if !done[stepBackup] {
		return nil
	}
	msg := fmt.Sprintf("%s cannot be cancelled: its swap stopped part-way, so production may hold some of its partitions already (the backup %s holds them as they were). "+
		"Restore production with 'bqbackfill rollback %s', or finish the swap ('bqbackfill retry %s' once the cause is fixed). The stop: %s",
		bf.ID, bf.Backup, bf.Table, bf.Table, bf.LastError)
	return p.held(ctx, bf, "cancel-refused", msg)
}
