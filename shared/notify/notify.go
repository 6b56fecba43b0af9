package notify

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
)

// Notifier delivers events to people.
//
// Notify may be called concurrently. It returns nil once the message is
// delivered. A delivery that can never succeed (a bad token, an unknown
// channel, a webhook that no longer exists) returns an error for which
// IsPermanent is true; any other error is transient and the caller should
// redeliver the event later. An event may be delivered more than once
// (Pub/Sub is at-least-once); implementations do not deduplicate.
type Notifier interface {
	Notify(ctx context.Context, e Event) error
}

// permanentError marks a delivery failure a retry cannot fix.
type permanentError struct{ err error }

func (p *permanentError) Error() string { return p.err.Error() }
func (p *permanentError) Unwrap() error { return p.err }

// Permanent marks err as a delivery failure that retrying cannot fix.
// Permanent(nil) is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err: err}
}

// IsPermanent reports whether err is a permanent delivery failure. A joined
// error (from Multi) is permanent only when every error in it is, so that a
// transient failure of one notifier still gets the event redelivered.
func IsPermanent(err error) bool {
	switch x := err.(type) {
	case nil:
		return false
	case *permanentError:
		return true
	case interface{ Unwrap() []error }:
		errs := x.Unwrap()
		for _, e := range errs {
			if !IsPermanent(e) {
				return false
			}
		}
		return len(errs) > 0
	case interface{ Unwrap() error }:
		return IsPermanent(x.Unwrap())
	}
	return false
}

// Multi delivers each event to every notifier in order, and returns their
// errors joined (see IsPermanent for how a joined error is classified).
type Multi []Notifier

// Notify implements Notifier.
func (m Multi) Notify(ctx context.Context, e Event) error {
	var errs []error
	for _, n := range m {
		if err := n.Notify(ctx, e); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Func is a Notifier whose behaviour is a function field: a fake for tests
// and for fault injection. A nil NotifyFunc accepts every event.
type Func struct {
	NotifyFunc func(ctx context.Context, e Event) error
}

// Notify implements Notifier.
func (f Func) Notify(ctx context.Context, e Event) error {
	if f.NotifyFunc == nil {
		return nil
	}
	return f.NotifyFunc(ctx, e)
}

// Recorder is a Notifier that keeps every event it is given, for tests that
// assert which notifications a run sent. The zero value is ready to use.
type Recorder struct {
	mu     sync.Mutex
	events []Event
}

// Notify implements Notifier; it never fails.
func (r *Recorder) Notify(_ context.Context, e Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
	return nil
}

// Events returns a copy of the recorded events, oldest first.
func (r *Recorder) Events() []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.events)
}

// Log writes each event, rendered as text, to a writer: what local mode
// prints. Each event is one block, written with a single Write call and
// followed by a blank line.
type Log struct {
	mu   sync.Mutex
	w    io.Writer
	opts RenderOptions
}

// NewLog returns a Log writing to w. opts may be nil; Format is always
// Plain.
func NewLog(w io.Writer, opts *RenderOptions) *Log {
	l := &Log{w: w}
	if opts != nil {
		l.opts = *opts
	}
	l.opts.Format = Plain
	return l
}

// Notify implements Notifier. A failed write is transient.
func (l *Log) Notify(_ context.Context, e Event) error {
	block := Render(e, l.opts) + "\n\n"
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, err := io.WriteString(l.w, block); err != nil {
		return fmt.Errorf("notify: write %s event for %s: %w", e.Kind, e.Table, err)
	}
	return nil
}

// Compile-time checks that every implementation is a Notifier.
var (
	_ Notifier = Multi(nil)
	_ Notifier = Func{}
	_ Notifier = (*Recorder)(nil)
	_ Notifier = (*Log)(nil)
	_ Notifier = (*Slack)(nil)
	_ Notifier = (*Webhook)(nil)
)
