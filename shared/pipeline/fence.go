package pipeline

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/bqbackfill/bqbackfill/shared/ledger"
)

// The rollback fence. A rollback of a completing backfill first records
// RollbackStartedAt (startRollback): from then on no completion request
// starts a swap unit. A request already at work may have copies or a
// transaction running in BigQuery, which end there whatever the request
// does, so the rollback restores nothing until every request that may
// still write production is gone:
//
//   - a request enters the record (Backfill.Completions) before it touches
//     anything, and that write sees the fence or is seen by it (both are
//     generation-matched writes of backfill.json);
//   - while its swap jobs run it beats every lease/4, and after each unit;
//     a request whose beats fail for half the lease starts no further
//     unit (errHeartbeatLost) and is redelivered;
//     it does not beat during the backup, so it checks the fence again
//     before its first unit (a backup longer than the lease lets a
//     rollback take the request for dead and end, nothing swapped);
//   - when it sees the fence it starts nothing more, waits for the jobs it
//     started, and leaves, recording CompletionStoppedAt (its
//     acknowledgement); it leaves whenever it returns, on any path but an
//     ended context (below);
//   - the rollback waits (awaitCompletions) until no request is in the
//     record with a heartbeat younger than the lease: acknowledged, or
//     crashed.
//
// The lease is 2 minutes: a beat is due every 30 s, so three in a row must
// be late (a slow ledger write and its retries) before a live request is
// taken for dead, and an operator waits at most 2 minutes after a crash.
// It need not cover a job: the beat runs beside the jobs, whatever they
// last (a 4,000-partition transaction, a quotaExceeded wait). Heartbeats
// are the completion's clock read by the operator's: both keep NTP time,
// and the lease dwarfs their usual skew.
//
// What remains: a request that dies (its instance killed) or whose context
// ends while its calls wait for jobs leaves jobs running in BigQuery that
// nobody waits for. It does not leave the record (a request whose context
// ended stays), so the rollback waits out its lease: 2 minutes after its
// last beat, at least 90 s after its death. A copy of one partition ends
// in seconds, so only a job still running then — a large transaction
// (atomic promotion) or a job BigQuery queued for minutes — can land after
// the rollback restored its partitions. Two transactions on one table
// conflict and BigQuery cancels one (so a late transaction either lands
// before the rollback's, which then fails and the operator runs again, or
// is cancelled); a late copy shows in the job history. Closing it fully
// would need the rollback to read the state of the completion's jobs
// (bigquery.jobs.get on another identity's jobs): a grant beyond the
// operator's roles/bigquery.jobUser (docs/deploy.md, section 8).

// DefaultCompletionLease is Options.CompletionLease when unset (a deployment
// runs with it; status judges which requests are alive by it).
const DefaultCompletionLease = 2 * time.Minute

// rollbackPoll is how often a waiting rollback reads the record again.
const rollbackPoll = 5 * time.Second

// completionRequest is one completion request's entry in the record
// (key "" when requests do not register: local mode).
type completionRequest struct {
	p   *Pipeline
	id  string
	key string

	mu       sync.Mutex
	lastBeat time.Time // the last heartbeat written to the record
}

// errHeartbeatLost stops a completion request whose heartbeat could not
// be recorded for half the lease: a rollback may soon take it for dead and
// restore production, so it starts nothing more (its message is
// redelivered, and the next request enters the record afresh).
var errHeartbeatLost = errors.New("the completion request's heartbeat could not be recorded")

// beaten records a heartbeat written at at.
func (r *completionRequest) beaten(at time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if at.After(r.lastBeat) {
		r.lastBeat = at
	}
}

// current returns errHeartbeatLost (wrapped) when the request's last
// recorded heartbeat is older than half the lease; nil in local mode,
// where requests do not register.
func (r *completionRequest) current() error {
	if r.key == "" {
		return nil
	}
	lease := r.p.opts().CompletionLease
	r.mu.Lock()
	last := r.lastBeat
	r.mu.Unlock()
	if r.p.now().Sub(last) > lease/2 {
		return fmt.Errorf("complete %s: last heartbeat recorded at %s, more than half the %v lease ago; a rollback could take the request for dead, so it starts no further swap unit: %w",
			r.id, last.UTC().Format(time.RFC3339), lease, errHeartbeatLost)
	}
	return nil
}

// enterCompletion registers a completion request of backfill id. It
// returns errRollbackStarted when a rollback began or the backfill is no
// longer completing: the request must touch nothing.
func (p *Pipeline) enterCompletion(ctx context.Context, id string) (*completionRequest, error) {
	r := &completionRequest{p: p, id: id}
	lease := p.opts().CompletionLease
	if lease < 0 {
		return r, nil
	}
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, fmt.Errorf("complete %s: request id: %w", id, err)
	}
	key := hex.EncodeToString(b[:])
	now := p.now()
	_, err := p.Ledger.Update(ctx, id, func(b *ledger.Backfill) error {
		if err := stopReason(b); err != nil {
			return err
		}
		if b.Completions == nil {
			b.Completions = map[string]time.Time{}
		}
		// Entries whose lease lapsed are requests that died.
		for k, at := range b.Completions {
			if now.Sub(at) > lease {
				delete(b.Completions, k)
			}
		}
		b.Completions[key] = now
		b.UpdatedAt = now
		return nil
	})
	if errors.Is(err, errRollbackStarted) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("complete %s: record the completion request: %w", id, err)
	}
	r.key = key
	r.beaten(now)
	return r, nil
}

