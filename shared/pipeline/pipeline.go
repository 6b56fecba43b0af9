package pipeline

import (
	"context"
	"io/fs"
	"log/slog"
	"time"

	"github.com/bqbackfill/bqbackfill/shared/backoff"
	"github.com/bqbackfill/bqbackfill/shared/clock"
	"github.com/bqbackfill/bqbackfill/shared/pacing"
	"github.com/bqbackfill/bqbackfill/shared/warehouse"
)

// Launcher starts worker capacity for a backfill: a Cloud Run job execution
// in production, goroutines in local mode. Launch returns an execution name;
// Running reports whether worker capacity is still running (or starting),
// which will pull the partitions' messages.
type Launcher interface {
	Launch(ctx context.Context, backfillID string, partitions int) (string, error)
	Running(ctx context.Context) (bool, error)
}

// Trees reads synced trees (shared/treestore.Trees implements it).
type Trees interface {
	// Open returns the tree stored in object.
	Open(ctx context.Context, object string) (fs.FS, error)
}

// DefaultMaxDeliveries is Options.MaxDeliveries when unset; terraform's
// dead-letter policy on the partitions subscription matches it (terraform/
// checks).
const DefaultMaxDeliveries = 5

// Log messages terraform's log-based metrics and alerts select on
// (terraform/ checks that they are logged, with the fields a metric reads).
const (
	LogPartitionDone     = "partition done"
	LogPartitionFailed   = "partition failed"
	LogBackfillFinished  = "backfill finished processing"
	LogBackfillCompleted = "backfill completed"
)

// Options tune the pipeline; zero values mean the defaults in brackets.
type Options struct {
	// MaxDeliveries is how many times a partition message may be delivered
	// before the partition is marked failed; match the subscription's
	// dead-letter max attempts [5].
	MaxDeliveries int
	// Retry is the in-process retry of transient warehouse errors within one
	// delivery [4 tries, 1s doubling to 30s].
	Retry Retry
	// StagingExpiry and BackupExpiry [30 days].
	StagingExpiry time.Duration
	BackupExpiry  time.Duration
	// StaleAfter is how long a step may show no progress before the scanner
	// redoes it: re-publishing lost partition messages or completion
	// requests, resuming an interrupted start [30 minutes]. Negative: every
	// unfinished step is stale, whatever the clock says (a process starting
	// after a crash; a frozen test clock never makes anything old).
	StaleAfter time.Duration
	// CompletionBudget is how long one completion request may work before
	// it hands the rest of the swap to a new request [5 minutes]. Push
	// requests end at the subscription's ack deadline (at most pushDeadline,
	// 600 s) and are redelivered while still running; a swap of thousands
	// of partitions paced under BigQuery's 50 partition modifications per
	// 10 s needs longer (3,650 partitions: at least 730 s). The budget
	// leaves room for the swap unit that is running when it runs out.
	CompletionBudget time.Duration
	// CompletionLease is how long after its last heartbeat a completion
	// request counts as alive: a rollback waits for the live ones to stop
	// before it restores anything (fence.go) [2 minutes]. Negative: no
	// completion runs in another process (local mode: the stack holds the
	// state directory's lock), so requests do not register and a rollback
	// never waits.
	CompletionLease time.Duration
	// StateCacheTTL is how long a worker trusts a backfill's state it read
	// (a cancellation reaches workers within it) [2s].
	StateCacheTTL time.Duration
}

// Retry is a capped exponential backoff with jitter for transient errors,
// and long waits for quotaExceeded [QuotaWait 10 minutes, QuotaWaits 36:
// six hours, within which BigQuery's daily quotas refill].
type Retry struct {
	Attempts   int
	Initial    time.Duration
	Max        time.Duration
	QuotaWait  time.Duration
	QuotaWaits int
}

