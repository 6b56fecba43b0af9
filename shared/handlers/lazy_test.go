package handlers_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/bqbackfill/bqbackfill/shared/handlers"
)

// TestLazyRetriesFailedBuild: a failed build is returned and run again on
// the next call (sync.Once would return the first failure for ever); a
// successful build is kept.
func TestLazyRetriesFailedBuild(t *testing.T) {
	errSetup := errors.New("BQBACKFILL_PROJECT is not set")
	results := []error{errSetup, errSetup, nil}
	builds := 0
	l := &handlers.Lazy[int]{Build: func() (int, error) {
		err := results[builds]
		builds++
		if err != nil {
			return 0, err
		}
		return 42, nil
	}}
	for i, want := range []error{errSetup, errSetup, nil, nil, nil} {
		v, err := l.Get()
		if !errors.Is(err, want) || (want == nil && v != 42) {
			t.Fatalf("call %d: Get = %d, %v; want 42, %v", i+1, v, err, want)
		}
	}
	if builds != 3 {
		t.Errorf("%d builds, want 3 (two failures, one success, then kept)", builds)
	}
}

// TestLazyConcurrent: callers arriving together wait for one build.
func TestLazyConcurrent(t *testing.T) {
	var builds atomic.Int32
	release := make(chan struct{})
	l := &handlers.Lazy[string]{Build: func() (string, error) {
		builds.Add(1)
		<-release
		return "built", nil
	}}
	var wg sync.WaitGroup
	got := make([]string, 8)
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i], _ = l.Get()
		}()
	}
	close(release)
	wg.Wait()
	if n := builds.Load(); n != 1 {
		t.Errorf("%d builds, want 1", n)
	}
	for i, v := range got {
		if v != "built" {
			t.Errorf("caller %d got %q", i, v)
		}
	}
}

type recordingHandler struct{ ids []string }

func (h *recordingHandler) Handle(_ context.Context, e event.Event) error {
	h.ids = append(h.ids, e.ID())
	return nil
}

// TestDeferred: while setup fails every event gets the setup error, named;
// the first event after the fix is handled, and setup is not run again.
func TestDeferred(t *testing.T) {
	h := &recordingHandler{}
	setups, fail := 0, true
	fn := handlers.Deferred("scanner", func() (*recordingHandler, error) {
		setups++
		if fail {
			return nil, errors.New("BQBACKFILL_SQL_BUCKET is not set")
		}
		return h, nil
	})
	ev := func(id string) event.Event {
		e := event.New()
		e.SetID(id)
		return e
	}
	err := fn(context.Background(), ev("1"))
	if err == nil || !strings.HasPrefix(err.Error(), "scanner setup: ") || !strings.Contains(err.Error(), "BQBACKFILL_SQL_BUCKET") {
		t.Fatalf("event before the fix: %v, want the named setup error", err)
	}
	fail = false
	for _, id := range []string{"2", "3"} {
		if err := fn(context.Background(), ev(id)); err != nil {
			t.Fatalf("event %s: %v", id, err)
		}
	}
	if setups != 2 || strings.Join(h.ids, ",") != "2,3" {
		t.Errorf("setups %d, handled %v; want 2 setups and events 2,3", setups, h.ids)
	}
}
