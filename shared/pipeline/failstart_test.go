package pipeline_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/bqbackfill/bqbackfill/shared/ledger"
	"github.com/bqbackfill/bqbackfill/shared/notify"
	"github.com/bqbackfill/bqbackfill/shared/warehouse/bqfake"
)

// events decodes the events published since the last call.
func (e *contractEnv) events(t *testing.T) []notify.Event {
	t.Helper()
	var out []notify.Event
	for _, m := range e.pub.take("events") {
		ev, err := notify.Decode(m.Data)
		if err != nil {
			t.Fatalf("event %s: %v", m.Data, err)
		}
		out = append(out, ev)
	}
	return out
}

// record reads the contract backfill's ledger record.
func (e *contractEnv) record(t *testing.T) *ledger.Backfill {
	t.Helper()
	bf, err := e.led.Get(e.ctx, contractID)
	if err != nil {
		t.Fatal(err)
	}
	return bf
}

// TestFailedStartRetried: a start that cannot succeed without a human (the
// table to backfill is missing, or bqbackfill may not read it) fails the
// backfill with the start's failure kind, touches nothing, reports it once,
// and is not retried by later scans; `retry` starts it again: while the
// cause remains it fails again (reported again), once it is fixed the
// backfill starts as a fresh one would.
func TestFailedStartRetried(t *testing.T) {
	tests := []struct {
		name      string
		status    int
		reason    string
		wantError string
	}{
		{"table missing", 404, "notFound", "the table to backfill, " + table.String() + ", does not exist"},
		{"no read permission", 403, "accessDenied", "bqbackfill may not read the table to backfill, " + table.String()},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newContractEnv(t)
			e.fake.InjectFault(bqfake.Fault{Op: "tables.get", Resource: "tables/" + table.Table, Status: tc.status, Reason: tc.reason})

			e.scan(t, "Initiate")
			bf := e.record(t)
			if bf.State != ledger.StateFailed || bf.Failure != ledger.FailureStart || !strings.Contains(bf.LastError, tc.wantError) {
				t.Fatalf("record after the start: state %s, failure %q, error %q; want failed, %q, containing %q", bf.State, bf.Failure, bf.LastError, ledger.FailureStart, tc.wantError)
			}
			evs := e.events(t)
			if len(evs) != 1 || evs[0].Kind != notify.KindFailed || !strings.Contains(evs[0].Text, tc.wantError) {
				t.Fatalf("events %+v, want one failed event saying %q", evs, tc.wantError)
			}
			if w := e.writes(t); len(w) != 0 {
				t.Errorf("a failed start wrote to BigQuery: %q", w)
			}
			if msgs := e.pub.take("partitions"); len(msgs) != 0 || len(e.lau.launches) != 0 {
				t.Errorf("a failed start published %d partitions, launched %q", len(msgs), e.lau.launches)
			}

			// Scans leave a failed start alone: only a human knows when to retry.
			if did := e.scan(t, "Initiate"); len(did) != 0 || len(e.events(t)) != 0 || e.record(t).State != ledger.StateFailed {
				t.Errorf("rescan did %q", did)
			}

			// Retried before the cause is fixed: it fails again, and says so.
			if id, n, err := e.p.Retry(e.ctx, table); err != nil || id != contractID || n != 0 {
				t.Fatalf("Retry = %q, %d, %v", id, n, err)
			}
			if bf := e.record(t); bf.State != ledger.StateFailed || bf.Failure != ledger.FailureStart {
				t.Errorf("record after a retry that cannot succeed: %s, %q", bf.State, bf.Failure)
			}
			if evs := e.events(t); len(evs) != 1 || evs[0].Kind != notify.KindFailed {
				t.Errorf("events after the failed retry %+v, want one failed event", evs)
			}

			// Fixed: the retry starts the backfill.
			e.fake.ClearFaults()
			if id, n, err := e.p.Retry(e.ctx, table); err != nil || id != contractID || n != 0 {
				t.Fatalf("Retry = %q, %d, %v", id, n, err)
			}
			if bf := e.record(t); bf.State != ledger.StateProcessing || bf.Failure != "" || bf.LastError != "" || bf.StartedAt.IsZero() {
				t.Errorf("record after the retry: state %s, failure %q, error %q, started %v; want processing, no error", bf.State, bf.Failure, bf.LastError, bf.StartedAt)
			}
			if kinds := e.kinds(); !slices.Equal(kinds, []string{"started"}) {
				t.Errorf("events after the retry %q, want [started]", kinds)
			}
			if got := e.work(t); !slices.Equal(got, days) {
				t.Errorf("partitions handled after the retry %q, want %q", got, days)
			}

			// Nothing failed is left to retry.
			_, _, err := e.p.Retry(e.ctx, table)
			if !errors.Is(err, ledger.ErrNotFound) || !strings.Contains(err.Error(), "the newest, "+contractID+", is processing") {
				t.Errorf("Retry of a processing backfill = %v, want not found naming the newest", err)
			}
		})
	}
}