func (o Options) withDefaults() Options {
	if o.MaxDeliveries <= 0 {
		o.MaxDeliveries = DefaultMaxDeliveries
	}
	if o.Retry.Attempts <= 0 {
		o.Retry.Attempts = 4
	}
	if o.Retry.Initial <= 0 {
		o.Retry.Initial = time.Second
	}
	if o.Retry.Max <= 0 {
		o.Retry.Max = 30 * time.Second
	}
	if o.Retry.QuotaWait <= 0 {
		o.Retry.QuotaWait = warehouse.QuotaRetryAfter
	}
	if o.Retry.QuotaWaits <= 0 {
		o.Retry.QuotaWaits = 36
	}
	if o.StagingExpiry <= 0 {
		o.StagingExpiry = 30 * 24 * time.Hour
	}
	if o.BackupExpiry <= 0 {
		o.BackupExpiry = 30 * 24 * time.Hour
	}
	if o.CompletionBudget <= 0 {
		o.CompletionBudget = 5 * time.Minute
	}
	if o.CompletionLease == 0 {
		o.CompletionLease = DefaultCompletionLease
	}
	if o.StateCacheTTL <= 0 {
		o.StateCacheTTL = 2 * time.Second
	}
	if o.StaleAfter == 0 {
		o.StaleAfter = 30 * time.Minute
	}
	return o
}

// Pipeline holds the dependencies every step uses. Entry points build one
// with what they have; a step that needs a missing dependency fails clearly.
type Pipeline struct {
	Ledger    Ledger
	Warehouse warehouse.Warehouse
	Publisher Publisher
	Topics    Topics
	Launcher  Launcher
	Trees     Trees
	Scripts   ScriptRunner
	// Checker runs the data checks of Spec.Checks (nil: none run).
	Checker Checker
	Logger  *slog.Logger
	// Cache lets workers reuse a backfill's state for a while (nil: read
	// the ledger for every message).
	Cache *StateCache
	// Pacer spaces the jobs that write one table (nil: no pacing).
	Pacer Pacer
	// Clock sleeps between retries (clock.Real when nil; a virtual clock
	// in benchmarks).
	Clock clock.Clock
	// Now is the clock (time.Now when nil).
	Now     func() time.Time
	Options Options
}

// pushDeadline is the longest a push request (the completion function's)
// may run: Pub/Sub's maximum ack deadline.
const pushDeadline = 600 * time.Second

func (p *Pipeline) now() time.Time {
	if p.Now != nil {
		return p.Now().UTC()
	}
	return time.Now().UTC()
}

func (p *Pipeline) log() *slog.Logger {
	if p.Logger != nil {
		return p.Logger
	}
	return slog.Default()
}

func (p *Pipeline) opts() Options { return p.Options.withDefaults() }

// withRetry runs fn, retrying warehouse errors as pacing.Backoff says:
// transient ones (rateLimitExceeded among them) with jittered exponential
// backoff, up to Retry.Attempts tries; quotaExceeded after a long wait
// (Retry.QuotaWait) that does not count as a try, up to Retry.QuotaWaits
// times, and only when the wait ends before ctx's deadline (a push
// request's deadline, say: the error is returned and the request retried
// later instead).
//
// This is the one retry layer of the scanner's and the completion's calls
// (the warehouse driver does not retry; docs/ARCHITECTURE.md, "Retries").
func (p *Pipeline) withRetry(ctx context.Context, fn func() error) error {
	return p.retry(ctx, p.opts().Retry.Attempts, fn)
}

// retry is withRetry with at most attempts tries of transient errors
// (quotaExceeded waits do not count). It runs on shared/backoff, with the
// pipeline's clock for the waits and for the deadline.
func (p *Pipeline) retry(ctx context.Context, attempts int, fn func() error) error {
	r := p.opts().Retry
	b := pacing.Backoff{Initial: r.Initial, Max: r.Max, QuotaWait: r.QuotaWait}
	policy := backoff.Policy{
		Attempts: attempts, Initial: r.Initial, Max: r.Max, Jitter: true,
		FreeRetries: r.QuotaWaits, FitDeadline: true, Unwrapped: true, Clock: p.clock(),
	}
	return policy.Run(ctx, func(err error) backoff.Verdict {
		wait, counts, ok := b.Wait(err, 1)
		switch {
		case !ok:
			return backoff.Verdict{}
		case counts:
			// The policy's own delay: pacing.Backoff's, with the same
			// Initial, Max and jitter, for the try it has reached.
			return backoff.Verdict{Retry: true}
		}
		return backoff.Verdict{Retry: true, Wait: wait, Free: true}
	}, func(context.Context) error { return fn() })
}

func (p *Pipeline) clock() clock.Clock {
	if p.Clock != nil {
		return p.Clock
	}
	return clock.Real{}
}
