package bigquery_test

import (
	"math/big"
	"reflect"
	"testing"
	"time"

	"cloud.google.com/go/civil"
	bq "google.golang.org/api/bigquery/v2"

	"github.com/bqbackfill/bqbackfill/shared/warehouse"
	"github.com/bqbackfill/bqbackfill/shared/warehouse/bqfake"
)

func readResult() *bqfake.Result {
	return &bqfake.Result{
		Schema: []*bq.TableFieldSchema{
			bqfake.Column("day", "DATE"),
			bqfake.Column("name", "STRING"),
			bqfake.Column("n", "INTEGER"),
			bqfake.Column("x", "FLOAT"),
			bqfake.Column("ok", "BOOLEAN"),
			bqfake.Column("amount", "NUMERIC"),
			bqfake.Column("at", "TIMESTAMP"),
			{Name: "tags", Type: "STRING", Mode: "REPEATED"},
			{Name: "rec", Type: "RECORD", Fields: []*bq.TableFieldSchema{bqfake.Column("a", "INTEGER"), bqfake.Column("b", "STRING")}},
		},
		Rows: [][]any{
			{civil.Date{Year: 2024, Month: 1, Day: 2}, "x", int64(7), 0.5, true, big.NewRat(5, 4), time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC), []string{"a", "b"}, []any{int64(1), "one"}},
			{nil, nil, nil, nil, nil, nil, nil, []string{}, nil},
		},
	}
}

func wantReadRows() *warehouse.Rows {
	return &warehouse.Rows{
		Columns: []string{"day", "name", "n", "x", "ok", "amount", "at", "tags", "rec"},
		Rows: [][]any{
			{civil.Date{Year: 2024, Month: 1, Day: 2}, "x", int64(7), 0.5, true, big.NewRat(5, 4), time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC), []any{"a", "b"}, []any{int64(1), "one"}},
			{nil, nil, nil, nil, nil, nil, nil, []any{}, nil},
		},
	}
}

func TestRead(t *testing.T) {
	tests := []struct {
		name       string
		job        warehouse.QueryJob
		op         string // the REST method that ran the query
		jobProject string
	}{
		{"fast path", warehouse.QueryJob{SQL: "SELECT *", Params: []warehouse.Param{{Name: "d", Type: "DATE", Value: "2024-01-02"}}}, "jobs.query", defaultProject},
		{"billing project and default dataset", warehouse.QueryJob{SQL: "SELECT *", BillingProject: "backfill-slots", DefaultProject: "prod-proj", DefaultDataset: "derived"}, "jobs.query", "backfill-slots"},
		{"job id prefix forces a job", warehouse.QueryJob{SQL: "SELECT *", JobID: "report-b1", Labels: map[string]string{"k": "v"}}, "jobs.insert", defaultProject},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			var seen *bqfake.Query
			e.fake.OnQuery(func(q *bqfake.Query) (*bqfake.Result, error) {
				seen = q
				return readResult(), nil
			})
			got, err := e.w.Read(e.ctx, tt.job)
			if err != nil {
				t.Fatalf("Read: %v", err)
			}
			if want := wantReadRows(); !reflect.DeepEqual(got, want) {
				t.Errorf("Read =\n%#v\nwant\n%#v", got, want)
			}
			reqs := e.fake.RequestsFor(tt.op)
			if len(reqs) != 1 {
				t.Fatalf("%d %s requests: %v", len(reqs), tt.op, paths(e.fake.Requests()))
			}
			if seen.Project != tt.jobProject {
				t.Errorf("query ran in %s, want %s", seen.Project, tt.jobProject)
			}
			if tt.job.DefaultDataset != "" && (seen.DefaultDataset == nil || seen.DefaultDataset.ProjectId != tt.job.DefaultProject || seen.DefaultDataset.DatasetId != tt.job.DefaultDataset) {
				t.Errorf("default dataset = %+v", seen.DefaultDataset)
			}
			if len(tt.job.Params) > 0 {
				if v, ok := seen.Param("d"); !ok || v != "2024-01-02" {
					t.Errorf("parameter d = %q, %v", v, ok)
				}
			}
			if tt.job.Labels != nil && !reflect.DeepEqual(seen.Labels, tt.job.Labels) {
				t.Errorf("labels = %v", seen.Labels)
			}
		})
	}
}

func TestReadEmptyResultKeepsColumns(t *testing.T) {
	e := newEnv(t)
	e.fake.OnQuery(func(q *bqfake.Query) (*bqfake.Result, error) {
		return &bqfake.Result{Schema: []*bq.TableFieldSchema{bqfake.Column("c", "INTEGER")}}, nil
	})
	got, err := e.w.Read(e.ctx, warehouse.QueryJob{SQL: "SELECT COUNT(*) AS c FROM t WHERE FALSE"})
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	if !reflect.DeepEqual(got.Columns, []string{"c"}) || len(got.Rows) != 0 {
		t.Errorf("Read = %+v", got)
	}
}

func TestReadFailures(t *testing.T) {
	tests := []struct {
		name     string
		job      warehouse.QueryJob
		handler  bqfake.QueryHandler
		fault    *bqfake.Fault
		want     warehouse.ErrorCode
		requests int
	}{
		{name: "destination", job: warehouse.QueryJob{SQL: "SELECT 1", Destination: &staging}, want: warehouse.InvalidArgument},
		{name: "dry run", job: warehouse.QueryJob{SQL: "SELECT 1", DryRun: true}, want: warehouse.InvalidArgument},
		{
			name: "bad SQL", job: warehouse.QueryJob{SQL: "SELEC"}, want: warehouse.InvalidArgument, requests: 1,
			handler: func(*bqfake.Query) (*bqfake.Result, error) {
				return nil, &bqfake.JobError{Reason: "invalidQuery", Message: "Syntax error"}
			},
		},
		{
			name: "missing table", job: warehouse.QueryJob{SQL: "SELECT * FROM gone"}, want: warehouse.NotFound, requests: 1,
			handler: func(*bqfake.Query) (*bqfake.Result, error) {
				return nil, &bqfake.JobError{Reason: "notFound", Message: "Not found: Table p:d.gone"}
			},
		},
		{
			name: "failed job behind a job id", job: warehouse.QueryJob{SQL: "SELECT * FROM gone", JobID: "r"}, want: warehouse.NotFound, requests: 1,
			handler: func(*bqfake.Query) (*bqfake.Result, error) {
				return nil, &bqfake.JobError{Reason: "notFound", Message: "Not found: Table p:d.gone"}
			},
		},
		{
			name: "rate limited until attempts run out", job: warehouse.QueryJob{SQL: "SELECT 1"}, want: warehouse.Transient, requests: 3,
			fault: &bqfake.Fault{Op: "jobs.query", Status: 429, Reason: "quotaExceeded"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			if tt.handler != nil {
				e.fake.OnQuery(tt.handler)
			}
			if tt.fault != nil {
				e.fake.InjectFault(*tt.fault)
			}
			_, err := e.w.Read(e.ctx, tt.job)
			wantCode(t, "Read", err, tt.want)
			n := len(e.fake.RequestsFor("jobs.query")) + len(e.fake.RequestsFor("jobs.insert"))
			if n != tt.requests {
				t.Errorf("%d query requests, want %d", n, tt.requests)
			}
		})
	}
}
