package bigquery_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/bqbackfill/bqbackfill/shared/warehouse"
	bqw "github.com/bqbackfill/bqbackfill/shared/warehouse/bigquery"
	"github.com/bqbackfill/bqbackfill/shared/warehouse/bqfake"
)

// A caller that gives up on a running query (the worker gives its message
// back) cancels the job and waits for it to stop, so the redelivered run
// does not overlap it.
func TestQueryCancelledCallerCancelsJob(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	polls := 0
	e := newEnv(t, func(c *bqw.Config) {
		c.Sleep = func(sctx context.Context, d time.Duration) error {
			if sctx.Err() == nil && ctx.Err() == nil {
				if polls++; polls == 2 {
					cancel() // the task is shut down while the job runs
				}
			}
			return sctx.Err()
		}
	})
	e.fake.SetPendingPolls(1000)
	dst := staging
	_, err := e.w.Query(ctx, warehouse.QueryJob{SQL: "SELECT 1", Destination: &dst, Partition: "20260101", Write: warehouse.WriteTruncate})
	if err == nil {
		t.Fatal("Query with a cancelled context succeeded")
	}
	cancels := e.fake.RequestsFor("jobs.cancel")
	if len(cancels) != 1 {
		t.Fatalf("%d jobs.cancel requests, want 1", len(cancels))
	}
	for _, j := range e.fake.Jobs() {
		if j.Status == nil || j.Status.State != "DONE" {
			t.Errorf("job %s is %v after the caller gave up; the redelivered run would overlap it", j.JobReference.JobId, j.Status)
		}
	}
	// The redelivered run: its job is the only one running.
	e.fake.SetPendingPolls(0)
	if _, err := e.w.Query(context.Background(), warehouse.QueryJob{SQL: "SELECT 1", Destination: &dst, Partition: "20260101", Write: warehouse.WriteTruncate}); err != nil {
		t.Fatalf("redelivered run: %v", err)
	}
}

// cancelledQuery runs a query whose job stays RUNNING, gives up on it
// (the context ends at the second poll, as a task shut down) and returns
// the waits asked for and the jobs.get requests made after that: those of
// the cancel. afterCancel runs when the caller gives up.
func cancelledQuery(t *testing.T, afterCancel func(*bqfake.Server)) (waits []time.Duration, polls int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var fake *bqfake.Server
	gets := 0
	e := newEnv(t, func(c *bqw.Config) {
		c.PollInterval, c.MaxPollInterval = 100*time.Millisecond, 200*time.Millisecond
		c.Sleep = func(sctx context.Context, d time.Duration) error {
			switch {
			case ctx.Err() != nil:
				waits = append(waits, d)
			case len(fake.RequestsFor("jobs.get")) == 2:
				gets = 2
				cancel() // the task is shut down while the job runs
				afterCancel(fake)
			}
			return sctx.Err()
		}
	})
	fake = e.fake
	e.fake.SetPendingPolls(1000)
	dst := staging
	if _, err := e.w.Query(ctx, warehouse.QueryJob{SQL: "SELECT 1", Destination: &dst, Partition: "20260101", Write: warehouse.WriteTruncate}); err == nil {
		t.Fatal("Query with a cancelled context succeeded")
	}
	if n := len(e.fake.RequestsFor("jobs.cancel")); n != 1 {
		t.Fatalf("%d jobs.cancel requests, want 1", n)
	}
	return waits, len(e.fake.RequestsFor("jobs.get")) - gets
}

// BigQuery's cancel is asynchronous: the job runs on for a while and the
// client polls until it is DONE. The cancel polls as wait does (the same
// loop and schedule: PollInterval growing by half, capped), until the job
// reports it stopped.
func TestCancelPollsUntilTheJobStops(t *testing.T) {
	waits, polls := cancelledQuery(t, func(f *bqfake.Server) { f.SetCancelPolls(3) })
	if polls != 4 {
		t.Errorf("%d jobs.get after the cancel, want 4 (3 RUNNING, then DONE)", polls)
	}
	// The status the job last reported (RUNNING) counts as the first poll:
	// the cancel waits before it polls, as wait does after a start.
	if want := []time.Duration{100 * time.Millisecond, 150 * time.Millisecond, 200 * time.Millisecond, 200 * time.Millisecond}; !slices.Equal(waits, want) {
		t.Errorf("waits between the cancel's polls %v, want %v", waits, want)
	}
}

// A poll that fails for good (the job cannot be read) ends the cancel's
// wait at once, as it ends wait: it does not spin on jobs.get for the rest
// of the task's shutdown time.
func TestCancelStopsPollingOnAPermanentError(t *testing.T) {
	_, polls := cancelledQuery(t, func(f *bqfake.Server) {
		f.SetCancelPolls(1000)
		f.InjectFault(bqfake.Fault{Op: "jobs.get", Status: 403, Reason: "accessDenied"})
	})
	if polls != 1 {
		t.Errorf("%d jobs.get after the cancel, want 1: a permanent error ends the wait", polls)
	}
}

// The driver does not retry: by default a job that failed transiently is
// returned, not re-run, because the pipeline is the one layer that retries
// (a retry here would multiply with it).
func TestDefaultConfigDoesNotRerunJobs(t *testing.T) {
	e := newEnv(t, func(c *bqw.Config) { c.Retry = bqw.RetryPolicy{} })
	e.fake.FailJobs(bqfake.JobFault{Type: "QUERY", Table: "$20240101", Reason: "backendError", Times: 1})
	_, err := e.w.Query(e.ctx, warehouse.QueryJob{SQL: "SELECT 1", Destination: &staging, Partition: "20240101", JobID: "bf-b1"})
	if !warehouse.IsTransient(err) {
		t.Fatalf("Query: %v, want the transient job failure", err)
	}
	if n := len(e.inserted()); n != 1 {
		t.Errorf("%d jobs inserted, want 1", n)
	}
}
