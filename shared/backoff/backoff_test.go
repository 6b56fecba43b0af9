package backoff

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestDelay(t *testing.T) {
	pubsub := Policy{Initial: 30 * time.Second, Max: 600 * time.Second}
	tests := []struct {
		name string
		p    Policy
		n    int
		want time.Duration
	}{
		{"first", pubsub, 1, 30 * time.Second},
		{"doubles", pubsub, 3, 120 * time.Second},
		{"capped", pubsub, 6, 600 * time.Second},
		{"far past the cap", pubsub, 1000, 600 * time.Second},
		{"zero attempt counts as first", pubsub, 0, 30 * time.Second},
		{"defaults", Policy{}, 2, 2 * time.Second},
		{"multiplier", Policy{Initial: time.Second, Multiplier: 1.5}, 3, 2250 * time.Millisecond},
	}
	for _, tc := range tests {
		if got := tc.p.Delay(tc.n); got != tc.want {
			t.Errorf("%s: Delay(%d) = %v, want %v", tc.name, tc.n, got, tc.want)
		}
	}
	j := Policy{Initial: time.Second, Max: 8 * time.Second, Jitter: true}
	for n := 1; n < 6; n++ {
		full := Policy{Initial: time.Second, Max: 8 * time.Second}.Delay(n)
		if d := j.Delay(n); d < full/2 || d > full {
			t.Errorf("jittered Delay(%d) = %v, want within [%v, %v]", n, d, full/2, full)
		}
	}
}

var errTransient = errors.New("transient")

func TestDo(t *testing.T) {
	permanent := errors.New("permanent")
	tests := []struct {
		name      string
		results   []error // fn returns these in turn, then nil
		decide    Decide
		wantCalls int
		wantErr   error
		wantWaits []time.Duration
	}{
		{"success first", nil, If(isTransient), 1, nil, nil},
		{"transient then success", []error{errTransient, errTransient}, If(isTransient), 3, nil, []time.Duration{time.Second, 2 * time.Second}},
		{"permanent stops", []error{permanent}, If(isTransient), 1, permanent, nil},
		{"exhausted", []error{errTransient, errTransient, errTransient, errTransient}, If(isTransient), 3, ErrExhausted, []time.Duration{time.Second, 2 * time.Second}},
		{"server wait wins", []error{errTransient}, func(error) (bool, time.Duration) { return true, 7 * time.Second }, 2, nil, []time.Duration{7 * time.Second}},
	}
	for _, tc := range tests {
		var waits []time.Duration
		p := Policy{Attempts: 3, Initial: time.Second, Max: time.Minute, Sleep: func(_ context.Context, d time.Duration) error {
			waits = append(waits, d)
			return nil
		}}
		calls := 0
		err := p.Do(context.Background(), tc.decide, func(context.Context) error {
			calls++
			if calls <= len(tc.results) {
				return tc.results[calls-1]
			}
			return nil
		})
		if calls != tc.wantCalls || !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) {
			t.Errorf("%s: %d calls, error %v; want %d calls, error %v", tc.name, calls, err, tc.wantCalls, tc.wantErr)
		}
		if len(waits) != len(tc.wantWaits) {
			t.Errorf("%s: waits %v, want %v", tc.name, waits, tc.wantWaits)
			continue
		}
		for i := range waits {
			if waits[i] != tc.wantWaits[i] {
				t.Errorf("%s: waits %v, want %v", tc.name, waits, tc.wantWaits)
			}
		}
	}
}

func TestDoStopsWhenContextEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	calls := 0
	err := Policy{Attempts: 10}.Do(ctx, If(isTransient), func(context.Context) error {
		calls++
		cancel()
		return errTransient
	})
	if calls != 1 || !errors.Is(err, errTransient) || errors.Is(err, ErrExhausted) {
		t.Errorf("after cancel: %d calls, error %v; want 1 call and the last error", calls, err)
	}
}

func isTransient(err error) bool { return errors.Is(err, errTransient) }
