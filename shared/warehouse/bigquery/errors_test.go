package bigquery_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/bqbackfill/bqbackfill/shared/warehouse"
	bqw "github.com/bqbackfill/bqbackfill/shared/warehouse/bigquery"
	"github.com/bqbackfill/bqbackfill/shared/warehouse/bqfake"
)

// Every error class, answered by the server to a metadata call, maps to
// its code; transient ones are retried until the attempts run out.
func TestErrorMapping(t *testing.T) {
	tests := []struct {
		name     string
		fault    bqfake.Fault
		call     func(e *env) error
		want     warehouse.ErrorCode
		requests int // of fault.Op
	}{
		{"404 notFound", bqfake.Fault{Op: "tables.get", Status: 404, Reason: "notFound"}, getProd, warehouse.NotFound, 1},
		{"409 duplicate", bqfake.Fault{Op: "tables.insert", Status: 409, Reason: "duplicate"}, createTable, warehouse.AlreadyExists, 1},
		{"412 precondition", bqfake.Fault{Op: "tables.get", Status: 412, Reason: "conditionNotMet"}, getProd, warehouse.FailedPrecondition, 1},
		{"400 invalidQuery", bqfake.Fault{Op: "jobs.insert", Status: 400, Reason: "invalidQuery"}, runQuery, warehouse.InvalidArgument, 1},
		{"400 invalid", bqfake.Fault{Op: "tables.insert", Status: 400, Reason: "invalid"}, createTable, warehouse.InvalidArgument, 1},
		{"400 without reason", bqfake.Fault{Op: "tables.get", Status: 400}, getProd, warehouse.InvalidArgument, 1},
		{"401", bqfake.Fault{Op: "tables.get", Status: 401, Reason: "authError"}, getProd, warehouse.PermissionDenied, 1},
		{"403 accessDenied", bqfake.Fault{Op: "tables.get", Status: 403, Reason: "accessDenied"}, getProd, warehouse.PermissionDenied, 1},
		{"403 billingNotEnabled", bqfake.Fault{Op: "jobs.insert", Status: 403, Reason: "billingNotEnabled"}, runQuery, warehouse.PermissionDenied, 1},
		{"403 quotaExceeded", bqfake.Fault{Op: "tables.get", Status: 403, Reason: "quotaExceeded"}, getProd, warehouse.QuotaExceeded, 1},
		{"429 without reason", bqfake.Fault{Op: "tables.get", Status: 429}, getProd, warehouse.Transient, 3},
		{"429 on delete", bqfake.Fault{Op: "tables.delete", Status: 429, Reason: "quotaExceeded"}, deleteStaging, warehouse.Transient, 3},
		{"409 conflict without duplicate", bqfake.Fault{Op: "datasets.get", Status: 409, Reason: "aborted"}, ensureDataset, warehouse.FailedPrecondition, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			e.fake.InjectFault(tt.fault)
			err := tt.call(e)
			wantCode(t, tt.name, err, tt.want)
			var we *warehouse.Error
			if !errors.As(err, &we) || we.Op == "" {
				t.Errorf("error %v is not a *warehouse.Error with an op", err)
			}
			if n := len(e.fake.RequestsFor(tt.fault.Op)); n != tt.requests {
				t.Errorf("%d %s requests, want %d", n, tt.fault.Op, tt.requests)
			}
		})
	}
}

func getProd(e *env) error { _, err := e.w.Table(e.ctx, prod); return err }
func createTable(e *env) error {
	return e.w.CreateTable(e.ctx, warehouse.TableMetadata{Ref: warehouse.TableRef{Project: "prod-proj", Dataset: "derived", Table: "new"}, Schema: nestedSchema})
}
func runQuery(e *env) error {
	_, err := e.w.Query(e.ctx, warehouse.QueryJob{SQL: "SELECT 1"})
	return err
}
func deleteStaging(e *env) error { return e.w.Delete(e.ctx, staging) }
func ensureDataset(e *env) error { return e.w.EnsureDataset(e.ctx, "prod-proj", "derived", 0) }

