package pipeline_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"cloud.google.com/go/civil"

	"github.com/bqbackfill/bqbackfill/shared/ledger"
	"github.com/bqbackfill/bqbackfill/shared/warehouse"
)

// stepClock is a clock that moves only when the test advances it: a
// sleeper waits until then, so no lease lapses unless the test says so.
type stepClock struct {
	mu       sync.Mutex
	now      time.Time
	sleepers []stepSleeper
	slept    chan struct{} // a value per Sleep call
}

type stepSleeper struct {
	at time.Time
	ch chan struct{}
}

func newStepClock(start time.Time) *stepClock {
	return &stepClock{now: start, slept: make(chan struct{}, 1024)}
}

func (c *stepClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *stepClock) Sleep(ctx context.Context, d time.Duration) error {
	ch := make(chan struct{})
	c.mu.Lock()
	c.sleepers = append(c.sleepers, stepSleeper{at: c.now.Add(d), ch: ch})
	c.mu.Unlock()
	c.slept <- struct{}{}
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		c.mu.Lock()
		defer c.mu.Unlock()
		for i, s := range c.sleepers {
			if s.ch == ch {
				c.sleepers = slices.Delete(c.sleepers, i, i+1)
				break
			}
		}
		return ctx.Err()
	}
}

// advance moves the clock by d and wakes the sleepers due.
func (c *stepClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	kept := c.sleepers[:0]
	for _, s := range c.sleepers {
		if s.at.After(c.now) {
			kept = append(kept, s)
			continue
		}
		close(s.ch)
	}
	c.sleepers = kept
}

// onLog calls fn for every log record whose message starts with prefix.
type onLog struct {
	prefix string
	fn     func()
}

func (h onLog) Enabled(context.Context, slog.Level) bool { return true }
func (h onLog) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h onLog) WithGroup(string) slog.Handler            { return h }
func (h onLog) Handle(_ context.Context, r slog.Record) error {
	if strings.HasPrefix(r.Message, h.prefix) {
		h.fn()
	}
	return nil
}

// blockedJob holds the swap job that writes one partition (a copy, or the
// transaction that replaces it) until released, as BigQuery running a long
// job, and records the rollback's jobs that reach production before that
// job landed. A rollback job of the held partition releases it after it
// ran, so that, on a rollback that does not wait, the swap job lands over
// the restored partition.
type blockedJob struct {
	warehouse.Warehouse
	partition string
	entered   chan struct{} // closed when the held job started
	release   chan struct{} // closed to let it land
	landed    chan struct{} // closed when it landed
	once      sync.Once

	mu    sync.Mutex
	early []string // partitions the rollback wrote before the held job landed
}

func newBlockedJob(inner warehouse.Warehouse, partition string) *blockedJob {
	return &blockedJob{Warehouse: inner, partition: partition, entered: make(chan struct{}), release: make(chan struct{}), landed: make(chan struct{})}
}

func (w *blockedJob) let() { w.once.Do(func() { close(w.release) }) }

// job runs one job of source into production: a swap job of the held
// partition waits for the release; a rollback job is checked against it.
func (w *blockedJob) job(ctx context.Context, src warehouse.TableRef, parts []string, run func() (warehouse.JobResult, error)) (warehouse.JobResult, error) {
	switch {
	case src == backup:
		select {
		case <-w.landed:
		default:
			w.mu.Lock()
			w.early = append(w.early, parts...)
			w.mu.Unlock()
		}
		res, err := run()
		if slices.Contains(parts, w.partition) {
			w.let()
		}
		return res, err
	case src == staging && slices.Contains(parts, w.partition):
		close(w.entered)
		select {
		case <-w.release:
		case <-ctx.Done():
			return warehouse.JobResult{}, ctx.Err()
		}
		res, err := run()
		close(w.landed)
		return res, err
	}
	return run()
}

func (w *blockedJob) Copy(ctx context.Context, job warehouse.CopyJob) (warehouse.JobResult, error) {
	return w.job(ctx, job.Source, []string{job.DestPartition}, func() (warehouse.JobResult, error) { return w.Warehouse.Copy(ctx, job) })
}

