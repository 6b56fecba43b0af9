package notify

import (
	"context"
	"fmt"
	"time"
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
	if o.Sleep == nil {
		o.Sleep = sleep
	}
	return o
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
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
	backoff := o.InitialBackoff
	var last error
	for attempt := 1; ; attempt++ {
		err := fn()
		if err == nil {
			return nil
		}
		last = err
		if ctx.Err() != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		v, after := classify(err)
		switch v {
		case permanent:
			return Permanent(fmt.Errorf("%s: %w", what, err))
		case transient:
			return fmt.Errorf("%s: %w", what, err)
		}
		if attempt >= o.MaxAttempts {
			break
		}
		wait := backoff
		if after > 0 {
			wait = after
		}
		if err := o.Sleep(ctx, wait); err != nil {
			return fmt.Errorf("%s: %w (waiting to retry after: %v)", what, err, last)
		}
		backoff = min(2*backoff, o.MaxBackoff)
	}
	return fmt.Errorf("%s: giving up after %d attempts: %w", what, o.MaxAttempts, last)
}
