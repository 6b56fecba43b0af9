package bigquery_test

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/civil"
	bq "google.golang.org/api/bigquery/v2"

	"github.com/bqbackfill/bqbackfill/shared/warehouse"
	bqw "github.com/bqbackfill/bqbackfill/shared/warehouse/bigquery"
	"github.com/bqbackfill/bqbackfill/shared/warehouse/bqfake"
)

// defaultProject is the warehouse's default project in these tests.
const defaultProject = "staging-proj"

var (
	staging = warehouse.TableRef{Project: defaultProject, Dataset: "backfills_staging_derived", Table: "derived__daily_v1_2024_01_01"}
	prod    = warehouse.TableRef{Project: "prod-proj", Dataset: "derived", Table: "daily_v1"}
	monthly = warehouse.TableRef{Project: "prod-proj", Dataset: "derived", Table: "monthly_v1"}
	plain   = warehouse.TableRef{Project: "prod-proj", Dataset: "derived", Table: "plain_v1"}
)

// sleeps records the waits the warehouse asks for and returns at once.
type sleeps struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *sleeps) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.d = append(s.d, d)
	s.mu.Unlock()
	return ctx.Err()
}

func (s *sleeps) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.d)
}

type env struct {
	t      *testing.T
	ctx    context.Context
	w      *bqw.Warehouse
	fake   *bqfake.Server
	sleeps *sleeps
}

// newEnv starts a fake with the tables staging, prod, monthly and plain
// (no rows) and a warehouse pointed at it with fast retries.
func newEnv(t *testing.T, mods ...func(*bqw.Config)) *env {
	t.Helper()
	fake := bqfake.New()
	t.Cleanup(fake.Close)
	s := &sleeps{}
	cfg := bqw.Config{
		Project:     defaultProject,
		Retry:       bqw.RetryPolicy{Attempts: 3, Initial: time.Millisecond, Max: 4 * time.Millisecond},
		CallTimeout: 30 * time.Second,
		Sleep:       s.sleep,
	}
	for _, m := range mods {
		m(&cfg)
	}
	ctx := context.Background()
	w, err := bqw.NewWithConfig(ctx, cfg, fake.ClientOptions()...)
	if err != nil {
		t.Fatalf("NewWithConfig: %v", err)
	}
	t.Cleanup(func() {
		if err := w.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	e := &env{t: t, ctx: ctx, w: w, fake: fake, sleeps: s}
	e.putTable(staging, "DAY")
	e.putTable(prod, "DAY")
	e.putTable(monthly, "MONTH")
	e.putTable(plain, "")
	return e
}

// dailyFields is the schema of the test tables.
func dailyFields() []*bq.TableFieldSchema {
	return []*bq.TableFieldSchema{
		{Name: "submission_date", Type: "DATE", Mode: "REQUIRED"},
		{Name: "client_id", Type: "STRING", Mode: "NULLABLE"},
		{Name: "n", Type: "INTEGER", Mode: "NULLABLE"},
	}
}

// putTable creates a table in the fake, partitioned by submission_date
// when partitioning is "DAY" or "MONTH".
func (e *env) putTable(ref warehouse.TableRef, partitioning string) {
	md := &bq.Table{
		TableReference: &bq.TableReference{ProjectId: ref.Project, DatasetId: ref.Dataset, TableId: ref.Table},
		Schema:         &bq.TableSchema{Fields: dailyFields()},
		Labels:         map[string]string{"owner": "tests"},
	}
	if partitioning != "" {
		md.TimePartitioning = &bq.TimePartitioning{Type: partitioning, Field: "submission_date"}
		md.Clustering = &bq.Clustering{Fields: []string{"client_id"}}
	}
	e.fake.PutTable(md)
}

func (e *env) setRows(ref warehouse.TableRef, partition string, n int64) {
	e.t.Helper()
	if err := e.fake.SetPartitionRows(ref, partition, n); err != nil {
		e.t.Fatal(err)
	}
}

// rowsFor answers every query writing into a table with n rows dated day.
func (e *env) rowsFor(day civil.Date, n int) {
	e.fake.OnQuery(func(q *bqfake.Query) (*bqfake.Result, error) {
		if q.Destination == nil {
			return nil, nil
		}
		res := &bqfake.Result{Schema: dailyFields(), BytesProcessed: 4096}
		for i := 0; i < n; i++ {
			res.Rows = append(res.Rows, []any{day, "c", int64(i)})
		}
		return res, nil
	})
}

// inserted returns the decoded jobs.insert bodies.
func (e *env) inserted() []*bq.Job {
	e.t.Helper()
	jobs, err := e.fake.InsertedJobs()
	if err != nil {
		e.t.Fatal(err)
	}
	return jobs
}

// onlyInsert returns the single jobs.insert request and its body.
func (e *env) onlyInsert() (bqfake.Request, *bq.Job) {
	e.t.Helper()
	reqs := e.fake.RequestsFor("jobs.insert")
	if len(reqs) != 1 {
		e.t.Fatalf("%d jobs.insert requests, want 1: %v", len(reqs), paths(reqs))
	}
	var j bq.Job
	if err := reqs[0].Decode(&j); err != nil {
		e.t.Fatal(err)
	}
	return reqs[0], &j
}

func paths(reqs []bqfake.Request) []string {
	var out []string
	for _, r := range reqs {
		out = append(out, r.Method+" "+r.Path)
	}
	return out
}

func tref(r warehouse.TableRef, partition string) *bq.TableReference {
	id := r.Table
	if partition != "" {
		id += "$" + partition
	}
	return &bq.TableReference{ProjectId: r.Project, DatasetId: r.Dataset, TableId: id}
}

// wantCode fails unless err is a *warehouse.Error with code want.
func wantCode(t *testing.T, what string, err error, want warehouse.ErrorCode) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: succeeded, want %s", what, want)
	}
	if got := warehouse.Code(err); got != want {
		t.Fatalf("%s: code %s, want %s (error: %v)", what, got, want, err)
	}
}

// jsonEqual compares two values by their JSON encodings.
func jsonEqual(t *testing.T, what string, got, want any) {
	t.Helper()
	g, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	w, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	var gv, wv any
	_ = json.Unmarshal(g, &gv)
	_ = json.Unmarshal(w, &wv)
	if !reflect.DeepEqual(gv, wv) {
		t.Errorf("%s:\n got %s\nwant %s", what, g, w)
	}
}

func hasPrefix(s, p string) bool { return strings.HasPrefix(s, p) }
