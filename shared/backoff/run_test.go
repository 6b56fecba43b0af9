package backoff

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"
)

// stepClock is a clock whose Sleep only moves its time on.
type stepClock struct {
	now   time.Time
	waits []time.Duration
}

func (c *stepClock) Now() time.Time { return c.now }

func (c *stepClock) Sleep(_ context.Context, d time.Duration) error {
	c.waits = append(c.waits, d)
	c.now = c.now.Add(d)
	return nil
}

var errQuota = errors.New("quota")

// quotaFree retries errQuota after a long wait that does not count, and
// errTransient after the policy's delay.
func quotaFree(err error) Verdict {
	switch {
	case errors.Is(err, errQuota):
		return Verdict{Retry: true, Wait: 10 * time.Hour, Free: true}
	case errors.Is(err, errTransient):
		return Verdict{Retry: true}
	}
	return Verdict{}
}

func TestRun(t *testing.T) {
	permanent := errors.New("permanent")
	tests := []struct {
		name      string
		policy    Policy
		deadline  time.Duration // after the clock's start (0: none)
		results   []error       // fn returns these in turn, then nil
		wantCalls int
		wantErr   error
		exhausted bool
		wantWaits []time.Duration
	}{
		{
			name:   "free retries do not use up attempts",
			policy: Policy{Attempts: 2, FreeRetries: 2}, results: []error{errQuota, errTransient, errQuota},
			wantCalls: 4, wantWaits: []time.Duration{10 * time.Hour, time.Hour, 10 * time.Hour},
		},
		{
			name:   "free retries are capped; the last error is returned as is",
			policy: Policy{Attempts: 5, FreeRetries: 2}, results: []error{errQuota, errQuota, errQuota},
			wantCalls: 3, wantErr: errQuota, wantWaits: []time.Duration{10 * time.Hour, 10 * time.Hour},
		},
		{
			name:   "no free retry unless allowed",
			policy: Policy{Attempts: 5}, results: []error{errQuota},
			wantCalls: 1, wantErr: errQuota,
		},
		{
			name:   "counted retries run out",
			policy: Policy{Attempts: 2, FreeRetries: 9}, results: []error{errTransient, errQuota, errTransient},
			wantCalls: 3, wantErr: errTransient, exhausted: true, wantWaits: []time.Duration{time.Hour, 10 * time.Hour},
		},
		{
			name:   "unwrapped: running out returns the last error as is",
			policy: Policy{Attempts: 1, Unwrapped: true}, results: []error{errTransient},
			wantCalls: 1, wantErr: errTransient,
		},
		{
			name:   "a wait past the deadline is not started",
			policy: Policy{Attempts: 5, FitDeadline: true}, deadline: 150 * time.Minute, results: []error{errTransient, errTransient},
			wantCalls: 2, wantErr: errTransient, wantWaits: []time.Duration{time.Hour},
		},
		{
			name:   "without FitDeadline the deadline is ctx's business",
			policy: Policy{Attempts: 5}, deadline: 150 * time.Minute, results: []error{errTransient, errTransient},
			wantCalls: 3, wantWaits: []time.Duration{time.Hour, 2 * time.Hour},
		},
		{
			name:   "not retried",
			policy: Policy{Attempts: 5, FreeRetries: 5}, results: []error{permanent},
			wantCalls: 1, wantErr: permanent,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// The clock starts at the wall time so that ctx's real deadline,
			// hours away, never passes while the test runs.
			clk := &stepClock{now: time.Now()}
			ctx := context.Background()
			if tc.deadline > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithDeadline(ctx, clk.now.Add(tc.deadline))
				defer cancel()
			}
			p := tc.policy
			p.Initial, p.Max, p.Clock = time.Hour, 100*time.Hour, clk
			calls := 0
			err := p.Run(ctx, quotaFree, func(context.Context) error {
				calls++
				if calls <= len(tc.results) {
					return tc.results[calls-1]
				}
				return nil
			})
			if calls != tc.wantCalls || !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) || errors.Is(err, ErrExhausted) != tc.exhausted {
				t.Errorf("%d calls, error %v; want %d calls, error %v (exhausted: %v)", calls, err, tc.wantCalls, tc.wantErr, tc.exhausted)
			}
			if !slices.Equal(clk.waits, tc.wantWaits) {
				t.Errorf("waits %v, want %v", clk.waits, tc.wantWaits)
			}
		})
	}
}
