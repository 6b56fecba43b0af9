package clock

import (
	"context"
	"sync"
	"testing"
	"time"
)

func TestVirtualSleepsInOrder(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	v := NewVirtual(start, 0)
	defer v.Close()
	ctx := context.Background()
	var mu sync.Mutex
	var woke []time.Duration
	var wg sync.WaitGroup
	// Hold the clock until all three sleep: on a loaded machine a goroutine
	// may start later than the quiet period, and the clock would rightly
	// jump to the earlier sleepers first.
	release := v.Hold()
	for _, d := range []time.Duration{3 * time.Hour, time.Second, time.Hour} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := v.Sleep(ctx, d); err != nil {
				t.Error(err)
			}
			mu.Lock()
			woke = append(woke, v.Now().Sub(start))
			mu.Unlock()
		}()
	}
	for {
		v.mu.Lock()
		n := v.waiters.Len()
		v.mu.Unlock()
		if n == 3 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	release()
	wg.Wait()
	want := []time.Duration{time.Second, time.Hour, 3 * time.Hour}
	for i := range want {
		if woke[i] != want[i] {
			t.Fatalf("woke at %v, want %v", woke, want)
		}
	}
}

func TestVirtualSleepHonoursContext(t *testing.T) {
	v := NewVirtual(time.Unix(0, 0), 0)
	defer v.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := v.Sleep(ctx, time.Hour); err != context.Canceled {
		t.Errorf("Sleep with a cancelled context = %v", err)
	}
	if err := (Real{}).Sleep(ctx, time.Hour); err != context.Canceled {
		t.Errorf("Real.Sleep with a cancelled context = %v", err)
	}
}

// settle gives the clock many quiet periods of real time in which to
// jump, if it may.
func settle() { time.Sleep(100 * DefaultQuiet) }

// TestVirtualWork: work on a context holds the clock, a Sleep on that
// context lets go until it wakes, and the woken worker holds the clock
// again before anyone else wakes, until it releases.
func TestVirtualWork(t *testing.T) {
	start := time.Unix(0, 0)
	v := NewVirtual(start, 0)
	defer v.Close()
	ctx, release := v.Work(context.Background())
	other := make(chan time.Duration, 1)
	go func() {
		if err := v.Sleep(context.Background(), 2*time.Second); err != nil {
			t.Error(err)
		}
		other <- v.Now().Sub(start)
	}()
	settle()
	if got := v.Now(); !got.Equal(start) {
		t.Fatalf("the clock moved to %v while work held it", got.Sub(start))
	}
	// Sleeping lets go; waking takes the hold back at once.
	if err := v.Sleep(ctx, time.Second); err != nil {
		t.Fatal(err)
	}
	settle()
	if got := v.Now().Sub(start); got != time.Second {
		t.Fatalf("after the worker woke, the clock is at %v, want it held at 1s", got)
	}
	select {
	case at := <-other:
		t.Fatalf("another sleeper woke at %v while the woken worker held the clock", at)
	default:
	}
	release()
	if at := <-other; at != 2*time.Second {
		t.Fatalf("other sleeper woke at %v, want 2s", at)
	}
}

// TestVirtualWorkCancelledSleep: a Sleep cut short by its context takes
// the hold back, and its stale wake-up does not take the hold of the
// worker's next sleep (which would stop the clock for good).
func TestVirtualWorkCancelledSleep(t *testing.T) {
	v := NewVirtual(time.Unix(0, 0), 0)
	defer v.Close()
	ctx, release := v.Work(context.Background())
	defer release()
	cctx, cancel := context.WithCancel(ctx)
	hold := v.Hold() // the clock stays at 0 until the sleep is cancelled
	go func() {
		settle()
		cancel()
	}()
	if err := v.Sleep(cctx, time.Hour); err != context.Canceled {
		t.Fatalf("cancelled Sleep = %v", err)
	}
	hold()
	// The next sleep is longer than the stale one: the clock passes the
	// stale wake-up (1 h) on its way to 2 h.
	done := make(chan error, 1)
	go func() { done <- v.Sleep(ctx, 2*time.Hour) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the worker's next sleep never ended: the stale wake-up took its hold")
	}
}

// TestVirtualBlocked: a worker waiting on another goroutine that needs
// the clock to move lets go of its hold meanwhile.
func TestVirtualBlocked(t *testing.T) {
	v := NewVirtual(time.Unix(0, 0), 0)
	defer v.Close()
	ctx, release := v.Work(context.Background())
	defer release()
	ready := make(chan struct{})
	go func() {
		_ = v.Sleep(context.Background(), time.Minute)
		close(ready)
	}()
	resume := v.Blocked(ctx)
	select {
	case <-ready:
	case <-time.After(30 * time.Second):
		t.Fatal("the clock did not move while the worker was blocked")
	}
	resume()
}

// TestVirtualCancelledSleepLeaves: a sleep whose context ends leaves the
// clock's wake-ups, so the clock never jumps to a time nobody waits for;
// the next sleeper wakes at its own time.
func TestVirtualCancelledSleepLeaves(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	v := NewVirtual(start, 0)
	defer v.Close()
	release := v.Hold() // no jump while the sleeps are set up
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- v.Sleep(ctx, time.Hour) }()
	for {
		v.mu.Lock()
		n := len(v.waiters)
		v.mu.Unlock()
		if n == 1 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-done; err != context.Canceled {
		t.Fatalf("cancelled sleep: %v", err)
	}
	v.mu.Lock()
	n := len(v.waiters)
	v.mu.Unlock()
	if n != 0 {
		t.Fatalf("%d wake-ups pending after the only sleep was cancelled", n)
	}
	release()
	if err := v.Sleep(context.Background(), 2*time.Hour); err != nil {
		t.Fatal(err)
	}
	if got := v.Now().Sub(start); got != 2*time.Hour {
		t.Errorf("woke at +%v, want +2h", got)
	}
	// A sleep cancelled after Close returns without touching the heap.
	v.Close()
	ctx2, cancel2 := context.WithCancel(context.Background())
	cancel2()
	if err := v.Sleep(ctx2, time.Hour); err == nil {
		t.Error("sleep after Close: nil error")
	}
}
