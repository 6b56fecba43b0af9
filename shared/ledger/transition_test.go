package ledger_test

import (
	"context"
	"errors"
	"testing"

	"github.com/bqbackfill/bqbackfill/shared/ledger"
)

func TestStoreTransition(t *testing.T) {
	ctx := context.Background()
	failed := []ledger.State{ledger.StateFailed}
	for _, tc := range []struct {
		name      string
		from      []ledger.State
		to        ledger.State
		mutate    func(*ledger.Backfill) error
		wantMoved bool
		wantErr   error
		wantState ledger.State
	}{
		{name: "moves", from: failed, to: ledger.StateProcessing, wantMoved: true, wantState: ledger.StateProcessing},
		{name: "not in from", from: []ledger.State{ledger.StateProcessed}, to: ledger.StateCompleting, wantState: ledger.StateFailed},
		{name: "mutate declines", from: failed, to: ledger.StateProcessing, mutate: func(*ledger.Backfill) error { return ledger.ErrNoChange }, wantState: ledger.StateFailed},
		{name: "forbidden", from: failed, to: ledger.StateCompleted, wantErr: ledger.ErrInvalidTransition, wantState: ledger.StateFailed},
		{name: "mutate changes the state", from: failed, to: ledger.StateProcessing, mutate: func(b *ledger.Backfill) error { b.State = ledger.StateCancelled; return nil }, wantErr: ledger.ErrInvalidTransition, wantState: ledger.StateFailed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := ledger.New(startServer(t, "").Client(), bucket)
			b := newBackfill(bfID)
			b.State, b.Failure, b.FailedPartitions, b.LastError = ledger.StateFailed, ledger.FailureStagingLost, []string{"20261101"}, "lost"
			if err := st.Create(ctx, b); err != nil {
				t.Fatal(err)
			}
			moved, err := st.Transition(ctx, bfID, tc.from, tc.to, tc.mutate)
			if moved != tc.wantMoved || !errors.Is(err, tc.wantErr) {
				t.Fatalf("Transition = %v, %v; want %v, %v", moved, err, tc.wantMoved, tc.wantErr)
			}
			got, err := st.Get(ctx, bfID)
			if err != nil {
				t.Fatal(err)
			}
			if got.State != tc.wantState {
				t.Errorf("state %s, want %s", got.State, tc.wantState)
			}
			// Leaving failed clears the recorded failure; staying keeps it.
			cleared := got.Failure == ledger.FailureNone && got.FailedPartitions == nil
			if cleared != (tc.wantState != ledger.StateFailed) {
				t.Errorf("failure %q %v in state %s", got.Failure, got.FailedPartitions, got.State)
			}
		})
	}
}
