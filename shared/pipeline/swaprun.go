package pipeline

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"
)

// swapInFlight is how many copy units (swap steps) one completion request
// runs at once. A unit is recorded when its slowest copy ends; one unit at
// a time left the table's rate unused during every unit's tail (1.58× the
// quota bound on 3,650 partitions, BENCHMARKS.md). Copies start in
// partition order from one pool, so units end nearly in order. A crash
// redoes at most the units in flight: each copy is a WRITE_TRUNCATE of one
// partition, so redoing one is harmless. Transactions (atomic promotion)
// run one at a time: two on one table would conflict.
const swapInFlight = 3

// swapRun runs the swap units of one completion request and records each
// in the ledger once all its jobs succeeded.
type swapRun struct {
	p      *Pipeline
	ctx    context.Context
	spec   *Spec
	id     string
	req    *completionRequest
	copies chan struct{} // copy jobs running, across units
	units  chan struct{} // units started and not yet recorded
	wg     sync.WaitGroup

	// staged are staging's rows per partition: a partition without rows
	// is emptied in production, not copied.
	staged map[string]int64

	mu          sync.Mutex
	err         error
	failedUnits []string      // the steps of the units that failed
	longest     time.Duration // longest unit so far, start to record
	running     int           // units whose jobs run
	stopBeat    context.CancelFunc
	beats       sync.WaitGroup
}

func (p *Pipeline) newSwapRun(ctx context.Context, spec *Spec, req *completionRequest, staged map[string]int64) *swapRun {
	n := swapInFlight
	if atomicPromotion(spec) {
		n = 1
	}
	return &swapRun{
		p: p, ctx: ctx, spec: spec, id: req.id, req: req, staged: staged,
		copies: make(chan struct{}, p.copyConcurrency()),
		units:  make(chan struct{}, n),
	}
}

// unitWaits, when set (by tests), is told the step of a unit that must
// wait for a unit in flight to end before it starts.
var unitWaits func(step string)

// start waits for room for one more unit, starts u's jobs (its copies in
// order, as copy slots free up) and returns; u is recorded in the
// background when its jobs are done.
func (r *swapRun) start(u swapUnit) {
	select {
	case r.units <- struct{}{}:
	default:
		if unitWaits != nil {
			unitWaits(u.step)
		}
		r.units <- struct{}{}
	}
	// A unit that failed, or the fence, freed the slot: start nothing,
	// so that at most swapInFlight units are ever started and unrecorded
	// (rollbackUnits restores those).
	if r.failed() {
		<-r.units
		return
	}
	if err := r.req.current(); err != nil {
		r.mu.Lock()
		r.err = errors.Join(r.err, err)
		r.mu.Unlock()
		<-r.units
		return
	}
	began := r.p.now()
	r.jobsBegin()
	var wait func() error
	if u.atomic {
		wait = func() error {
			return r.p.runUnit(r.ctx, r.spec, u, r.spec.Staging, r.spec.SwapDestination, "swap_", nil)
		}
	} else {
		wait = r.p.startCopies(r.ctx, r.spec, u.parts, r.spec.Staging, r.spec.SwapDestination, "swap_", r.staged, r.copies)
	}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		defer func() { <-r.units }()
		err := wait()
		r.jobsEnd()
		if err == nil {
			err = r.p.recordStep(r.ctx, r.id, u.step, "")
		}
		if err != nil {
			r.mu.Lock()
			r.err = errors.Join(r.err, err)
			r.failedUnits = append(r.failedUnits, u.step)
			r.mu.Unlock()
			return
		}
		// Progress, so the scanner does not take a long swap for a lost
		// completion request; and the point where a rollback that started
		// meanwhile stops the swap (no further unit starts).
		if err := r.req.stillCompleting(r.ctx); err != nil {
			r.stop(err)
			return
		}
		r.mu.Lock()
		r.longest = max(r.longest, r.p.now().Sub(began))
		r.mu.Unlock()
	}()
}

// stop records why no more units start (stillCompleting's error: a
// rollback began, or the heartbeat was lost); wait returns it.
func (r *swapRun) stop(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !errors.Is(r.err, errRollbackStarted) && !errors.Is(r.err, errHeartbeatLost) {
		r.err = errors.Join(r.err, err)
	}
}

// jobsBegin counts a unit whose jobs start; the first one starts the
// heartbeat. A request beats only while it has jobs running: a beat
// sleeping on a virtual clock while nothing else sleeps would move it.
func (r *swapRun) jobsBegin() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.running++
	if r.running > 1 || r.req.key == "" {
		return
	}
	ctx, cancel := context.WithCancel(r.ctx)
	r.stopBeat = cancel
	r.beats.Add(1)
	go func() {
		defer r.beats.Done()
		for r.p.clock().Sleep(ctx, r.p.beat()) == nil {
			if err := r.req.stillCompleting(ctx); err != nil {
				r.stop(err)
			}
		}
	}()
}

// jobsEnd counts a unit whose jobs ended; the last one stops the
// heartbeat.
func (r *swapRun) jobsEnd() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.running--
	if r.running == 0 && r.stopBeat != nil {
		r.stopBeat()
		r.stopBeat = nil
	}
}

// failed reports whether a unit failed: no more should start.
func (r *swapRun) failed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err != nil
}

// failedSteps names the steps of the units that failed so far.
func (r *swapRun) failedSteps() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.failedUnits)
}

// longestUnit is the longest a recorded unit took so far (0: none yet).
func (r *swapRun) longestUnit() time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.longest
}

// wait waits for the units started and returns their errors.
func (r *swapRun) wait() error {
	r.wg.Wait()
	// No beat after the request leaves the record.
	r.beats.Wait()
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}