// 5xx answers are retried (by the client library, then by the warehouse)
// and then succeed.
func TestRetryServerErrorThenSuccess(t *testing.T) {
	tests := []struct {
		name  string
		fault bqfake.Fault
		call  func(e *env) error
	}{
		{"503 on tables.get", bqfake.Fault{Op: "tables.get", Status: 503, Reason: "backendError", Times: 1}, getProd},
		{"500 on jobs.insert", bqfake.Fault{Op: "jobs.insert", Status: 500, Reason: "internalError", Times: 1}, runQuery},
		{"429 on tables.get", bqfake.Fault{Op: "tables.get", Status: 429, Reason: "quotaExceeded", Times: 2}, getProd},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			e.fake.InjectFault(tt.fault)
			if err := tt.call(e); err != nil {
				t.Fatalf("call after a transient failure: %v", err)
			}
			if n := len(e.fake.RequestsFor(tt.fault.Op)); n != tt.fault.Times+1 {
				t.Errorf("%d %s requests, want %d", n, tt.fault.Op, tt.fault.Times+1)
			}
		})
	}
}

// A persistent 503, which the client library would retry for as long as
// the context lives, surfaces as Transient within CallTimeout x attempts.
func TestPersistentServerErrorIsTransient(t *testing.T) {
	e := newEnv(t, func(c *bqw.Config) {
		c.CallTimeout = 150 * time.Millisecond
		c.Retry.Attempts = 2
	})
	e.fake.InjectFault(bqfake.Fault{Op: "tables.get", Status: 503, Reason: "backendError"})
	_, err := e.w.Table(e.ctx, prod)
	wantCode(t, "Table during an outage", err, warehouse.Transient)
	if e.sleeps.count() != 1 {
		t.Errorf("%d backoff sleeps, want 1 (two attempts)", e.sleeps.count())
	}
}

func TestCancelledContextIsNotRetried(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithCancel(e.ctx)
	cancel()
	_, err := e.w.Table(ctx, prod)
	if err == nil || warehouse.IsTransient(err) {
		t.Fatalf("Table with a cancelled context: %v, want a non-transient error", err)
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("error %v does not wrap context.Canceled", err)
	}
	if e.sleeps.count() != 0 {
		t.Errorf("retried %d times", e.sleeps.count())
	}
}

func TestNewRequiresProject(t *testing.T) {
	if _, err := bqw.New(context.Background(), ""); err == nil {
		t.Error("New with no project succeeded")
	}
}

// A job that fails on a long-term quota (reason quotaExceeded, wait >= 10
// minutes) is QuotaExceeded and is not re-run by the adapter: re-running
// at once costs quota (failed jobs count) and cannot succeed. A job that
// hits the short-term rate limit is re-run after a backoff.
func TestJobQuotaErrors(t *testing.T) {
	tests := []struct {
		name   string
		fault  bqfake.JobFault
		want   warehouse.ErrorCode
		jobs   int
		sleeps int
	}{
		{"daily partition quota", bqfake.JobFault{Type: "COPY", Reason: "quotaExceeded", Message: warehouse.MsgPartitionModificationsPerDay}, warehouse.QuotaExceeded, 1, 0},
		{"copies per project", bqfake.JobFault{Type: "COPY", Reason: "quotaExceeded", Message: warehouse.MsgCopiesPerProject}, warehouse.QuotaExceeded, 1, 0},
		{"partition rate", bqfake.JobFault{Type: "COPY", Reason: "rateLimitExceeded", Message: warehouse.MsgPartitionedTableRate}, warehouse.Transient, 3, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			e.setRows(staging, "20240101", 3)
			e.fake.FailJobs(tt.fault)
			_, err := e.w.Copy(e.ctx, warehouse.CopyJob{Source: staging, SourcePartition: "20240101", Dest: prod, DestPartition: "20240101", Write: warehouse.WriteTruncate})
			wantCode(t, tt.name, err, tt.want)
			if err != nil && !strings.Contains(err.Error(), tt.fault.Message) {
				t.Errorf("error %q does not carry BigQuery's message %q", err, tt.fault.Message)
			}
			if n := len(e.fake.Jobs()); n != tt.jobs {
				t.Errorf("%d copy jobs, want %d", n, tt.jobs)
			}
			if n := e.sleeps.count(); n != tt.sleeps {
				t.Errorf("%d backoff sleeps, want %d", n, tt.sleeps)
			}
		})
	}
}
