package bigquery_test

import (
	"context"
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
