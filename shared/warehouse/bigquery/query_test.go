package bigquery_test

import (
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/civil"
	bq "google.golang.org/api/bigquery/v2"

	"github.com/bqbackfill/bqbackfill/shared/warehouse"
	"github.com/bqbackfill/bqbackfill/shared/warehouse/bqfake"
)

func TestQueryJobConfiguration(t *testing.T) {
	day := civil.Date{Year: 2024, Month: 1, Day: 1}
	dateParam := warehouse.Param{Name: "submission_date", Type: "DATE", Value: "2024-01-01"}
	wantDateParam := &bq.QueryParameter{Name: "submission_date", ParameterType: &bq.QueryParameterType{Type: "DATE"}, ParameterValue: &bq.QueryParameterValue{Value: "2024-01-01"}}
	f := false
	tests := []struct {
		name       string
		job        warehouse.QueryJob
		rows       int // rows the query returns, dated day
		jobProject string
		want       bq.JobConfigurationQuery
		labels     map[string]string
		jobPrefix  string // "" = no deterministic prefix expected
		rowsAfter  int64
	}{
		{
			name: "day partition into staging, billed elsewhere",
			job: warehouse.QueryJob{
				SQL: "SELECT * FROM t WHERE submission_date = @submission_date", Params: []warehouse.Param{dateParam},
				Destination: &staging, Partition: "20240101", Write: warehouse.WriteTruncate,
				BillingProject: "backfill-slots", DefaultProject: "prod-proj", DefaultDataset: "derived",
				Labels: map[string]string{"backfill_id": "b1"}, JobID: "bf-b1-daily-20240101",
			},
			rows:       3,
			jobProject: "backfill-slots",
			want: bq.JobConfigurationQuery{
				Query: "SELECT * FROM t WHERE submission_date = @submission_date", QueryParameters: []*bq.QueryParameter{wantDateParam},
				DestinationTable: tref(staging, "20240101"), WriteDisposition: "WRITE_TRUNCATE", CreateDisposition: "CREATE_NEVER",
				DefaultDataset: &bq.DatasetReference{ProjectId: "prod-proj", DatasetId: "derived"}, UseLegacySql: &f,
			},
			labels:    map[string]string{"backfill_id": "b1"},
			jobPrefix: "bf-b1-daily-20240101-",
			rowsAfter: 3,
		},
		{
			name: "month partition, append, job in the destination's project",
			job: warehouse.QueryJob{
				SQL: "SELECT 1", Params: []warehouse.Param{dateParam},
				Destination: &monthly, Partition: "202401", Write: warehouse.WriteAppend,
			},
			rows:       2,
			jobProject: "prod-proj",
			want: bq.JobConfigurationQuery{
				Query: "SELECT 1", QueryParameters: []*bq.QueryParameter{wantDateParam},
				DestinationTable: tref(monthly, "202401"), WriteDisposition: "WRITE_APPEND", CreateDisposition: "CREATE_NEVER", UseLegacySql: &f,
			},
			rowsAfter: 2,
		},
		{
			name:       "whole table, default disposition is truncate (the rows only: WRITE_TRUNCATE_DATA), may create",
			job:        warehouse.QueryJob{SQL: "SELECT 2", Destination: &plain, DefaultDataset: "derived"},
			rows:       4,
			jobProject: "prod-proj",
			want: bq.JobConfigurationQuery{
				Query: "SELECT 2", DestinationTable: tref(plain, ""), WriteDisposition: "WRITE_TRUNCATE_DATA", CreateDisposition: "CREATE_IF_NEEDED",
				DefaultDataset: &bq.DatasetReference{ProjectId: "prod-proj", DatasetId: "derived"}, UseLegacySql: &f,
			},
			rowsAfter: 4,
		},
		{
			name:       "no destination runs in the default project",
			job:        warehouse.QueryJob{SQL: "CREATE TEMP FUNCTION f() AS (1); SELECT f()", JobID: "odd id/with:chars"},
			jobProject: defaultProject,
			want:       bq.JobConfigurationQuery{Query: "CREATE TEMP FUNCTION f() AS (1); SELECT f()", UseLegacySql: &f},
			jobPrefix:  "odd_id_with_chars-",
			rowsAfter:  -1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			e.rowsFor(day, tt.rows)
			res, err := e.w.Query(e.ctx, tt.job)
			if err != nil {
				t.Fatalf("Query: %v", err)
			}
			req, job := e.onlyInsert()
			if want := "/projects/" + tt.jobProject + "/jobs"; req.Path != want {
				t.Errorf("jobs.insert path = %s, want %s (the billing project is the job project)", req.Path, want)
			}
			if job.JobReference.ProjectId != tt.jobProject {
				t.Errorf("jobReference.projectId = %q, want %q", job.JobReference.ProjectId, tt.jobProject)
			}
			if tt.jobPrefix != "" && (!hasPrefix(job.JobReference.JobId, tt.jobPrefix) || len(job.JobReference.JobId) <= len(tt.jobPrefix)) {
				t.Errorf("jobId = %q, want prefix %q plus a suffix", job.JobReference.JobId, tt.jobPrefix)
			}
			if res.JobID != job.JobReference.JobId {
				t.Errorf("JobResult.JobID = %q, want %q", res.JobID, job.JobReference.JobId)
			}
			if job.Configuration.DryRun {
				t.Error("dryRun set on a real run")
			}
			jsonEqual(t, "configuration.query", job.Configuration.Query, tt.want)
			jsonEqual(t, "configuration.labels", job.Configuration.Labels, tt.labels)
			if res.RowsWritten != tt.rowsAfter {
				t.Errorf("RowsWritten = %d, want %d", res.RowsWritten, tt.rowsAfter)
			}
			if tt.job.Destination != nil && res.BytesProcessed != 4096 {
				t.Errorf("BytesProcessed = %d, want 4096", res.BytesProcessed)
			}
		})
	}
}