// stillCompleting records the request's progress and heartbeat. It
// returns errRollbackStarted when a rollback began (or the backfill is no
// longer completing), and errHeartbeatLost when the write failed and no
// heartbeat was recorded for half the lease: the request then starts
// nothing more. The heartbeat
// is recorded all the same, since the request lives until its jobs end.
func (r *completionRequest) stillCompleting(ctx context.Context) error {
	var stop error
	now := r.p.now()
	_, err := r.p.Ledger.Update(ctx, r.id, func(b *ledger.Backfill) error {
		stop = stopReason(b)
		fenced := stop != nil
		if r.key != "" {
			if b.Completions == nil {
				b.Completions = map[string]time.Time{}
			}
			b.Completions[r.key] = now
		} else if fenced {
			return ledger.ErrNoChange
		}
		if !fenced {
			b.UpdatedAt = now
		}
		return nil
	})
	if stop != nil {
		return stop
	}
	if err != nil && !errors.Is(err, ledger.ErrNoChange) {
		if ctx.Err() == nil {
			r.p.log().Warn("touch ledger record", "backfill_id", r.id, "request", r.key, "error", err.Error())
		}
		// One lost beat is tolerated; half a lease of them is not.
		return r.current()
	}
	if r.key != "" {
		r.beaten(now)
	}
	return nil
}

// leave removes the request from the record once it returns: every job
// it started has ended. When a rollback began, it records the
// acknowledgement. A request whose context ended may have abandoned calls
// whose jobs still run in BigQuery: it stays, and its entry lapses after
// the lease.
func (r *completionRequest) leave(ctx context.Context) {
	if r.key == "" {
		return
	}
	if ctx.Err() != nil {
		r.p.log().Warn("completion request ended with its context: it stays in the record until its lease lapses", "backfill_id", r.id, "request", r.key)
		return
	}
	now := r.p.now()
	fenced := false
	_, err := r.p.Ledger.Update(ctx, r.id, func(b *ledger.Backfill) error {
		if _, ok := b.Completions[r.key]; !ok {
			return ledger.ErrNoChange
		}
		delete(b.Completions, r.key)
		if !b.RollbackStartedAt.IsZero() {
			fenced = true
			b.CompletionStoppedAt = now
		}
		return nil
	})
	if err != nil && !errors.Is(err, ledger.ErrNoChange) {
		r.p.log().Warn("remove the completion request from the record (its lease lapses instead)", "backfill_id", r.id, "request", r.key, "error", err.Error())
		return
	}
	if fenced {
		r.p.log().Info("completion stopped for the rollback: the jobs it started have ended", "backfill_id", r.id)
	}
}

// beat is how often a request with jobs running refreshes its heartbeat.
func (p *Pipeline) beat() time.Duration { return p.opts().CompletionLease / 4 }

// LiveCompletions counts bf's completion requests whose heartbeat is
// younger than lease at now, and returns the latest heartbeat.
func LiveCompletions(bf *ledger.Backfill, now time.Time, lease time.Duration) (n int, last time.Time) {
	for _, at := range bf.Completions {
		if now.Sub(at) <= lease {
			n++
			if at.After(last) {
				last = at
			}
		}
	}
	return n, last
}

// awaitCompletions waits, before a rollback of bf restores anything, until
// no completion request of bf is alive: each left (its jobs ended) or its
// heartbeat is older than the lease (it died). It returns the record as
// last read, and whether it waited (the swap steps may have changed).
func (p *Pipeline) awaitCompletions(ctx context.Context, bf *ledger.Backfill) (*ledger.Backfill, bool, error) {
	lease := p.opts().CompletionLease
	if lease < 0 {
		return bf, false, nil
	}
	waited := false
	for {
		now := p.now()
		n, last := LiveCompletions(bf, now, lease)
		if n == 0 {
			if waited {
				p.log().Warn("rollback goes on: no completion request of the backfill is at work any more", "backfill_id", bf.ID, "completion_stopped_at", bf.CompletionStoppedAt)
			}
			return bf, waited, nil
		}
		if !waited {
			p.log().Warn("rollback waits for the completion requests at work to stop (their copies run in BigQuery whatever they do): each stops after the jobs it started, or counts as dead once its heartbeat is older than the lease",
				"backfill_id", bf.ID, "requests", n, "last_heartbeat", last, "lease_seconds", lease.Seconds(),
				"gives_up_by", last.Add(lease))
		}
		waited = true
		if err := p.clock().Sleep(ctx, rollbackPoll); err != nil {
			return nil, waited, fmt.Errorf("rollback %s: waiting for the completion in flight: %w", bf.ID, err)
		}
		id := bf.ID
		var err error
		if bf, err = p.Ledger.Get(ctx, id); err != nil {
			return nil, waited, fmt.Errorf("rollback %s: %w", id, err)
		}
	}
}
