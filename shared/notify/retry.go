package notify

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/bqbackfill/bqbackfill/shared/backoff"
)

// RetryOptions bounds the retries of one API call (a Slack method, a
// webhook POST) inside one Notify. When they run out the error is returned
// as transient, and the event is redelivered later by Pub/Sub.
type RetryOptions struct {
	// MaxAttempts is the number of tries per call; 0 means 5.
	MaxAttempts int
	// InitialBackoff is the wait after the first failure, doubled after each
	// further one; 0 means 1s.
	InitialBackoff time.Duration
	// MaxBackoff caps the doubling; 0 means 30s. A server's Retry-After is
	// honoured even when longer (the context deadline still applies).
	MaxBackoff time.Duration
	// Sleep waits d or until ctx is done; nil means a timer. Tests replace it
	// to record the waits without spending them.
	Sleep func(ctx context.Context, d time.Duration) error
}

func (o RetryOptions) withDefaults() RetryOptions {
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 5
	}
	if o.InitialBackoff <= 0 {
		o.InitialBackoff = time.Second
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 30 * time.Second
	}
	return o
}

// verdict is what a classifier says about one failed attempt.
type verdict int

const (
	retryable verdict = iota // try again after a backoff (or the server's wait)
	permanent                // give up: a retry cannot help
	transient                // give up now, but a later redelivery may work
)

// do calls fn until it succeeds, fails for good, or the attempts run out.
// classify says what an error means and, for rate limits, how long the
// server asked to wait (0: use the backoff).
func (o RetryOptions) do(ctx context.Context, what string, fn func() error, classify func(error) (verdict, time.Duration)) error {
	o = o.withDefaults()
	p := backoff.Policy{Attempts: o.MaxAttempts, Initial: o.InitialBackoff, Max: o.MaxBackoff, Sleep: o.Sleep}
	v := retryable
	err := p.Do(ctx, func(err error) (bool, time.Duration) {
		if ctx.Err() != nil {
			return false, 0
		}
		var after time.Duration
		v, after = classify(err)
		return v == retryable, after
	}, func(context.Context) error { return fn() })
	switch {
	case err == nil:
		return nil
	case ctx.Err() == nil && v == permanent:
		return Permanent(fmt.Errorf("%s: %w", what, err))
	case errors.Is(err, backoff.ErrExhausted):
		return fmt.Errorf("%s: giving up: %w", what, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}
