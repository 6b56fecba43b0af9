package pipeline

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/bqbackfill/bqbackfill/shared/ledger"
	"github.com/bqbackfill/bqbackfill/shared/notify"
	"github.com/bqbackfill/bqbackfill/shared/warehouse"
)

// Latest returns the newest ledger record of table (by entry date) whose
// state is one of states (any state when none is given).
func (p *Pipeline) Latest(ctx context.Context, table warehouse.TableRef, states ...ledger.State) (*ledger.Backfill, error) {
	all, err := p.Ledger.List(ctx)
	if err != nil {
		return nil, fmt.Errorf("list ledger: %w", err)
	}
	var match []*ledger.Backfill
	for _, b := range all {
		if b.Table != table.String() {
			continue
		}
		if len(states) > 0 {
			ok := false
			for _, s := range states {
				ok = ok || b.State == s
			}
			if !ok {
				continue
			}
		}
		match = append(match, b)
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
		return nil, fmt.Errorf("no backfill of %s in %s: %w", table, want, ledger.ErrNotFound)
	}
	sort.Slice(match, func(i, j int) bool { return match[i].EntryDate > match[j].EntryDate })
	return match[0], nil
}

// Retry re-runs what failed in the table's newest failed backfill: only the
// failed partitions (for a chain, from the first failed one on), keeping
// staging and every partition already done. A backfill whose completion was
// refused goes back to processed, so the next scan requests completion again.
func (p *Pipeline) Retry(ctx context.Context, table warehouse.TableRef) (string, int, error) {
	bf, err := p.Latest(ctx, table, ledger.StateFailed)
	if err != nil {
		return "", 0, err
	}
	spec, err := p.spec(ctx, bf)
	if err != nil {
		return "", 0, err
	}
	if strings.HasPrefix(bf.LastError, "completion refused") {
		if _, err := p.Ledger.Update(ctx, bf.ID, func(b *ledger.Backfill) error {
			if b.State != ledger.StateFailed {
				return ledger.ErrNoChange
			}
			b.State = ledger.StateProcessed
			b.LastError = ""
			b.UpdatedAt = p.now()
			return nil
		}); err != nil && !errors.Is(err, ledger.ErrNoChange) {
			return "", 0, fmt.Errorf("retry %s: %w", bf.ID, err)
		}
		return bf.ID, 0, nil
	}
	states, err := p.Ledger.PartitionStates(ctx, bf.ID)
	if err != nil {
		return "", 0, fmt.Errorf("retry %s: %w", bf.ID, err)
	}
	var failed []string
	for pid, st := range states {
		if st == ledger.PartitionFailed {
			failed = append(failed, pid)
		}
	}
	sort.Strings(failed)
	startFailed := len(states) == 0 && bf.StartedAt.IsZero()
	for _, id := range failed {
		if _, err := p.Ledger.UpdatePartition(ctx, bf.ID, id, func(r *ledger.PartitionRecord) error {
			r.State = ledger.PartitionPending
			r.Attempts = 0
			r.Error = ""
			r.UpdatedAt = p.now()
			return nil
		}); err != nil {
			return "", 0, fmt.Errorf("retry %s: reset partition %s: %w", bf.ID, id, err)
		}
	}
	next := ledger.StateProcessing
	if startFailed {
		next = ledger.StatePending
	}
	if _, err := p.Ledger.Update(ctx, bf.ID, func(b *ledger.Backfill) error {
		if b.State != ledger.StateFailed {
			return ledger.ErrNoChange
		}
		b.State = next
		b.LastError = ""
		b.UpdatedAt = p.now()
		return nil
	}); err != nil {
		if errors.Is(err, ledger.ErrNoChange) {
			return bf.ID, 0, nil
		}
		return "", 0, fmt.Errorf("retry %s: %w", bf.ID, err)
	}
	if startFailed {
		return bf.ID, 0, p.start(ctx, bf.ID, false)
	}
	states, err = p.Ledger.PartitionStates(ctx, bf.ID)
	if err != nil {
		return "", 0, fmt.Errorf("retry %s: %w", bf.ID, err)
	}
	if err := p.publishPending(ctx, spec, states); err != nil {
		return "", 0, fmt.Errorf("retry %s: %w", bf.ID, err)
	}
	return bf.ID, len(failed), nil
}

// Rollback restores the partitions the table's newest completed backfill
// swapped in, from its backup, while the backup lives (30 days). Each
// restored partition is recorded, so an interrupted rollback resumes.
func (p *Pipeline) Rollback(ctx context.Context, table warehouse.TableRef) (string, int, error) {
	bf, err := p.Latest(ctx, table, ledger.StateCompleted, ledger.StateRolledBack)
	if err != nil {
		return "", 0, err
	}
	if bf.State == ledger.StateRolledBack {
		return bf.ID, 0, nil
	}
	spec, err := p.spec(ctx, bf)
	if err != nil {
		return "", 0, err
	}
	if _, err := p.Warehouse.Table(ctx, spec.Backup); err != nil {
		if warehouse.IsNotFound(err) {
			return "", 0, fmt.Errorf("rollback %s: the backup %s no longer exists (backups expire 30 days after completion)", bf.ID, spec.Backup)
		}
		return "", 0, fmt.Errorf("rollback %s: %w", bf.ID, err)
	}
	steps, err := p.Ledger.ListSwapSteps(ctx, bf.ID)
	if err != nil {
		return "", 0, fmt.Errorf("rollback %s: %w", bf.ID, err)
	}
	done := map[string]bool{}
	for _, s := range steps {
		done[s.Name] = s.Done
	}
	restored := 0
	for _, c := range chunks(spec.Partitions) {
		if !done[chunkStep(stepCopyPrefix, c)] || done[chunkStep(stepRollbackPrefix, c)] {
			continue
		}
		if err := p.copyChunk(ctx, spec, c, spec.Backup, spec.Dest, "rollback_"); err != nil {
			return "", restored, fmt.Errorf("rollback %s: %w", bf.ID, err)
		}
		if err := p.recordStep(ctx, bf.ID, chunkStep(stepRollbackPrefix, c), ""); err != nil {
			return "", restored, err
		}
		restored += len(c)
	}
	if _, err := p.Ledger.Update(ctx, bf.ID, func(b *ledger.Backfill) error {
		if b.State != ledger.StateCompleted {
			return ledger.ErrNoChange
		}
		b.State = ledger.StateRolledBack
		b.UpdatedAt = p.now()
		return nil
	}); err != nil && !errors.Is(err, ledger.ErrNoChange) {
		return "", restored, fmt.Errorf("rollback %s: %w", bf.ID, err)
	}
	p.emit(ctx, baseEvent(spec, notify.KindRolledBack))
	return bf.ID, restored, nil
}