func (w *blockedJob) ReplacePartitions(ctx context.Context, job warehouse.ReplaceJob) (warehouse.JobResult, error) {
	return w.job(ctx, job.Source, job.Partitions, func() (warehouse.JobResult, error) {
		return w.Warehouse.(interface {
			ReplacePartitions(context.Context, warehouse.ReplaceJob) (warehouse.JobResult, error)
		}).ReplacePartitions(ctx, job)
	})
}

// TestRollbackWaitsForJobInFlight: an operator rolls back while a
// completion request has a swap job of chunk K running (a copy; a
// transaction in atomic promotion). The rollback fences the completion,
// then restores nothing while the request's heartbeat is fresh, for
// longer than the lease (the request beats while its job runs); once the
// job landed the request starts nothing more, records that it stopped and
// leaves, and the rollback restores at its next look, without waiting out
// the lease. Production ends equal to the backup in every restored
// partition, chunk K's included.
func TestRollbackWaitsForJobInFlight(t *testing.T) {
	for _, tc := range []struct {
		name   string
		atomic bool
		held   int // index of the held partition
	}{
		{"copy", false, 60}, // chunk 1 of 3
		{"atomic", true, 60},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newContractEnv(t)
			tr := dayRange("Initiate", "2023-01-01", "2023-05-30")
			if tc.atomic {
				tr["bqbackfill.yaml"] = &fstest.MapFile{Data: []byte("promotion:\n  default: atomic\n")}
			}
			days := startCompleting(t, e, tr, civil.Date{Year: 2023, Month: 1, Day: 1}, 150)
			for _, d := range days {
				if err := e.fake.SetPartitionRows(table, d, 2); err != nil {
					t.Fatal(err)
				}
			}
			clk := newStepClock(now)
			e.p.Clock, e.p.Now = clk, clk.Now
			waits := make(chan struct{})
			var waitsOnce sync.Once
			e.p.Logger = slog.New(onLog{prefix: "rollback waits", fn: func() { waitsOnce.Do(func() { close(waits) }) }})
			wh := newBlockedJob(e.p.Warehouse, days[tc.held])
			e.p.Warehouse = wh

			completed := make(chan error, 1)
			go func() { completed <- e.p.Complete(e.ctx, contractID) }()
			<-wh.entered
			type result struct {
				n   int
				err error
			}
			rolled := make(chan result, 1)
			go func() {
				_, n, err := e.p.Rollback(e.ctx, table)
				wh.let() // a rollback that did not wait ends the test, not hangs it
				rolled <- result{n, err}
			}()
			var res result
			select {
			case <-waits:
				// The job runs 5 minutes: its request keeps beating, and
				// the rollback keeps waiting.
				for range 10 {
					// The request's beat and the rollback's look both
					// wait for the clock.
					for clk.pending() < 2 {
						<-clk.slept
					}
					clk.advance(30 * time.Second)
					waitBeat(t, e, clk.Now())
					select {
					case res = <-rolled:
						t.Fatalf("the rollback ended (%d, %v) while the completion's job ran, its heartbeat fresh", res.n, res.err)
					default:
					}
				}
				wh.let()
				if err := <-completed; err != nil {
					t.Fatalf("completion: %v", err)
				}
				if bf := e.record(t); bf.CompletionStoppedAt.IsZero() || len(bf.Completions) != 0 {
					t.Fatalf("after the completion stopped: stopped at %v, requests %v; want its acknowledgement and no request", bf.CompletionStoppedAt, bf.Completions)
				}
				// One look more, well inside the lease, and it restores.
				res = advanceUntil(t, clk, rolled)
			case res = <-rolled:
				if err := <-completed; err != nil {
					t.Fatalf("completion: %v", err)
				}
			}
			if res.err != nil {
				t.Fatalf("rollback: %v", res.err)
			}
			if len(wh.early) > 0 {
				t.Errorf("the rollback wrote %d partition(s) of production (%s...) before the completion's job of %s landed", len(wh.early), wh.early[0], days[tc.held])
			}
			prod, bk := e.fake.PartitionRows(table), e.fake.PartitionRows(backup)
			var differ []string
			for _, d := range days {
				if prod[d] != bk[d] {
					differ = append(differ, fmt.Sprintf("%s (%d rows, backup %d)", d, prod[d], bk[d]))
				}
			}
			if len(differ) > 0 {
				t.Errorf("production differs from the backup after the rollback in %d partition(s): %s", len(differ), strings.Join(differ, ", "))
			}
			if bf := e.record(t); bf.State != ledger.StateRolledBack {
				t.Errorf("after the rollback: %s, want rolled_back", bf.State)
			}
		})
	}
}

