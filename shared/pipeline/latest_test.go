package pipeline_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/bqbackfill/bqbackfill/shared/ledger"
	"github.com/bqbackfill/bqbackfill/shared/pipeline"
)

// TestLatest: the CLI's retry and rollback act on a table's newest backfill
// in the states they can act on; when there is none, the error says what
// there is instead of only "not found".
func TestLatest(t *testing.T) {
	e := newContractEnv(t)
	if _, err := e.p.Latest(e.ctx, table); !errors.Is(err, ledger.ErrNotFound) || !strings.Contains(err.Error(), "no backfill of "+table.String()+" in the ledger") {
		t.Errorf("Latest on an empty ledger: %v", err)
	}
	for date, state := range map[string]ledger.State{"2024-03-10": ledger.StateFailed, "2024-03-20": ledger.StateProcessing, "2024-03-25": ledger.StateCompleted, "2024-03-01": ledger.StateFailed} {
		if err := e.led.Create(e.ctx, &ledger.Backfill{ID: pipeline.BackfillID(table, date), State: state}); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		states    []ledger.State
		wantDate  string
		wantError string
	}{
		{nil, "2024-03-25", ""},
		{[]ledger.State{ledger.StateFailed}, "2024-03-10", ""},
		{[]ledger.State{ledger.StateProcessing, ledger.StateFailed}, "2024-03-20", ""},
		{[]ledger.State{ledger.StateRolledBack, ledger.StateCancelled}, "", "no backfill of " + table.String() + " is rolled_back or cancelled: the newest, " + pipeline.BackfillID(table, "2024-03-25") + ", is completed"},
	}
	for _, tc := range tests {
		bf, err := e.p.Latest(e.ctx, table, tc.states...)
		if tc.wantError != "" {
			if !errors.Is(err, ledger.ErrNotFound) || !strings.Contains(err.Error(), tc.wantError) {
				t.Errorf("Latest(%v) error %v, want %q", tc.states, err, tc.wantError)
			}
			continue
		}
		if err != nil || bf.EntryDate != tc.wantDate {
			t.Errorf("Latest(%v) = %+v, %v; want the entry of %s", tc.states, bf, err, tc.wantDate)
		}
	}
}