// The row count after a partition write comes from INFORMATION_SCHEMA,
// billed to the job's project, filtered to the partition.
func TestQueryRowsWrittenLookup(t *testing.T) {
	e := newEnv(t)
	e.setRows(staging, "20240101", 7)
	e.setRows(staging, "20240102", 5)
	e.rowsFor(civil.Date{Year: 2024, Month: 1, Day: 2}, 2)
	res, err := e.w.Query(e.ctx, warehouse.QueryJob{SQL: "SELECT 1", Destination: &staging, Partition: "20240102", BillingProject: "backfill-slots"})
	if err != nil {
		t.Fatalf("Query: %v", err)
	}
	if res.RowsWritten != 2 {
		t.Errorf("RowsWritten = %d, want 2", res.RowsWritten)
	}
	reqs := e.fake.RequestsFor("jobs.query")
	if len(reqs) != 1 {
		t.Fatalf("%d jobs.query requests, want 1", len(reqs))
	}
	var qr bq.QueryRequest
	if err := reqs[0].Decode(&qr); err != nil {
		t.Fatal(err)
	}
	if reqs[0].Path != "/projects/backfill-slots/queries" {
		t.Errorf("lookup ran at %s, want the job project backfill-slots", reqs[0].Path)
	}
	if !strings.Contains(qr.Query, "`staging-proj.backfills_staging_derived.INFORMATION_SCHEMA.PARTITIONS`") {
		t.Errorf("lookup SQL = %q", qr.Query)
	}
	jsonEqual(t, "lookup parameters", qr.QueryParameters, []*bq.QueryParameter{
		{Name: "table_name", ParameterType: &bq.QueryParameterType{Type: "STRING"}, ParameterValue: &bq.QueryParameterValue{Value: staging.Table}},
		{Name: "partition_id", ParameterType: &bq.QueryParameterType{Type: "STRING"}, ParameterValue: &bq.QueryParameterValue{Value: "20240102"}},
	})
	// A failing lookup leaves the job's success standing, with -1.
	e.fake.InjectFault(bqfake.Fault{Op: "jobs.query", Status: 400, Reason: "invalidQuery"})
	res, err = e.w.Query(e.ctx, warehouse.QueryJob{SQL: "SELECT 1", Destination: &staging, Partition: "20240102"})
	if err != nil {
		t.Fatalf("Query with a failing lookup: %v", err)
	}
	if res.RowsWritten != -1 {
		t.Errorf("RowsWritten = %d with a failing lookup, want -1", res.RowsWritten)
	}
}

