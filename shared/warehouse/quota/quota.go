// Package quota is a model of BigQuery's quotas around any
// warehouse.Warehouse, for tests and benchmarks: it delays every job by a
// latency drawn from a distribution and refuses, with BigQuery's own error
// reasons and messages, the jobs that break a limit (spec/gcp-limits.md
// §1). On a clock.Virtual, a backfill of thousands of partitions that
// takes BigQuery an hour is simulated in seconds.
//
// Modelled limits, per destination table:
//
//   - the rate of table operations: 50 per 10 s on a partitioned table, 5
//     per 10 s on a standard one. A job, a DML statement, a table creation
//     or deletion is one operation, whatever the partitions it touches (the
//     quota page words it "partition operations"; a transaction of 3,650
//     partitions is two statements, not 3,650 operations). Exceeding it:
//     rateLimitExceeded, "Exceeded rate limits: too many partitioned table
//     update operations for this table".
//   - partition modifications per day: 30,000 on a partitioned table, one
//     per partition a load, copy or query job writes; DML is excluded; 1,500
//     jobs per day on a standard table. The day is the last 24 hours (the
//     quota refills continuously). Exceeding it: quotaExceeded.
//   - partitions per job or statement: 4,000 (invalid).
//
// and per project: Concurrency query jobs run at once; more wait in a
// queue of QueueSize, beyond which quotaExceeded. Copy jobs do not queue.
//
// A job is admitted when it starts: the operation is counted against the
// rate then, and a job refused for a rate or quota fails at once, before
// running (the Go client sees these at job insertion). Refused jobs are not
// counted. The inner warehouse runs the job after its latency has passed on
// the clock, so a reader sees its effect when the job finishes.
package quota

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/bqbackfill/bqbackfill/shared/clock"
	"github.com/bqbackfill/bqbackfill/shared/warehouse"
)

// Limits are the modelled quotas; DefaultLimits are BigQuery's.
type Limits struct {
	PartitionedRate int // operations per RateWindow on a partitioned table [50]
	StandardRate    int // operations per RateWindow on a standard table [5]
	RateWindow      time.Duration
	DailyPartitions int // partition modifications per table per 24 h [30,000]
	DailyStandard   int // jobs writing a standard table per 24 h [1,500]
	JobPartitions   int // partitions per job or statement [4,000]
	Concurrency     int // query jobs running at once per project [100]
	QueueSize       int // query jobs waiting per project [1,000]
}

// DefaultLimits returns BigQuery's limits. Concurrency is dynamic on
// BigQuery (no fixed number any more); 100 is the old fixed limit and a
// fair on-demand figure.
func DefaultLimits() Limits {
	return Limits{
		PartitionedRate: 50, StandardRate: 5, RateWindow: 10 * time.Second,
		DailyPartitions: 30000, DailyStandard: 1500, JobPartitions: 4000,
		Concurrency: 100, QueueSize: 1000,
	}
}

// Dist is a log-normal job duration: Median × e^(Sigma·N(0,1)), at least
// Min, plus PerPartition for each partition the job writes.
type Dist struct {
	Median       time.Duration
	Sigma        float64
	Min          time.Duration
	PerPartition time.Duration
}

// Latency holds the durations of each kind of job.
type Latency struct {
	Query, Copy, Transaction, Metadata, Read Dist
}

// DefaultLatency is a plausible on-demand profile: partition queries of
// about 20 s, copies of about 3 s, a transaction of 10 s plus 20 ms per
// partition, metadata calls of 0.5 s.
func DefaultLatency() Latency {
	return Latency{
		Query:       Dist{Median: 20 * time.Second, Sigma: 0.5, Min: 2 * time.Second},
		Copy:        Dist{Median: 3 * time.Second, Sigma: 0.4, Min: time.Second},
		Transaction: Dist{Median: 10 * time.Second, Sigma: 0.3, Min: 3 * time.Second, PerPartition: 20 * time.Millisecond},
		Metadata:    Dist{Median: 500 * time.Millisecond, Sigma: 0.3, Min: 100 * time.Millisecond},
		Read:        Dist{Median: 2 * time.Second, Sigma: 0.4, Min: 500 * time.Millisecond},
	}
}

