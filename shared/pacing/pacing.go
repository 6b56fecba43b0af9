// Package pacing keeps the jobs of a backfill under BigQuery's per-table
// rate of partition modifications (50 per 10 s) without relying on errors,
// and says how long to wait after the errors that still happen.
//
// # Sharing the rate across processes
//
// The tasks of a Cloud Run job execution cannot share memory, and a
// coordination service (a GCS lease, a counter object) would add a write per
// job and a failure mode. Instead the rate is divided in time: the timeline
// is cut into slots of Window/Limit since the Unix epoch, and slot k belongs
// to task k mod Tasks. Every task knows its index and the task count (Cloud
// Run sets CLOUD_RUN_TASK_INDEX and CLOUD_RUN_TASK_COUNT), the clocks of
// Cloud Run instances agree to milliseconds, so the whole backfill starts at
// most one job per slot, that is at most Limit+1 jobs in any Window, with no
// message exchanged. Goroutines of one task share its Pacer. The price: a
// task with nothing left to do wastes its slots, so the tail of a backfill
// runs below the rate. Limit defaults to 45, a tenth below BigQuery's 50,
// which leaves room for a production table's own scheduled writes. A table
// only the backfill writes (its staging table) has no such writes: there
// the limit is OwnLimit, 48, two below BigQuery's 50 so that a job
// admitted a slot or two late does not make 51 in a window.
package pacing

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/bqbackfill/bqbackfill/shared/backoff"
	"github.com/bqbackfill/bqbackfill/shared/clock"
	"github.com/bqbackfill/bqbackfill/shared/warehouse"
)

// BigQuery's limits on a column-partitioned table (spec/gcp-limits.md §1).
const (
	// TableRateLimit is BigQuery's partition-modification operations per
	// TableRateWindow on one partitioned table.
	TableRateLimit  = 50
	TableRateWindow = 10 * time.Second
	// DefaultLimit is the share of TableRateLimit a backfill plans to use
	// on a table others write too (production).
	DefaultLimit = 45
	// DefaultOwnLimit is its share on a table only the backfill writes
	// (staging).
	DefaultOwnLimit = 48
	// DailyPartitionModifications is the partitions load, copy and query jobs
	// may modify per table per day (DML excluded).
	DailyPartitionModifications = 30000
	// JobPartitionLimit is the partitions one query job (or one statement)
	// may modify.
	JobPartitionLimit = 4000
	// TablePartitionLimit is the partitions one table may have.
	TablePartitionLimit = 10000
)

// Budget is one task's share of a table's rate.
type Budget struct {
	Limit int // operations per Window for the whole backfill [DefaultLimit]
	// OwnLimit is Limit on a table only the backfill writes [DefaultOwnLimit].
	OwnLimit int
	Window   time.Duration // [TableRateWindow]
	Tasks    int           // processes sharing the rate [1]
	Task     int           // this process, 0 <= Task < Tasks
}

func (b Budget) withDefaults() (Budget, error) {
	if b.Limit <= 0 {
		b.Limit = DefaultLimit
	}
	if b.OwnLimit <= 0 {
		b.OwnLimit = DefaultOwnLimit
	}
	if b.Window <= 0 {
		b.Window = TableRateWindow
	}
	if b.Tasks <= 0 {
		b.Tasks = 1
	}
	if b.Task < 0 || b.Task >= b.Tasks {
		return b, fmt.Errorf("pacing: task index %d out of range [0, %d)", b.Task, b.Tasks)
	}
	return b, nil
}

// Interval is the width of one slot.
func (b Budget) Interval() time.Duration {
	b, _ = b.withDefaults()
	return b.Window / time.Duration(b.Limit)
}

// MinDuration is the least time n operations on one table take under the
// budget's limit: n slots of Window/Limit.
func MinDuration(n int, b Budget) time.Duration {
	if n <= 0 {
		return 0
	}
	return time.Duration(n) * b.Interval()
}

// Pacer hands out this task's slots for one table. Safe for concurrent use.
type Pacer struct {
	clk      clock.Clock
	interval time.Duration
	tasks    int64
	task     int64
	mu       sync.Mutex
	last     int64 // the last slot handed out; -1 for none
}

// NewPacer returns a pacer for the budget on clk.
func NewPacer(clk clock.Clock, b Budget) (*Pacer, error) {
	b, err := b.withDefaults()
	if err != nil {
		return nil, err
	}
	return &Pacer{clk: clk, interval: b.Interval(), tasks: int64(b.Tasks), task: int64(b.Task), last: -1}, nil
}

// Wait blocks until this task's next free slot begins and returns its
// start: the caller may start one operation on the table.
func (p *Pacer) Wait(ctx context.Context) (time.Time, error) {
	p.mu.Lock()
	now := p.clk.Now().UnixNano()
	k := (now + int64(p.interval) - 1) / int64(p.interval) // first slot not yet begun
	if k <= p.last {
		k = p.last + 1
	}
	if r := k % p.tasks; r != p.task {
		k += (p.task - r + p.tasks) % p.tasks
	}
	p.last = k
	p.mu.Unlock()
	return time.Unix(0, k*int64(p.interval)).UTC(), p.clk.Sleep(ctx, time.Duration(k*int64(p.interval)-now))
}