func TestQueryDryRun(t *testing.T) {
	e := newEnv(t)
	var seen *bqfake.Query
	e.fake.OnQuery(func(q *bqfake.Query) (*bqfake.Result, error) {
		seen = q
		return &bqfake.Result{BytesProcessed: 123456789}, nil
	})
	res, err := e.w.Query(e.ctx, warehouse.QueryJob{
		SQL: "SELECT * FROM t", Destination: &staging, Partition: "20240101", DryRun: true,
		Params: []warehouse.Param{{Name: "d", Type: "DATE", Value: "2024-01-01"}}, BillingProject: "backfill-slots",
	})
	if err != nil {
		t.Fatalf("dry run: %v", err)
	}
	if res.BytesProcessed != 123456789 || res.RowsWritten != -1 {
		t.Errorf("dry run result = %+v, want 123456789 bytes and RowsWritten -1", res)
	}
	req, job := e.onlyInsert()
	if !job.Configuration.DryRun || req.Path != "/projects/backfill-slots/jobs" {
		t.Errorf("dry run sent dryRun=%v to %s", job.Configuration.DryRun, req.Path)
	}
	if seen == nil || !seen.DryRun {
		t.Error("the fake did not see a dry run")
	}
	if n := len(e.fake.RequestsFor("jobs.get")) + len(e.fake.RequestsFor("jobs.query")); n != 0 {
		t.Errorf("a dry run polled or looked up rows (%d requests)", n)
	}
	if got := e.fake.PartitionRows(staging); len(got) != 0 {
		t.Errorf("a dry run wrote rows: %v", got)
	}
	// A dry run that BigQuery rejects is InvalidArgument, not retried.
	e.fake.OnQuery(func(q *bqfake.Query) (*bqfake.Result, error) {
		return nil, &bqfake.JobError{Reason: "invalidQuery", Message: "Syntax error: Unexpected end of script"}
	})
	_, err = e.w.Query(e.ctx, warehouse.QueryJob{SQL: "SELEC", DryRun: true})
	wantCode(t, "dry run of bad SQL", err, warehouse.InvalidArgument)
	if n := len(e.fake.RequestsFor("jobs.insert")); n != 2 {
		t.Errorf("%d jobs.insert requests, want 2 (no retry of a bad query)", n)
	}
}

