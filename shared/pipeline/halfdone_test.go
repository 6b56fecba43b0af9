package pipeline

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bqbackfill/bqbackfill/shared/backfill"
	"github.com/bqbackfill/bqbackfill/shared/ledger"
)

// TestRollbackUnits: a rollback restores the swap units recorded done and,
// for a completion stopped half-done, those that may have been in flight
// (the first swapInFlight not recorded); the units after them were never
// swapped and are left alone. A completed backfill restores what it
// swapped; restored units are not restored twice.
func TestRollbackUnits(t *testing.T) {
	spec := &Spec{}
	for i := range 6 * swapChunk {
		spec.Partitions = append(spec.Partitions, backfill.Partition{ID: fmt.Sprintf("2024%04d", i+1)})
	}
	units := swapUnits(spec)
	if len(units) != 6 || swapInFlight != 3 {
		t.Fatalf("%d units, %d in flight; the cases below assume 6 and 3", len(units), swapInFlight)
	}
	steps := func(idx ...int) []string {
		var out []string
		for _, i := range idx {
			out = append(out, units[i].step)
		}
		return out
	}
	done := func(steps ...string) map[string]bool {
		m := map[string]bool{}
		for _, s := range steps {
			m[s] = true
		}
		return m
	}
	for _, tc := range []struct {
		name  string
		state ledger.State
		done  map[string]bool
		want  []string
	}{
		{"stopped before the backup", ledger.StateCompleting, done(), nil},
		{"stopped after the backup", ledger.StateCompleting, done(stepBackup), steps(0, 1, 2)},
		{"stopped with units recorded out of order", ledger.StateCompleting, done(stepBackup, units[0].step, units[2].step), steps(0, 1, 2, 3, 4)},
		{"interrupted rollback", ledger.StateCompleting, done(stepBackup, units[0].step, units[0].rollbackStep()), steps(1, 2, 3)},
		{"completed", ledger.StateCompleted, done(append(steps(0, 1, 2, 3, 4, 5), stepBackup)...), steps(0, 1, 2, 3, 4, 5)},
		{"completed, partly restored", ledger.StateCompleted, done(append(steps(0, 1, 2, 3, 4, 5), stepBackup, units[1].rollbackStep())...), steps(0, 2, 3, 4, 5)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, u := range rollbackUnits(spec, &ledger.Backfill{State: tc.state}, tc.done) {
				got = append(got, u.step)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("restores %q, want %q", got, tc.want)
			}
		})
	}
}

// TestStopReason: a completion request stops on a rollback's fence and on
// a backfill another request already ended, and says which.
func TestStopReason(t *testing.T) {
	for _, tc := range []struct {
		name string
		b    ledger.Backfill
		want string // "" for no stop
	}{
		{"completing", ledger.Backfill{State: ledger.StateCompleting}, ""},
		{"fenced", ledger.Backfill{State: ledger.StateCompleting, RollbackStartedAt: time.Unix(1, 0)}, "a rollback of this backfill started"},
		{"completed by another request", ledger.Backfill{State: ledger.StateCompleted}, "no longer completing"},
		{"failed", ledger.Backfill{State: ledger.StateFailed}, "no longer completing"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := stopReason(&tc.b)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("stopReason = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, errRollbackStarted) {
				t.Errorf("stopReason = %v, want an error saying %q that stops the request as a fence does", err, tc.want)
			}
			if got := stopText(err); !strings.Contains(got, tc.want) {
				t.Errorf("stopText = %q, want %q", got, tc.want)
			}
		})
	}
}