// Tables paces several tables with one budget each, created on first use.
// Safe for concurrent use.
type Tables struct {
	Clock  clock.Clock
	Budget Budget
	mu     sync.Mutex
	m      map[tableKey]*Pacer
}

type tableKey struct {
	t   warehouse.TableRef
	own bool
}

// Wait blocks until the next slot of table t, which others write too (a
// production table and its scheduled jobs): Budget.Limit per window.
func (ts *Tables) Wait(ctx context.Context, t warehouse.TableRef) error {
	return ts.wait(ctx, tableKey{t: t})
}

// WaitOwn blocks until the next slot of table t, which only this backfill
// writes (its staging table): Budget.OwnLimit per window.
func (ts *Tables) WaitOwn(ctx context.Context, t warehouse.TableRef) error {
	return ts.wait(ctx, tableKey{t: t, own: true})
}

func (ts *Tables) wait(ctx context.Context, k tableKey) error {
	ts.mu.Lock()
	p, ok := ts.m[k]
	if !ok {
		clk := ts.Clock
		if clk == nil {
			clk = clock.Real{}
		}
		b, err := ts.Budget.withDefaults()
		if err == nil && k.own {
			b.Limit = b.OwnLimit
		}
		if err == nil {
			p, err = NewPacer(clk, b)
		}
		if err != nil {
			ts.mu.Unlock()
			return err
		}
		if ts.m == nil {
			ts.m = map[tableKey]*Pacer{}
		}
		ts.m[k] = p
	}
	ts.mu.Unlock()
	_, err := p.Wait(ctx)
	return err
}

// Backoff says how long to wait before retrying a failed warehouse call.
// Short-term rate limits (rateLimitExceeded, code Transient) back off
// exponentially with full jitter, so that the tasks that hit the limit
// together do not retry together. Long-term quotas (quotaExceeded, code
// QuotaExceeded) wait QuotaWait, BigQuery's advice of ten minutes or more,
// plus up to a tenth of jitter; such waits do not count as failed attempts.
type Backoff struct {
	Initial   time.Duration // [1s]
	Max       time.Duration // [60s]
	QuotaWait time.Duration // [warehouse.QuotaRetryAfter]
}

// Wait returns the wait before retry number attempt (1 for the first
// retry) after err, and whether the attempt counts against a retry budget.
// ok is false when err is not worth retrying.
func (b Backoff) Wait(err error, attempt int) (wait time.Duration, counts, ok bool) {
	if b.Initial <= 0 {
		b.Initial = time.Second
	}
	if b.Max <= 0 {
		b.Max = 60 * time.Second
	}
	if b.QuotaWait <= 0 {
		b.QuotaWait = warehouse.QuotaRetryAfter
	}
	switch {
	case warehouse.IsQuotaExceeded(err):
		return b.QuotaWait + rand.N(b.QuotaWait/10+1), false, true
	case warehouse.IsTransient(err):
		return backoff.Policy{Initial: b.Initial, Max: b.Max, Jitter: true}.Delay(attempt), true, true
	}
	return 0, false, false
}

// TaskBudget is the default budget of this process, one of the tasks of a
// Cloud Run job execution: Cloud Run sets CLOUD_RUN_TASK_INDEX and
// CLOUD_RUN_TASK_COUNT on every task. Elsewhere (the completion function,
// the CLI) the process is the only task. lookup is os.LookupEnv.
func TaskBudget(lookup func(string) (string, bool)) (Budget, error) {
	b := Budget{Tasks: 1}
	count, okCount := lookup("CLOUD_RUN_TASK_COUNT")
	index, okIndex := lookup("CLOUD_RUN_TASK_INDEX")
	if !okCount && !okIndex {
		return b, nil
	}
	// Cloud Run sets both: one alone is a misconfigured environment, and
	// taking it for the only task would let every task spend the whole
	// quota.
	if okCount != okIndex {
		set, unset := "CLOUD_RUN_TASK_COUNT", "CLOUD_RUN_TASK_INDEX"
		if okIndex {
			set, unset = unset, set
		}
		return Budget{}, fmt.Errorf("pacing: %s is set but %s is not (Cloud Run sets both on every task)", set, unset)
	}
	var err error
	if b.Tasks, err = strconv.Atoi(count); err != nil || b.Tasks < 1 {
		return Budget{}, fmt.Errorf("pacing: CLOUD_RUN_TASK_COUNT=%q is not a positive number", count)
	}
	if b.Task, err = strconv.Atoi(index); err != nil || b.Task < 0 || b.Task >= b.Tasks {
		return Budget{}, fmt.Errorf("pacing: CLOUD_RUN_TASK_INDEX=%q is not in [0, %d)", index, b.Tasks)
	}
	return b, nil
}
