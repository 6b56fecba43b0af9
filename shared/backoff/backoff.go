// Package backoff is the one capped exponential backoff of the code base:
// the waits between retries of a call, between polls of a busy resource,
// and the delay Pub/Sub's retry policy puts on a nacked message (which the
// local queue reproduces).
//
// Which layer retries what is decided per call path (docs/ARCHITECTURE.md,
// "Retries"): the layer that retries uses a Policy; the layers below it do
// not retry, so retries never multiply.
package backoff

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"
)

// Policy is a capped exponential backoff: the wait before retry n is
// Initial × Multiplier^(n-1), at most Max.
type Policy struct {
	// Attempts is the number of tries Do makes, the first included
	// (0 means 1: no retry).
	Attempts int
	// Initial is the wait before the first retry (0 means 1s).
	Initial time.Duration
	// Max caps the wait (0 means no cap).
	Max time.Duration
	// Multiplier grows the wait (values below 1, 0 included, mean 2).
	Multiplier float64
	// Jitter subtracts a random part of up to half of each wait, so that
	// many clients retrying at once spread out.
	Jitter bool
	// Sleep waits d or until ctx ends (nil: a timer). Tests replace it to
	// run retries without waiting. Clock, when set, is used instead.
	Sleep func(ctx context.Context, d time.Duration) error
	// Clock, when set, sleeps and tells the time for Run and Do (a
	// virtual clock in benchmarks; shared/clock's clocks implement it).
	Clock Clock
	// FreeRetries caps the retries a Classify marks Free, which do not use
	// up Attempts (0: none is allowed).
	FreeRetries int
	// FitDeadline gives up at once, with the last error, instead of
	// starting a wait that would end after ctx's deadline (measured on
	// Clock): the caller's caller, a push request redelivered, say,
	// retries later instead.
	FitDeadline bool
	// Unwrapped returns the last error as it is when the attempts run out,
	// not wrapped with ErrExhausted: for a layer whose error is recorded or
	// retried above it under its own name.
	Unwrapped bool
}

// Clock tells the time and sleeps (shared/clock.Clock).
type Clock interface {
	Now() time.Time
	Sleep(ctx context.Context, d time.Duration) error
}

// Delay is the wait before retry n (1-based; n < 1 counts as 1).
func (p Policy) Delay(n int) time.Duration {
	d := float64(p.Initial)
	if d <= 0 {
		d = float64(time.Second)
	}
	m := p.Multiplier
	if m < 1 {
		m = 2
	}
	for i := 1; i < n; i++ {
		d *= m
		if p.Max > 0 && d >= float64(p.Max) {
			break
		}
	}
	if p.Max > 0 && d > float64(p.Max) {
		d = float64(p.Max)
	}
	if p.Jitter {
		d -= rand.Float64() * d / 2
	}
	return time.Duration(d)
}

// Decide says whether to try again after err and how long to wait first
// (0: the policy's delay; a server's Retry-After, say, when positive).
type Decide func(err error) (retry bool, wait time.Duration)

// If retries the errors pred accepts, after the policy's delay.
func If(pred func(error) bool) Decide {
	return func(err error) (bool, time.Duration) { return pred(err), 0 }
}

// ErrExhausted wraps the last error when the attempts run out (unless
// Unwrapped).
var ErrExhausted = errors.New("retries exhausted")

// Verdict is what a Classify says of a failed try.
type Verdict struct {
	// Retry: try again.
	Retry bool
	// Wait before the next try (0: the policy's delay).
	Wait time.Duration
	// Free: the retry does not use up an attempt (a long wait for a quota
	// to refill, say); Policy.FreeRetries caps them.
	Free bool
}

// Classify says whether, and how, to retry after err.
type Classify func(err error) Verdict

// Do calls fn until it returns nil, decide rejects its error, the attempts
// run out (the last error is returned wrapped with ErrExhausted) or ctx
// ends (the last error is returned as is).
func (p Policy) Do(ctx context.Context, decide Decide, fn func(ctx context.Context) error) error {
	return p.Run(ctx, func(err error) Verdict {
		retry, wait := decide(err)
		return Verdict{Retry: retry, Wait: wait}
	}, fn)
}

// Run is Do with retries that may be free: it calls fn until it returns
// nil, classify says not to retry, the attempts or the free retries run
// out, a wait would overrun ctx's deadline (FitDeadline) or ctx ends. The
// last error is returned as is, except that running out of attempts wraps
// it with ErrExhausted (unless Unwrapped).
func (p Policy) Run(ctx context.Context, classify Classify, fn func(ctx context.Context) error) error {
	attempts := max(p.Attempts, 1)
	for n, free := 1, 0; ; {
		err := fn(ctx)
		if err == nil {
			return nil
		}
		v := classify(err)
		if !v.Retry || ctx.Err() != nil {
			return err
		}
		switch {
		case v.Free && free >= p.FreeRetries:
			return err
		case !v.Free && n >= attempts:
			if p.Unwrapped {
				return err
			}
			return fmt.Errorf("%w after %d attempts: %w", ErrExhausted, attempts, err)
		}
		wait := v.Wait
		if wait <= 0 {
			wait = p.Delay(n)
		}
		if dl, ok := ctx.Deadline(); ok && p.FitDeadline && dl.Sub(p.now()) < wait {
			return err
		}
		if v.Free {
			free++
		} else {
			n++
		}
		if p.sleep(ctx, wait) != nil {
			return err
		}
	}
}

func (p Policy) now() time.Time {
	if p.Clock != nil {
		return p.Clock.Now()
	}
	return time.Now()
}

func (p Policy) sleep(ctx context.Context, d time.Duration) error {
	switch {
	case p.Clock != nil:
		return p.Clock.Sleep(ctx, d)
	case p.Sleep != nil:
		return p.Sleep(ctx, d)
	}
	return Sleep(ctx, d)
}

// Sleep waits d or until ctx ends, returning ctx's error then (at once
// for d <= 0). It is the one timer wait of the code base: clock.Real and
// the BigQuery adapter's polls sleep with it too.
func Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
