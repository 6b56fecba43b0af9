// Package clock is the time source of pacing and of the quota model: the
// real clock in production, a virtual one in tests and benchmarks, so that
// an hour of BigQuery quota pacing is simulated in a second.
package clock

import (
	"container/heap"
	"context"
	"sync"
	"time"

	"github.com/bqbackfill/bqbackfill/shared/backoff"
)

// Clock tells the time and sleeps.
type Clock interface {
	Now() time.Time
	// Sleep waits d, or until ctx ends (then it returns ctx.Err()).
	Sleep(ctx context.Context, d time.Duration) error
}

// Real is the wall clock.
type Real struct{}

// Now returns time.Now().
func (Real) Now() time.Time { return time.Now() }

// Sleep waits d on the wall clock.
func (Real) Sleep(ctx context.Context, d time.Duration) error { return backoff.Sleep(ctx, d) }

// Virtual is a simulated clock. Time stands still while goroutines work and
// jumps to the earliest pending wake-up once no goroutine has called Sleep
// (or been woken) for Quiet of real time: everything that could run has run
// and is waiting for the clock. Work done between wake-ups therefore takes
// no virtual time, and the virtual timeline is the sum of the sleeps on it
// (job latencies, pacing waits, backoffs). Safe for concurrent use; Close it
// when done.
type Virtual struct {
	mu      sync.Mutex
	now     time.Time
	waiters waitHeap
	seq     uint64 // bumped by every Sleep, wake-up and release of a hold
	holds   int
	closed  bool
	wake    chan struct{}
	quiet   time.Duration
}

// DefaultQuiet is how long a Virtual clock waits for activity to settle
// before it jumps: long enough for a woken goroutine to reach its next Sleep
// through local I/O on a loaded machine, short enough for thousands of jumps
// per second of real time.
const DefaultQuiet = 300 * time.Microsecond

// NewVirtual returns a virtual clock at start. quiet <= 0 means DefaultQuiet.
func NewVirtual(start time.Time, quiet time.Duration) *Virtual {
	if quiet <= 0 {
		quiet = DefaultQuiet
	}
	v := &Virtual{now: start, wake: make(chan struct{}, 1), quiet: quiet}
	go v.run()
	return v
}

// Now returns the virtual time.
func (v *Virtual) Now() time.Time {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.now
}

// Sleep waits d of virtual time.
func (v *Virtual) Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	ch := make(chan struct{})
	w := v.workOf(ctx)
	v.mu.Lock()
	if v.closed {
		v.mu.Unlock()
		return context.Canceled
	}
	v.letGo(w)
	wt := &waiter{at: v.now.Add(d), ch: ch, w: w}
	heap.Push(&v.waiters, wt)
	v.seq++
	v.poke()
	v.mu.Unlock()
	select {
	case <-ctx.Done():
		v.mu.Lock()
		// A cancelled sleep leaves the heap: its wake-up would make the
		// clock jump to a time nobody waits for.
		if wt.index >= 0 {
			heap.Remove(&v.waiters, wt.index)
		}
		v.retake(w)
		v.mu.Unlock()
		return ctx.Err()
	case <-ch:
		// run took w's hold back before it closed ch.
		return nil
	}
}

// work is a goroutine's work on a Virtual clock (Work): while held, the
// clock stands still. Goroutines that share its context share it: the
// first to sleep lets go, the first to wake takes it back.
type work struct {
	held, done bool
}

type workKey struct{ v *Virtual }

func (v *Virtual) workOf(ctx context.Context) *work {
	w, _ := ctx.Value(workKey{v}).(*work)
	return w
}

// letGo releases w's hold; v.mu is held.
func (v *Virtual) letGo(w *work) {
	if w != nil && w.held {
		w.held = false
		v.holds--
	}
}

// retake holds w again unless its work ended; v.mu is held.
func (v *Virtual) retake(w *work) {
	if w != nil && !w.held && !w.done {
		w.held = true
		v.holds++
	}
}

