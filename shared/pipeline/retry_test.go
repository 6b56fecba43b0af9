package pipeline

import (
	"context"
	"testing"
	"time"

	"github.com/bqbackfill/bqbackfill/shared/clock"
	"github.com/bqbackfill/bqbackfill/shared/warehouse"
)

// TestWithRetry: the pipeline's one retry layer retries transient warehouse
// errors up to Retry.Attempts tries and waits for quotaExceeded without
// counting it (up to Retry.QuotaWaits), all on the pipeline's clock; a
// wait that would overrun the request's deadline, as measured on that
// clock, is not started; other errors are returned at once, as they are.
func TestWithRetry(t *testing.T) {
	transient := warehouse.Errorf(warehouse.Transient, "query", "backendError")
	quota := warehouse.Errorf(warehouse.QuotaExceeded, "query", "quotaExceeded")
	invalid := warehouse.Errorf(warehouse.InvalidArgument, "query", "invalidQuery")
	tests := []struct {
		name      string
		deadline  time.Duration // from the clock's start (0: none)
		results   []error
		wantCalls int
		wantErr   error
		// wantWaits: transient waits are jittered (half to full), so each
		// is checked against its full value; quota waits add up to a tenth.
		wantWaits []time.Duration
	}{
		{name: "transient then success", results: []error{transient, transient}, wantCalls: 3, wantWaits: []time.Duration{time.Minute, 2 * time.Minute}},
		{name: "transient until the tries run out", results: []error{transient, transient, transient, transient}, wantCalls: 3, wantErr: transient, wantWaits: []time.Duration{time.Minute, 2 * time.Minute}},
		{name: "quota waits do not count as tries", results: []error{quota, transient, quota, transient}, wantCalls: 5, wantWaits: []time.Duration{time.Hour, time.Minute, time.Hour, 2 * time.Minute}},
		{name: "quota waits are capped", results: []error{quota, quota, quota}, wantCalls: 3, wantErr: quota, wantWaits: []time.Duration{time.Hour, time.Hour}},
		{name: "not retryable", results: []error{invalid}, wantCalls: 1, wantErr: invalid},
		{name: "no quota wait past the deadline", deadline: 30 * time.Minute, results: []error{transient, quota}, wantCalls: 2, wantErr: quota, wantWaits: []time.Duration{time.Minute}},
		// The first wait ends 60-66 minutes into the 100 the request has,
		// on the clock that slept: the second would overrun (measured on
		// the wall clock, which a virtual clock leaves behind, it would not).
		{name: "the deadline is measured on the clock that sleeps", deadline: 100 * time.Minute, results: []error{quota, quota}, wantCalls: 2, wantErr: quota, wantWaits: []time.Duration{time.Hour}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// The clock starts at the wall time: ctx's deadline is a real
			// one, and stays far away while the test runs.
			clk := clock.NewVirtual(time.Now(), 0)
			defer clk.Close()
			p := &Pipeline{Clock: clk, Options: Options{Retry: Retry{Attempts: 3, Initial: time.Minute, Max: 10 * time.Minute, QuotaWait: time.Hour, QuotaWaits: 2}}}
			ctx := context.Background()
			if tc.deadline > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithDeadline(ctx, clk.Now().Add(tc.deadline))
				defer cancel()
			}
			calls := 0
			var waits []time.Duration // between the calls, on the pipeline's clock
			last := clk.Now()
			err := p.withRetry(ctx, func() error {
				if calls > 0 {
					waits = append(waits, clk.Now().Sub(last))
				}
				last = clk.Now()
				calls++
				if calls <= len(tc.results) {
					return tc.results[calls-1]
				}
				return nil
			})
			if calls != tc.wantCalls || err != tc.wantErr {
				t.Errorf("%d calls, error %v; want %d calls, error %v (as returned)", calls, err, tc.wantCalls, tc.wantErr)
			}
			if len(waits) != len(tc.wantWaits) {
				t.Fatalf("waits %v, want %v", waits, tc.wantWaits)
			}
			for i, w := range tc.wantWaits {
				lo, hi := w/2, w
				if w >= time.Hour {
					lo, hi = w, w+w/10
				}
				if got := waits[i]; got < lo || got > hi {
					t.Errorf("wait %d = %v, want within [%v, %v]", i+1, got, lo, hi)
				}
			}
		})
	}
}