// waitBeat waits until the completion request in the record beat at at.
func waitBeat(t *testing.T, e *contractEnv, at time.Time) {
	t.Helper()
	for range 10000 {
		bf := e.record(t)
		for _, b := range bf.Completions {
			if !b.Before(at) {
				return
			}
		}
	}
	t.Fatalf("no completion request beat at %v", at)
}

// pending counts the sleepers.
func (c *stepClock) pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.sleepers)
}

// advanceUntil advances clk by the rollback's look interval whenever a
// sleeper waits, until the rollback ends; it fails if that takes the
// lease.
func advanceUntil[T any](t *testing.T, clk *stepClock, done <-chan T) T {
	t.Helper()
	start := clk.Now()
	for {
		if clk.pending() > 0 {
			if clk.Now().Sub(start) >= 2*time.Minute {
				t.Fatal("the rollback waited out the lease of a completion that had stopped")
			}
			clk.advance(5 * time.Second)
		}
		select {
		case v := <-done:
			return v
		case <-clk.slept:
		}
	}
}

// crashedCopy fails the copy of one partition, as an instance that dies.
type crashedCopy struct {
	warehouse.Warehouse
	partition string
}

func (w *crashedCopy) Copy(ctx context.Context, job warehouse.CopyJob) (warehouse.JobResult, error) {
	if job.DestPartition == w.partition {
		return warehouse.JobResult{}, errCrash
	}
	return w.Warehouse.Copy(ctx, job)
}

// crashedInSecondChunk is a 150-partition backfill whose completion
// request died in its second chunk, on a step clock, with the lease
// given (0: the default).
func crashedInSecondChunk(t *testing.T, lease time.Duration) (*contractEnv, *stepClock) {
	t.Helper()
	e := newContractEnv(t)
	days := startCompleting(t, e, dayRange("Initiate", "2023-01-01", "2023-05-30"), civil.Date{Year: 2023, Month: 1, Day: 1}, 150)
	clk := newStepClock(now)
	e.p.Clock, e.p.Now = clk, clk.Now
	e.p.Options.CompletionLease = lease
	wh := e.p.Warehouse
	e.p.Warehouse = &crashedCopy{Warehouse: wh, partition: days[60]}
	if err := e.p.Complete(e.ctx, contractID); !errors.Is(err, errCrash) {
		t.Fatalf("completion: %v, want the crash", err)
	}
	e.p.Warehouse = wh
	for len(clk.slept) > 0 {
		<-clk.slept // the heartbeat's, while the copies ran
	}
	return e, clk
}