func TestQueryParameterTypes(t *testing.T) {
	tests := []struct {
		param     warehouse.Param
		wantType  string
		wantValue string
	}{
		{warehouse.Param{Name: "d", Type: "DATE", Value: "2024-02-29"}, "DATE", "2024-02-29"},
		{warehouse.Param{Name: "s", Type: "STRING", Value: "a b"}, "STRING", "a b"},
		{warehouse.Param{Name: "untyped", Value: "x"}, "STRING", "x"},
		{warehouse.Param{Name: "i", Type: "INT64", Value: "42"}, "INT64", "42"},
		{warehouse.Param{Name: "legacy_int", Type: "integer", Value: "-7"}, "INT64", "-7"},
		{warehouse.Param{Name: "f", Type: "FLOAT64", Value: "0.5"}, "FLOAT64", "0.5"},
		{warehouse.Param{Name: "b", Type: "BOOL", Value: "true"}, "BOOL", "true"},
		{warehouse.Param{Name: "num", Type: "NUMERIC", Value: "1.25"}, "NUMERIC", "1.250000000"},
		{warehouse.Param{Name: "big", Type: "BIGNUMERIC", Value: "1.5"}, "BIGNUMERIC", "1.50000000000000000000000000000000000000"},
		{warehouse.Param{Name: "ts", Type: "TIMESTAMP", Value: "2024-01-01T10:00:00Z"}, "TIMESTAMP", "2024-01-01 10:00:00+00:00"},
		{warehouse.Param{Name: "dt", Type: "DATETIME", Value: "2024-01-01 10:00:00"}, "DATETIME", "2024-01-01 10:00:00"},
		{warehouse.Param{Name: "tm", Type: "TIME", Value: "10:30:00"}, "TIME", "10:30:00"},
		{warehouse.Param{Name: "@by", Type: "BYTES", Value: "hi"}, "BYTES", "aGk="},
	}
	for _, tt := range tests {
		t.Run(tt.param.Name, func(t *testing.T) {
			e := newEnv(t)
			if _, err := e.w.Query(e.ctx, warehouse.QueryJob{SQL: "SELECT 1", Params: []warehouse.Param{tt.param}}); err != nil {
				t.Fatalf("Query: %v", err)
			}
			_, job := e.onlyInsert()
			ps := job.Configuration.Query.QueryParameters
			if len(ps) != 1 {
				t.Fatalf("parameters = %v", ps)
			}
			name := strings.TrimPrefix(tt.param.Name, "@")
			if ps[0].Name != name || ps[0].ParameterType.Type != tt.wantType || ps[0].ParameterValue.Value != tt.wantValue {
				t.Errorf("parameter = %s %s %q, want %s %s %q", ps[0].Name, ps[0].ParameterType.Type, ps[0].ParameterValue.Value, name, tt.wantType, tt.wantValue)
			}
		})
	}
}