// Mean is the expected duration of a job of n partitions.
func (d Dist) Mean(n int) time.Duration {
	m := time.Duration(float64(d.Median) * math.Exp(d.Sigma*d.Sigma/2))
	return max(m, d.Min) + time.Duration(n)*d.PerPartition
}

// Stats count what the model saw.
type Stats struct {
	Jobs          int // jobs admitted (queries, copies, clones, transactions)
	RateLimited   int // refused with rateLimitExceeded
	QuotaExceeded int // refused with quotaExceeded
	Invalid       int // refused for too many partitions
	MaxQueued     int // most query jobs waiting at once
	// MaxOpsInWindow is the most operations any one table took within a
	// RateWindow.
	MaxOpsInWindow int
}

// APIError is the error BigQuery would return: HTTP status, reason and
// message. It is wrapped in a *warehouse.Error carrying its code.
type APIError struct {
	Status   int
	Reason   string
	Location string
	Message  string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("googleapi: Error %d: %s, %s", e.Status, e.Message, e.Reason)
}

// holder is a clock that can be kept from jumping (clock.Virtual).
type holder interface{ Hold() (release func()) }

// blocker lets go of a caller's hold on the clock while it waits
// (clock.Virtual.Blocked).
type blocker interface {
	Blocked(ctx context.Context) (resume func())
}

// hold keeps a virtual clock still while the model does real work, so
// that the work takes no virtual time; a no-op on other clocks.
func (m *Model) hold() func() {
	if h, ok := m.clk.(holder); ok {
		return h.Hold()
	}
	return func() {}
}

// do runs one admitted job: admit (the clock held, so that the checks
// take no virtual time), the job's latency on the clock, then the inner
// call (held again: the job's effect lands at the end of its latency).
func (m *Model) do(ctx context.Context, d Dist, n int, isJob bool, admit, inner func() error) error {
	release := m.hold()
	err := admit()
	release()
	if err != nil {
		return err
	}
	if isJob {
		m.job()
	}
	if err := m.clk.Sleep(ctx, m.draw(d, n)); err != nil {
		return err
	}
	defer m.hold()()
	return inner()
}

// replacer is the atomic promotion a wrapped warehouse may offer.
type replacer interface {
	ReplacePartitions(ctx context.Context, job warehouse.ReplaceJob) (warehouse.JobResult, error)
}

// Model wraps a warehouse with BigQuery's quotas. Safe for concurrent use.
type Model struct {
	inner warehouse.Warehouse
	clk   clock.Clock
	lim   Limits
	lat   Latency

	sem chan struct{} // running query jobs

	mu          sync.Mutex
	rnd         *rand.Rand
	tables      map[warehouse.TableRef]*tableUse
	partitioned map[warehouse.TableRef]bool
	queued      int
	stats       Stats
}

type tableUse struct {
	ops   []time.Time // operations within the last RateWindow
	daily []dayMark   // modifications within the last 24 h
}

type dayMark struct {
	at time.Time
	n  int
}

// New wraps inner. seed makes the latencies reproducible.
func New(inner warehouse.Warehouse, clk clock.Clock, lim Limits, lat Latency, seed uint64) *Model {
	return &Model{
		inner: inner, clk: clk, lim: lim, lat: lat,
		sem:         make(chan struct{}, max(lim.Concurrency, 1)),
		rnd:         rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		tables:      map[warehouse.TableRef]*tableUse{},
		partitioned: map[warehouse.TableRef]bool{},
	}
}

// Stats returns the counts so far.
func (m *Model) Stats() Stats {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.stats
}

func (m *Model) draw(d Dist, n int) time.Duration {
	m.mu.Lock()
	z := m.rnd.NormFloat64()
	m.mu.Unlock()
	v := time.Duration(float64(d.Median) * math.Exp(d.Sigma*z))
	return max(v, d.Min) + time.Duration(n)*d.PerPartition
}