// Work holds the clock while the caller does real work (CPU, local I/O)
// on behalf of ctx, until release: the work takes no virtual time however
// slow the machine. A Sleep with the returned context lets go of the hold
// for the sleep and takes it back as it wakes, before the clock can move
// again; Blocked does the same around any other wait. Used by benchmarks
// to time a worker task's handling of a message as the sum of its sleeps
// (job latencies, pacing waits).
func (v *Virtual) Work(ctx context.Context) (context.Context, func()) {
	if v.workOf(ctx) != nil {
		return ctx, func() {}
	}
	w := &work{held: true}
	v.mu.Lock()
	v.holds++
	v.mu.Unlock()
	var once sync.Once
	return context.WithValue(ctx, workKey{v}, w), func() {
		once.Do(func() {
			v.mu.Lock()
			defer v.mu.Unlock()
			v.letGo(w)
			w.done = true
			v.seq++
			v.poke()
		})
	}
}

// Blocked lets go of ctx's work hold (Work) until resume is called: for a
// wait on another goroutine that may need the clock to move (a full query
// queue), which would otherwise never end. A no-op without a hold.
func (v *Virtual) Blocked(ctx context.Context) (resume func()) {
	w := v.workOf(ctx)
	if w == nil {
		return func() {}
	}
	v.mu.Lock()
	v.letGo(w)
	v.seq++
	v.poke()
	v.mu.Unlock()
	return func() {
		v.mu.Lock()
		v.retake(w)
		v.mu.Unlock()
	}
}

// Hold stops the clock from jumping until the returned release is called:
// a goroutine doing real work that takes no virtual time (a model running
// the job it just waited for) holds the clock so that no other sleeper
// wakes in the middle of it.
func (v *Virtual) Hold() (release func()) {
	v.mu.Lock()
	v.holds++
	v.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			v.mu.Lock()
			defer v.mu.Unlock()
			v.holds--
			v.seq++
			v.poke()
		})
	}
}

// Close stops the clock; later and pending Sleeps return at once.
func (v *Virtual) Close() {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.closed {
		return
	}
	v.closed = true
	for _, w := range v.waiters {
		w.index = -1
		close(w.ch)
	}
	v.waiters = nil
	close(v.wake)
}

// poke wakes run; v.mu is held (so Close cannot close wake meanwhile).
func (v *Virtual) poke() {
	if v.closed {
		return
	}
	select {
	case v.wake <- struct{}{}:
	default:
	}
}

// run advances the clock whenever activity has settled.
func (v *Virtual) run() {
	for range v.wake {
		for {
			v.mu.Lock()
			if v.closed || len(v.waiters) == 0 {
				v.mu.Unlock()
				break
			}
			seq := v.seq
			v.mu.Unlock()
			time.Sleep(v.quiet)
			v.mu.Lock()
			if v.closed {
				v.mu.Unlock()
				return
			}
			if v.seq != seq || v.holds > 0 || len(v.waiters) == 0 {
				v.mu.Unlock()
				continue
			}
			v.now = v.waiters[0].at
			for len(v.waiters) > 0 && !v.waiters[0].at.After(v.now) {
				w := heap.Pop(&v.waiters).(*waiter)
				v.retake(w.w)
				close(w.ch)
			}
			v.seq++
			v.mu.Unlock()
		}
	}
}

type waiter struct {
	at    time.Time
	ch    chan struct{}
	w     *work // the sleeper's work, held again when it wakes; nil for none
	index int   // in the heap; -1 once popped
}

type waitHeap []*waiter

func (h waitHeap) Len() int           { return len(h) }
func (h waitHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h waitHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *waitHeap) Push(x any) {
	w := x.(*waiter)
	w.index = len(*h)
	*h = append(*h, w)
}
func (h *waitHeap) Pop() any {
	old := *h
	w := old[len(old)-1]
	w.index = -1
	*h = old[:len(old)-1]
	return w
}
