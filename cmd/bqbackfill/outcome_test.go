package main

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/bqbackfill/bqbackfill/shared/ledger"
	"github.com/bqbackfill/bqbackfill/shared/ledger/ledgertest"
)

// TestBackendOutcome: the tail retry and confirm-empty share. In
// production (nothing to settle) there is no outcome to read; in local
// mode the queued work runs to the end before the record is read, a
// failure to run it is returned as is, and a failure to read names the
// work.
func TestBackendOutcome(t *testing.T) {
	ctx := context.Background()
	c, _, _ := ledgertest.CountedClient(t, "ledger", "")
	led := ledger.New(c, "ledger")
	const id = "p.d.t/2026-11-01"
	if err := led.Create(ctx, &ledger.Backfill{ID: id, Table: "p.d.t", EntryDate: "2026-11-01", State: ledger.StateProcessing}); err != nil {
		t.Fatal(err)
	}
	// The work the command queued: the backfill ends processed.
	work := func(ctx context.Context) error {
		_, err := led.Update(ctx, id, func(b *ledger.Backfill) error { b.State = ledger.StateProcessed; return nil })
		return err
	}
	drainErr := errors.New("drain: disk full")
	for _, tc := range []struct {
		name    string
		settle  func(context.Context) error
		id      string
		state   ledger.State // "" for no record
		wantErr string
	}{
		{"production", nil, id, "", ""},
		{"local", work, id, ledger.StateProcessed, ""},
		{"work fails", func(context.Context) error { return drainErr }, id, "", drainErr.Error()},
		{"no record", func(context.Context) error { return nil }, "p.d.t/2026-11-02", "", "read the outcome of the retry: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			be := &backend{ledger: led, settle: tc.settle}
			bf, err := be.outcome(ctx, tc.id, "retry")
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || bf != nil {
					t.Errorf("outcome = %+v, %v; want an error with %q", bf, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got ledger.State // "": no record
			if bf != nil {
				got = bf.State
			}
			if got != tc.state {
				t.Errorf("outcome: record in state %q, want %q", got, tc.state)
			}
		})
	}
}