func rateLimited(op string, partitioned bool) error {
	msg := warehouse.MsgTableRate
	if partitioned {
		msg = warehouse.MsgPartitionedTableRate
	}
	return &warehouse.Error{Code: warehouse.Transient, Op: op, Err: &APIError{Status: 403, Reason: "rateLimitExceeded", Message: msg}}
}

func dailyExceeded(op string, partitioned bool) error {
	msg, loc := warehouse.MsgTableWritesPerDay, "load_job_per_table.long"
	if partitioned {
		msg, loc = warehouse.MsgPartitionModificationsPerDay, "partition_modifications_per_column_partitioned_table.long"
	}
	return &warehouse.Error{Code: warehouse.QuotaExceeded, Op: op, Err: &APIError{Status: 403, Reason: "quotaExceeded", Location: loc, Message: msg}}
}

func queueFull(op string) error {
	return &warehouse.Error{Code: warehouse.QuotaExceeded, Op: op, Err: &APIError{
		Status: 403, Reason: "quotaExceeded",
		Message: "Quota exceeded: Your project and region exceeded quota for max number of jobs that can be queued per project.",
	}}
}

func (m *Model) tooManyPartitions(op string, n int) error {
	m.mu.Lock()
	m.stats.Invalid++
	m.mu.Unlock()
	return &warehouse.Error{Code: warehouse.InvalidArgument, Op: op, Err: &APIError{
		Status: 400, Reason: "invalid",
		Message: fmt.Sprintf("Too many partitions produced by query, allowed %d, query produces at least %d partitions", m.lim.JobPartitions, n),
	}}
}

// isPartitioned reads (once) whether t is partitioned; a missing table is
// standard (a job creating it writes a standard table).
func (m *Model) isPartitioned(ctx context.Context, t warehouse.TableRef) bool {
	m.mu.Lock()
	p, ok := m.partitioned[t]
	m.mu.Unlock()
	if ok {
		return p
	}
	md, err := m.inner.Table(ctx, t)
	if err != nil {
		return false
	}
	p = md.PartitionType != warehouse.Unpartitioned
	m.mu.Lock()
	m.partitioned[t] = p
	m.mu.Unlock()
	return p
}

// admit counts ops operations and parts daily modifications on t now, or
// refuses them.
func (m *Model) admit(ctx context.Context, op string, t warehouse.TableRef, ops, parts int) error {
	part := m.isPartitioned(ctx, t)
	rate, daily := m.lim.StandardRate, m.lim.DailyStandard
	if part {
		rate, daily = m.lim.PartitionedRate, m.lim.DailyPartitions
	}
	now := m.clk.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	u := m.tables[t]
	if u == nil {
		u = &tableUse{}
		m.tables[t] = u
	}
	cut := now.Add(-m.lim.RateWindow)
	i := 0
	for i < len(u.ops) && !u.ops[i].After(cut) {
		i++
	}
	u.ops = u.ops[i:]
	if len(u.ops)+ops > rate {
		m.stats.RateLimited++
		return rateLimited(op+" "+t.String(), part)
	}
	dayCut := now.Add(-24 * time.Hour)
	j, used := 0, 0
	for j < len(u.daily) && !u.daily[j].at.After(dayCut) {
		j++
	}
	u.daily = u.daily[j:]
	for _, d := range u.daily {
		used += d.n
	}
	if parts > 0 && used+parts > daily {
		m.stats.QuotaExceeded++
		return dailyExceeded(op+" "+t.String(), part)
	}
	for range ops {
		u.ops = append(u.ops, now)
	}
	if parts > 0 {
		u.daily = append(u.daily, dayMark{at: now, n: parts})
	}
	m.stats.MaxOpsInWindow = max(m.stats.MaxOpsInWindow, len(u.ops))
	return nil
}