// TestRollbackDoesNotWaitForDeadCompletion: a completion request whose
// heartbeat is older than the lease died; in local mode (a negative lease)
// no completion runs elsewhere at all: either way the rollback restores at
// once, without a single wait.
func TestRollbackDoesNotWaitForDeadCompletion(t *testing.T) {
	for _, tc := range []struct {
		name  string
		age   time.Duration // of the request's heartbeat
		lease time.Duration
	}{
		{"heartbeat older than the lease", 3 * time.Minute, 0},
		{"local mode, fresh heartbeat", time.Second, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, clk := crashedInSecondChunk(t, tc.lease)
			if _, err := e.led.Update(e.ctx, contractID, func(b *ledger.Backfill) error {
				b.Completions = map[string]time.Time{"dead": now.Add(-tc.age)}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			// The step clock never moves here, so a rollback that waited
			// would wait forever: its first sleep fails the test.
			ctx, cancel := context.WithCancel(e.ctx)
			defer cancel()
			type result struct {
				n   int
				err error
			}
			rolled := make(chan result, 1)
			go func() {
				_, n, err := e.p.Rollback(ctx, table)
				rolled <- result{n, err}
			}()
			select {
			case r := <-rolled:
				if r.err != nil || r.n == 0 {
					t.Fatalf("Rollback = %d, %v", r.n, r.err)
				}
			case <-clk.slept:
				cancel()
				<-rolled
				t.Fatal("the rollback waited for a completion that is not at work")
			}
			if bf := e.record(t); bf.State != ledger.StateRolledBack {
				t.Errorf("after the rollback: %s, want rolled_back", bf.State)
			}
		})
	}
}

// TestCompletionAfterFenceTouchesNothing: a completion request that
// arrives after the rollback's fence registers nothing and runs no job.
func TestCompletionAfterFenceTouchesNothing(t *testing.T) {
	e := newContractEnv(t)
	startCompleting(t, e, dayRange("Initiate", "2023-01-01", "2023-02-19"), civil.Date{Year: 2023, Month: 1, Day: 1}, 50)
	if _, err := e.led.Update(e.ctx, contractID, func(b *ledger.Backfill) error {
		b.RollbackStartedAt = now
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	e.fake.ResetRequests()
	if err := e.p.Complete(e.ctx, contractID); err != nil {
		t.Fatal(err)
	}
	if jobs := e.insertedJobs(t); len(jobs) != 0 {
		t.Errorf("a fenced completion ran %d job(s)", len(jobs))
	}
	if bf := e.record(t); len(bf.Completions) != 0 {
		t.Errorf("a fenced completion registered: %v", bf.Completions)
	}
}

// slowBackup holds the backup until released, as a clone BigQuery runs
// for minutes.
type slowBackup struct {
	warehouse.Warehouse
	entered, release chan struct{}
}

func (w *slowBackup) Backup(ctx context.Context, src, dst warehouse.TableRef, exp time.Time, labels map[string]string) (warehouse.JobResult, error) {
	close(w.entered)
	select {
	case <-w.release:
	case <-ctx.Done():
		return warehouse.JobResult{}, ctx.Err()
	}
	return w.Warehouse.Backup(ctx, src, dst, exp, labels)
}

// completeDuringBackup runs a completion of contractID on a step clock
// and returns once it is inside its backup, which waits until wh.release
// is closed; completed gets the completion's result.
func completeDuringBackup(e *contractEnv) (clk *stepClock, wh *slowBackup, completed <-chan error) {
	clk = newStepClock(now)
	e.p.Clock, e.p.Now = clk, clk.Now
	wh = &slowBackup{Warehouse: e.p.Warehouse, entered: make(chan struct{}), release: make(chan struct{})}
	e.p.Warehouse = wh
	done := make(chan error, 1)
	go func() { done <- e.p.Complete(e.ctx, contractID) }()
	<-wh.entered
	return clk, wh, done
}

// TestFenceAfterLongBackup: a completion request beats only while its
// swap jobs run, so a backup outlasting the lease lets a rollback take it
// for dead and finish (nothing was swapped); the request then checks the
// fence before its first unit and stops, its acknowledgement recorded,
// with production untouched.
func TestFenceAfterLongBackup(t *testing.T) {
	e := newContractEnv(t)
	days := startCompleting(t, e, dayRange("Initiate", "2023-01-01", "2023-02-19"), civil.Date{Year: 2023, Month: 1, Day: 1}, 50)
	clk, wh, completed := completeDuringBackup(e)
	rolled := make(chan error, 1)
	go func() {
		_, _, err := e.p.Rollback(e.ctx, table)
		rolled <- err
	}()
	// The rollback waits for the lease, then finds nothing to restore.
	for done := false; !done; {
		select {
		case err := <-rolled:
			if err != nil {
				t.Fatalf("rollback: %v", err)
			}
			done = true
		case <-clk.slept:
			if clk.pending() > 0 {
				clk.advance(5 * time.Second)
			}
		}
	}
	if waited := clk.Now().Sub(now); waited <= 2*time.Minute {
		t.Errorf("the rollback went on after %v, within the lease of a request at work", waited)
	}
	close(wh.release)
	if err := <-completed; err != nil {
		t.Fatalf("completion: %v", err)
	}
	rows := e.fake.PartitionRows(table)
	for _, d := range days {
		if rows[d] != 0 {
			t.Fatalf("production partition %s has %d rows: the completion swapped after the rollback ended", d, rows[d])
		}
	}
	if bf := e.record(t); bf.State != ledger.StateRolledBack || bf.CompletionStoppedAt.IsZero() {
		t.Errorf("after both: %s, stopped at %v; want rolled_back and the completion's acknowledgement", bf.State, bf.CompletionStoppedAt)
	}
}

// TestRollbackGoesOnAtAcknowledgement: a rollback waiting for a live
// completion request (fresh heartbeat) goes on at its next look once the
// request left the record, long before the request's lease would lapse.
func TestRollbackGoesOnAtAcknowledgement(t *testing.T) {
	e, clk := crashedInSecondChunk(t, 0)
	if _, err := e.led.Update(e.ctx, contractID, func(b *ledger.Backfill) error {
		b.Completions = map[string]time.Time{"live": now}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	rolled := make(chan error, 1)
	go func() {
		_, _, err := e.p.Rollback(e.ctx, table)
		rolled <- err
	}()
	<-clk.slept // the rollback waits
	if _, err := e.led.Update(e.ctx, contractID, func(b *ledger.Backfill) error {
		delete(b.Completions, "live")
		b.CompletionStoppedAt = clk.Now()
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	start := clk.Now()
	if err := advanceUntil(t, clk, rolled); err != nil {
		t.Fatalf("rollback: %v", err)
	}
	if waited := clk.Now().Sub(start); waited > 5*time.Second {
		t.Errorf("the rollback went on %v after the acknowledgement, want at its next look (5s)", waited)
	}
	if bf := e.record(t); bf.State != ledger.StateRolledBack {
		t.Errorf("after the rollback: %s, want rolled_back", bf.State)
	}
}

// failRecordWrites answers 403 to uploads of backfill.json while on, as a
// ledger bucket whose writes fail (a revoked grant, an outage).
type failRecordWrites struct {
	base http.RoundTripper
	on   atomic.Bool
}

func (f *failRecordWrites) RoundTrip(req *http.Request) (*http.Response, error) {
	if f.on.Load() && req.Body != nil && strings.Contains(req.URL.Path, "/upload/") {
		body, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, err
		}
		if bytes.Contains(body, []byte(`/backfill.json"`)) {
			return &http.Response{StatusCode: http.StatusForbidden, Status: "403 Forbidden", Request: req,
				Header: http.Header{"Content-Type": {"application/json"}},
				Body:   io.NopCloser(strings.NewReader(`{"error":{"code":403,"message":"injected: writes of backfill.json fail"}}`))}, nil
		}
		req = req.Clone(req.Context())
		req.Body = io.NopCloser(bytes.NewReader(body))
	}
	return f.base.RoundTrip(req)
}

// TestHeartbeatLostStartsNoUnit: a completion request whose heartbeat
// cannot be written for more than half the lease starts no swap unit (a
// rollback may take it for dead and restore production meanwhile): its
// message is redelivered, production untouched; once the record can be
// written again, a new request swaps.
func TestHeartbeatLostStartsNoUnit(t *testing.T) {
	f := &failRecordWrites{}
	e := newContractEnvGCS(t, func(base http.RoundTripper) http.RoundTripper { f.base = base; return f })
	days := startCompleting(t, e, dayRange("Initiate", "2023-01-01", "2023-02-19"), civil.Date{Year: 2023, Month: 1, Day: 1}, 50)
	before := e.fake.PartitionRows(table)
	clk, wh, completed := completeDuringBackup(e) // the request is in the record, its heartbeat written
	f.on.Store(true)
	clk.advance(time.Minute + time.Second)
	close(wh.release)
	err := <-completed
	rows := e.fake.PartitionRows(table)
	for _, d := range days {
		if rows[d] != before[d] {
			t.Fatalf("production partition %s went from %d to %d rows: a unit started after the heartbeat was lost (completion: %v)", d, before[d], rows[d], err)
		}
	}
	if err == nil || !strings.Contains(err.Error(), "heartbeat") {
		t.Fatalf("completion with its heartbeat lost: %v; want an error saying so (the message is redelivered)", err)
	}
	f.on.Store(false)
	e.p.Warehouse = wh.Warehouse
	if err := e.p.Complete(e.ctx, contractID); err != nil {
		t.Fatalf("redelivered completion: %v", err)
	}
	if bf := e.record(t); bf.State != ledger.StateCompleted {
		t.Errorf("after the redelivery: %s (%s), want completed", bf.State, bf.LastError)
	}
}
