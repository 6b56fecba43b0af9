package handlers

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/cloudevents/sdk-go/v2/event"
)

// Lazy builds a value on first use and keeps it once built. Unlike
// sync.Once it does not keep a failure: a failed Build is returned and run
// again on the next call, so a function whose first event met a missing
// variable or an unreachable service recovers once the cause is fixed,
// without a new instance. Safe for concurrent use; callers wait for a build
// in progress.
type Lazy[T any] struct {
	// Build makes the value; it runs until it succeeds once.
	Build func() (T, error)

	mu    sync.Mutex
	built atomic.Bool
	v     T
}

// Get returns the built value, building it first if no build succeeded yet.
func (l *Lazy[T]) Get() (T, error) {
	if l.built.Load() {
		return l.v, nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.built.Load() {
		return l.v, nil
	}
	v, err := l.Build()
	if err != nil {
		var zero T
		return zero, err
	}
	l.v = v
	l.built.Store(true)
	return v, nil
}

// EventHandler handles one CloudEvent (Scanner, Completion and Notifier do).
type EventHandler interface {
	Handle(ctx context.Context, e event.Event) error
}

// Deferred returns the function a deployed function registers with
// functions.CloudEvent: it builds its handler with build on the first event
// (importing the package does no I/O) and hands every event to it. While
// build fails, each event gets the setup error, wrapped with name, so that
// Pub/Sub or Eventarc redelivers the event and the next one builds again.
func Deferred[H EventHandler](name string, build func() (H, error)) func(context.Context, event.Event) error {
	l := &Lazy[H]{Build: build}
	return func(ctx context.Context, e event.Event) error {
		h, err := l.Get()
		if err != nil {
			return fmt.Errorf("%s setup: %w", name, err)
		}
		return h.Handle(ctx, e)
	}
}