// queue waits for a query slot; quotaExceeded when the queue is full.
func (m *Model) queue(ctx context.Context, op string) (func(), error) {
	select {
	case m.sem <- struct{}{}:
		return func() { <-m.sem }, nil
	default:
	}
	m.mu.Lock()
	if m.queued >= m.lim.QueueSize {
		m.stats.QuotaExceeded++
		m.mu.Unlock()
		return nil, queueFull(op)
	}
	m.queued++
	m.stats.MaxQueued = max(m.stats.MaxQueued, m.queued)
	m.mu.Unlock()
	defer func() {
		m.mu.Lock()
		m.queued--
		m.mu.Unlock()
	}()
	// A slot frees when a running job's latency has passed: the caller's
	// hold on the clock, if any, must not stop it.
	if b, ok := m.clk.(blocker); ok {
		defer b.Blocked(ctx)()
	}
	select {
	case m.sem <- struct{}{}:
		return func() { <-m.sem }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (m *Model) job() {
	m.mu.Lock()
	m.stats.Jobs++
	m.mu.Unlock()
}

// Query models a query job: it queues for a slot, is admitted against its
// destination's quotas, runs for a query latency. Dry runs pass through.
func (m *Model) Query(ctx context.Context, job warehouse.QueryJob) (res warehouse.JobResult, err error) {
	if job.DryRun {
		return m.inner.Query(ctx, job)
	}
	release, err := m.queue(ctx, "query")
	if err != nil {
		return res, err
	}
	defer release()
	err = m.do(ctx, m.lat.Query, 0, true, func() error {
		if job.Destination == nil {
			return nil
		}
		return m.admit(ctx, "query", *job.Destination, 1, 1)
	}, func() error {
		res, err = m.inner.Query(ctx, job)
		return err
	})
	return res, err
}

// Read models a read-only query job.
func (m *Model) Read(ctx context.Context, job warehouse.QueryJob) (rows *warehouse.Rows, err error) {
	release, err := m.queue(ctx, "read")
	if err != nil {
		return nil, err
	}
	defer release()
	err = m.do(ctx, m.lat.Read, 0, false, func() error { return nil }, func() error {
		rows, err = m.inner.Read(ctx, job)
		return err
	})
	return rows, err
}

// Copy models a copy job: free, no queue; one operation on the
// destination and one daily modification per partition written.
func (m *Model) Copy(ctx context.Context, job warehouse.CopyJob) (res warehouse.JobResult, err error) {
	err = m.do(ctx, m.lat.Copy, 0, true, func() error {
		parts := 1
		if job.SourcePartition == "" && m.isPartitioned(ctx, job.Source) {
			ps, err := m.inner.Partitions(ctx, job.Source)
			if err != nil {
				return err
			}
			parts = max(len(ps), 1)
			if parts > m.lim.JobPartitions {
				return m.tooManyPartitions("copy", parts)
			}
		}
		return m.admit(ctx, "copy", job.Dest, 1, parts)
	}, func() error {
		res, err = m.inner.Copy(ctx, job)
		return err
	})
	return res, err
}

// ReplacePartitions models a multi-statement transaction: a DELETE and an
// INSERT statement, two operations on the destination, no daily
// modifications (DML is excluded), at most JobPartitions partitions.
func (m *Model) ReplacePartitions(ctx context.Context, job warehouse.ReplaceJob) (res warehouse.JobResult, err error) {
	r, ok := m.inner.(replacer)
	if !ok {
		return res, warehouse.Errorf(warehouse.InvalidArgument, "replace partitions", "the wrapped warehouse has no transactions")
	}
	if len(job.Partitions) > m.lim.JobPartitions {
		return res, m.tooManyPartitions("replace partitions", len(job.Partitions))
	}
	release, err := m.queue(ctx, "replace partitions")
	if err != nil {
		return res, err
	}
	defer release()
	err = m.do(ctx, m.lat.Transaction, len(job.Partitions), true, func() error {
		return m.admit(ctx, "replace partitions", job.Dest, 2, 0)
	}, func() error {
		res, err = r.ReplacePartitions(ctx, job)
		return err
	})
	return res, err
}

// DeletePartitions models a DML statement: one operation on the table,
// no daily modifications (DML is excluded), at most JobPartitions
// partitions.
func (m *Model) DeletePartitions(ctx context.Context, job warehouse.DeleteJob) (res warehouse.JobResult, err error) {
	if len(job.Partitions) > m.lim.JobPartitions {
		return res, m.tooManyPartitions("delete partitions", len(job.Partitions))
	}
	release, err := m.queue(ctx, "delete partitions")
	if err != nil {
		return res, err
	}
	defer release()
	err = m.do(ctx, m.lat.Transaction, len(job.Partitions), true, func() error {
		return m.admit(ctx, "delete partitions", job.Table, 1, 0)
	}, func() error {
		res, err = m.inner.DeletePartitions(ctx, job)
		return err
	})
	return res, err
}

// Backup models a clone: a copy job into a new table.
func (m *Model) Backup(ctx context.Context, src, dst warehouse.TableRef, exp time.Time, labels map[string]string) (res warehouse.JobResult, err error) {
	err = m.do(ctx, m.lat.Copy, 0, true, func() error { return nil }, func() error {
		res, err = m.inner.Backup(ctx, src, dst, exp, labels)
		return err
	})
	return res, err
}

// metadata models a table creation or deletion: one operation on t.
func (m *Model) metadata(ctx context.Context, op string, t warehouse.TableRef, inner func() error) error {
	return m.do(ctx, m.lat.Metadata, 0, false, func() error { return m.admit(ctx, op, t, 1, 0) }, inner)
}

// CreateTable is a metadata operation on md.Ref.
func (m *Model) CreateTable(ctx context.Context, md warehouse.TableMetadata) error {
	return m.metadata(ctx, "create table", md.Ref, func() error { return m.inner.CreateTable(ctx, md) })
}

// CreateTableLike is a metadata operation on dst.
func (m *Model) CreateTableLike(ctx context.Context, src, dst warehouse.TableRef, opts warehouse.CreateLikeOptions) error {
	return m.metadata(ctx, "create table", dst, func() error { return m.inner.CreateTableLike(ctx, src, dst, opts) })
}

// Delete is a metadata operation on ref.
func (m *Model) Delete(ctx context.Context, ref warehouse.TableRef) error {
	return m.metadata(ctx, "delete", ref, func() error {
		m.mu.Lock()
		delete(m.partitioned, ref)
		m.mu.Unlock()
		return m.inner.Delete(ctx, ref)
	})
}

// Table, Partitions, EnsureDataset and the IAM calls are API calls outside
// the modelled quotas.
func (m *Model) Table(ctx context.Context, ref warehouse.TableRef) (*warehouse.TableMetadata, error) {
	return m.inner.Table(ctx, ref)
}

// Partitions passes through.
func (m *Model) Partitions(ctx context.Context, ref warehouse.TableRef) ([]warehouse.Partition, error) {
	return m.inner.Partitions(ctx, ref)
}

// EnsureDataset passes through.
func (m *Model) EnsureDataset(ctx context.Context, project, dataset string, exp time.Duration) error {
	return m.inner.EnsureDataset(ctx, project, dataset, exp)
}

// TableIAM passes through.
func (m *Model) TableIAM(ctx context.Context, ref warehouse.TableRef) (warehouse.Policy, error) {
	return m.inner.TableIAM(ctx, ref)
}

// SetTableIAM passes through.
func (m *Model) SetTableIAM(ctx context.Context, ref warehouse.TableRef, p warehouse.Policy) error {
	return m.inner.SetTableIAM(ctx, ref, p)
}

// DatasetAccess passes through.
func (m *Model) DatasetAccess(ctx context.Context, project, dataset string) ([]warehouse.AccessEntry, error) {
	return m.inner.DatasetAccess(ctx, project, dataset)
}