func TestQueryRejectedBeforeSending(t *testing.T) {
	tests := []struct {
		name string
		job  warehouse.QueryJob
	}{
		{"empty SQL", warehouse.QueryJob{SQL: "  "}},
		{"partition without destination", warehouse.QueryJob{SQL: "SELECT 1", Partition: "20240101"}},
		{"malformed partition", warehouse.QueryJob{SQL: "SELECT 1", Destination: &staging, Partition: "2024-01-01"}},
		{"default project without dataset", warehouse.QueryJob{SQL: "SELECT 1", DefaultProject: "p"}},
		{"unknown write disposition", warehouse.QueryJob{SQL: "SELECT 1", Destination: &staging, Write: "WRITE_SOMETIMES"}},
		{"bad DATE parameter", warehouse.QueryJob{SQL: "SELECT 1", Params: []warehouse.Param{{Name: "d", Type: "DATE", Value: "01/02/2024"}}}},
		{"unknown parameter type", warehouse.QueryJob{SQL: "SELECT 1", Params: []warehouse.Param{{Name: "d", Type: "GEOGRAPHY", Value: "POINT(1 1)"}}}},
		{"parameter twice", warehouse.QueryJob{SQL: "SELECT 1", Params: []warehouse.Param{{Name: "d", Value: "a"}, {Name: "D", Value: "b"}}}},
		{"unnamed parameter", warehouse.QueryJob{SQL: "SELECT 1", Params: []warehouse.Param{{Value: "a"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			_, err := e.w.Query(e.ctx, tt.job)
			wantCode(t, "Query", err, warehouse.InvalidArgument)
			if n := len(e.fake.Requests()); n != 0 {
				t.Errorf("%d requests sent for an invalid job: %v", n, paths(e.fake.Requests()))
			}
		})
	}
}

func TestQueryFailures(t *testing.T) {
	day := civil.Date{Year: 2024, Month: 1, Day: 2}
	tests := []struct {
		name     string
		setup    func(e *env)
		job      warehouse.QueryJob
		want     warehouse.ErrorCode
		inserts  int
		contains string
	}{
		{
			name: "failed job surfaces its errorResult",
			setup: func(e *env) {
				e.fake.FailJobs(bqfake.JobFault{Reason: "invalidQuery", Message: "Unrecognized name: foo at [1:8]"})
			},
			job: warehouse.QueryJob{SQL: "SELECT foo", Destination: &staging, Partition: "20240102"}, want: warehouse.InvalidArgument, inserts: 1,
			contains: "Unrecognized name: foo",
		},
		{
			name:  "rows outside the destination partition",
			setup: func(e *env) { e.rowsFor(day, 2) },
			job:   warehouse.QueryJob{SQL: "SELECT 1", Destination: &staging, Partition: "20240101"}, want: warehouse.InvalidArgument, inserts: 1,
			contains: "different partitions",
		},
		{
			name:  "missing destination table",
			setup: func(e *env) {},
			job: warehouse.QueryJob{SQL: "SELECT 1", Destination: &warehouse.TableRef{Project: defaultProject, Dataset: "backfills_staging_derived", Table: "nope"},
				Partition: "20240101"}, want: warehouse.NotFound, inserts: 1,
		},
		{
			name:  "access denied",
			setup: func(e *env) { e.fake.FailJobs(bqfake.JobFault{Reason: "accessDenied"}) },
			job:   warehouse.QueryJob{SQL: "SELECT 1"}, want: warehouse.PermissionDenied, inserts: 1,
		},
		{
			name:  "transient job failure retried as a new job until attempts run out",
			setup: func(e *env) { e.fake.FailJobs(bqfake.JobFault{Reason: "backendError"}) },
			job:   warehouse.QueryJob{SQL: "SELECT 1", JobID: "bf-x"}, want: warehouse.Transient, inserts: 3,
		},
		{
			name: "long-term quota on insert is not retried",
			setup: func(e *env) {
				e.fake.InjectFault(bqfake.Fault{Op: "jobs.insert", Status: 403, Reason: "quotaExceeded"})
			},
			job: warehouse.QueryJob{SQL: "SELECT 1"}, want: warehouse.QuotaExceeded, inserts: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			tt.setup(e)
			_, err := e.w.Query(e.ctx, tt.job)
			wantCode(t, "Query", err, tt.want)
			if n := len(e.fake.RequestsFor("jobs.insert")); n != tt.inserts {
				t.Errorf("%d jobs.insert requests, want %d", n, tt.inserts)
			}
			if tt.contains != "" && !strings.Contains(err.Error(), tt.contains) {
				t.Errorf("error %q does not contain %q", err, tt.contains)
			}
			if got := e.fake.PartitionRows(staging); len(got) != 0 {
				t.Errorf("a failed job wrote rows: %v", got)
			}
		})
	}
}

// A job that failed transiently is re-run under a new id with the same
// prefix and succeeds; the backoff went through the injected sleep.
func TestQueryRetriesTransientJobFailure(t *testing.T) {
	e := newEnv(t)
	e.rowsFor(civil.Date{Year: 2024, Month: 1, Day: 1}, 1)
	e.fake.FailJobs(bqfake.JobFault{Type: "QUERY", Table: "$20240101", Reason: "backendError", Times: 1})
	res, err := e.w.Query(e.ctx, warehouse.QueryJob{SQL: "SELECT 1", Destination: &staging, Partition: "20240101", JobID: "bf-b1"})
	if err != nil {
		t.Fatalf("Query: %v", err)
	}
	jobs := e.inserted()
	if len(jobs) != 2 {
		t.Fatalf("%d jobs inserted, want 2", len(jobs))
	}
	a, b := jobs[0].JobReference.JobId, jobs[1].JobReference.JobId
	if a == b || !hasPrefix(a, "bf-b1-") || !hasPrefix(b, "bf-b1-") {
		t.Errorf("job ids %q, %q: want two different ids with prefix bf-b1-", a, b)
	}
	if res.JobID != b || res.RowsWritten != 1 {
		t.Errorf("result = %+v, want the second job and 1 row", res)
	}
	if e.sleeps.count() != 1 {
		t.Errorf("%d backoff sleeps, want 1", e.sleeps.count())
	}
}

// A running job is polled with jobs.get (never re-run) until it is done.
func TestQueryPollsRunningJob(t *testing.T) {
	e := newEnv(t)
	e.fake.SetPendingPolls(2)
	if _, err := e.w.Query(e.ctx, warehouse.QueryJob{SQL: "DELETE FROM t WHERE TRUE"}); err != nil {
		t.Fatalf("Query: %v", err)
	}
	if n := len(e.fake.RequestsFor("jobs.insert")); n != 1 {
		t.Errorf("%d inserts, want 1", n)
	}
	gets := e.fake.RequestsFor("jobs.get")
	if len(gets) != 3 {
		t.Errorf("%d jobs.get polls, want 3 (two RUNNING, one DONE)", len(gets))
	}
	if n := len(e.fake.RequestsFor("jobs.getQueryResults")); n != 0 {
		t.Errorf("%d getQueryResults calls, want 0 (waiting uses jobs.get)", n)
	}
	if e.sleeps.count() != 3 {
		t.Errorf("%d poll sleeps, want 3 (one before each poll)", e.sleeps.count())
	}
}

// A polling failure does not re-run the job: the same job is polled again.
func TestQueryPollFailureRepolls(t *testing.T) {
	e := newEnv(t)
	e.fake.SetPendingPolls(1)
	e.fake.InjectFault(bqfake.Fault{Op: "jobs.get", Status: 429, Reason: "quotaExceeded", Times: 1})
	if _, err := e.w.Query(e.ctx, warehouse.QueryJob{SQL: "SELECT 1"}); err != nil {
		t.Fatalf("Query: %v", err)
	}
	if n := len(e.fake.RequestsFor("jobs.insert")); n != 1 {
		t.Errorf("%d inserts, want 1", n)
	}
	if n := len(e.fake.RequestsFor("jobs.get")); n != 3 {
		t.Errorf("%d jobs.get, want 3 (failed, RUNNING, DONE)", n)
	}
}

// Concurrent partition writes from several billing projects: one client
// per project is created and shared, and every partition ends up written.
func TestConcurrentQueries(t *testing.T) {
	e := newEnv(t)
	e.fake.OnQuery(func(q *bqfake.Query) (*bqfake.Result, error) {
		if q.Destination == nil {
			return nil, nil
		}
		d, _ := q.Param("d")
		day, err := civil.ParseDate(d)
		if err != nil {
			return nil, err
		}
		return &bqfake.Result{Schema: dailyFields(), Rows: [][]any{{day, "a", int64(1)}, {day, "b", int64(2)}}}, nil
	})
	const n = 16
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		go func(i int) {
			day := civil.Date{Year: 2024, Month: 3, Day: 1 + i}
			_, err := e.w.Query(e.ctx, warehouse.QueryJob{
				SQL: "SELECT 1", Params: []warehouse.Param{{Name: "d", Type: "DATE", Value: day.String()}},
				Destination: &staging, Partition: warehouse.PartitionID(warehouse.Day, day.In(time.UTC)),
				BillingProject: []string{"bill-a", "bill-b", ""}[i%3], JobID: "bf",
			})
			errs <- err
		}(i)
	}
	for i := 0; i < n; i++ {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	got := e.fake.PartitionRows(staging)
	if len(got) != n {
		t.Errorf("%d partitions written, want %d: %v", len(got), n, got)
	}
	projects := map[string]bool{}
	for _, r := range e.fake.RequestsFor("jobs.insert") {
		projects[strings.Split(r.Path, "/")[2]] = true
	}
	if len(projects) != 3 {
		t.Errorf("job projects = %v, want bill-a, bill-b and %s", projects, defaultProject)
	}
}
