package quota_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/bqbackfill/bqbackfill/shared/clock"
	"github.com/bqbackfill/bqbackfill/shared/warehouse"
	"github.com/bqbackfill/bqbackfill/shared/warehouse/duckdb"
	"github.com/bqbackfill/bqbackfill/shared/warehouse/quota"
)

var (
	day = warehouse.TableRef{Project: "p", Dataset: "d", Table: "daily"}
	std = warehouse.TableRef{Project: "p", Dataset: "d", Table: "plain"}
)

func setup(t *testing.T, lim quota.Limits, lat quota.Latency) (*quota.Model, *clock.Virtual) {
	t.Helper()
	ctx := context.Background()
	dw, err := duckdb.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dw.Close() })
	if err := dw.EnsureDataset(ctx, "p", "d", 0); err != nil {
		t.Fatal(err)
	}
	schema := warehouse.Schema{{Name: "day", Type: "DATE"}, {Name: "x", Type: "INT64"}}
	if err := dw.CreateTable(ctx, warehouse.TableMetadata{Ref: day, Schema: schema, PartitionType: warehouse.Day, PartitionField: "day"}); err != nil {
		t.Fatal(err)
	}
	if err := dw.CreateTable(ctx, warehouse.TableMetadata{Ref: std, Schema: schema}); err != nil {
		t.Fatal(err)
	}
	v := clock.NewVirtual(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), 0)
	t.Cleanup(v.Close)
	return quota.New(dw, v, lim, lat, 1), v
}

// fast jobs keep a test's jobs inside one rate window.
var fast = quota.Latency{Query: quota.Dist{Median: time.Millisecond}, Copy: quota.Dist{Median: time.Millisecond},
	Transaction: quota.Dist{Median: time.Millisecond}, Metadata: quota.Dist{Median: time.Millisecond}, Read: quota.Dist{Median: time.Millisecond}}

func partitionQuery(ref warehouse.TableRef, i int) warehouse.QueryJob {
	d := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, i)
	job := warehouse.QueryJob{SQL: fmt.Sprintf("SELECT DATE '%s' AS day, %d AS x", d.Format(time.DateOnly), i), Destination: &ref}
	if ref == day {
		job.Partition = d.Format("20060102")
	}
	return job
}

// startAll starts n partition queries at once and returns their errors.
func startAll(m *quota.Model, ref warehouse.TableRef, n int) []error {
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = m.Query(context.Background(), partitionQuery(ref, i))
		}()
	}
	wg.Wait()
	return errs
}

func reasons(errs []error) map[string]int {
	out := map[string]int{}
	for _, err := range errs {
		var api *quota.APIError
		switch {
		case err == nil:
			out["ok"]++
		case errors.As(err, &api):
			out[api.Reason+" "+warehouse.Code(err).String()+" "+api.Message]++
		default:
			out[err.Error()]++
		}
	}
	return out
}

func TestLimits(t *testing.T) {
	small := quota.DefaultLimits()
	small.DailyPartitions, small.DailyStandard = 12, 3
	cases := []struct {
		name string
		lim  quota.Limits
		ref  warehouse.TableRef
		n    int
		want map[string]int
	}{
		{name: "50 per 10 s on a partitioned table", lim: quota.DefaultLimits(), ref: day, n: 53, want: map[string]int{
			"ok": 50, "rateLimitExceeded Transient " + warehouse.MsgPartitionedTableRate: 3}},
		{name: "5 per 10 s on a standard table", lim: quota.DefaultLimits(), ref: std, n: 7, want: map[string]int{
			"ok": 5, "rateLimitExceeded Transient " + warehouse.MsgTableRate: 2}},
		{name: "partition modifications per day", lim: small, ref: day, n: 14, want: map[string]int{
			"ok": 12, "quotaExceeded QuotaExceeded " + warehouse.MsgPartitionModificationsPerDay: 2}},
		{name: "writes of a standard table per day", lim: small, ref: std, n: 4, want: map[string]int{
			"ok": 3, "quotaExceeded QuotaExceeded " + warehouse.MsgTableWritesPerDay: 1}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, _ := setup(t, c.lim, fast)
			got := reasons(startAll(m, c.ref, c.n))
			if fmt.Sprint(got) != fmt.Sprint(c.want) {
				t.Errorf("outcomes %v\nwant %v", got, c.want)
			}
		})
	}
}

// The rate frees up as the window slides; the daily count does not.
func TestWindowSlides(t *testing.T) {
	lim := quota.DefaultLimits()
	lim.DailyPartitions = 60
	m, v := setup(t, lim, fast)
	if got := reasons(startAll(m, day, 50)); got["ok"] != 50 {
		t.Fatalf("first 50: %v", got)
	}
	if err := v.Sleep(context.Background(), 11*time.Second); err != nil {
		t.Fatal(err)
	}
	errs := startAll(m, day, 11)
	if got := reasons(errs); got["ok"] != 10 || got["quotaExceeded QuotaExceeded "+warehouse.MsgPartitionModificationsPerDay] != 1 {
		t.Errorf("after the window: %v", got)
	}
	if err := v.Sleep(context.Background(), 24*time.Hour); err != nil {
		t.Fatal(err)
	}
	if got := reasons(startAll(m, day, 5)); got["ok"] != 5 {
		t.Errorf("a day later: %v", got)
	}
}

// Query jobs beyond the concurrency wait in the queue; beyond the queue
// they fail with quotaExceeded. Each job takes its latency on the clock.
func TestConcurrencyQueueAndLatency(t *testing.T) {
	lim := quota.DefaultLimits()
	lim.Concurrency, lim.QueueSize = 2, 2
	m, v := setup(t, lim, quota.DefaultLatency())
	start := v.Now()
	errs := startAll(m, day, 5)
	got := reasons(errs)
	if got["ok"] != 4 || got["quotaExceeded QuotaExceeded Quota exceeded: Your project and region exceeded quota for max number of jobs that can be queued per project."] != 1 {
		t.Errorf("outcomes %v", got)
	}
	// Two rounds of two jobs, each at least the minimum query latency.
	if took, least := v.Now().Sub(start), 2*quota.DefaultLatency().Query.Min; took < least {
		t.Errorf("4 jobs two at a time took %v of virtual time, want at least %v", took, least)
	}
	if s := m.Stats(); s.MaxQueued != 2 || s.Jobs != 4 {
		t.Errorf("stats %+v", s)
	}
}

func TestReplacePartitionsLimits(t *testing.T) {
	m, _ := setup(t, quota.DefaultLimits(), fast)
	ctx := context.Background()
	_, err := m.ReplacePartitions(ctx, warehouse.ReplaceJob{Source: day, Dest: day, Partitions: make([]string, 4001)})
	var api *quota.APIError
	if warehouse.Code(err) != warehouse.InvalidArgument || !errors.As(err, &api) || api.Message != "Too many partitions produced by query, allowed 4000, query produces at least 4001 partitions" {
		t.Errorf("4,001 partitions: %v", err)
	}
	// A transaction is two operations however many partitions it has, and
	// takes no daily modifications.
	if got := reasons(startAll(m, day, 48)); got["ok"] != 48 {
		t.Fatalf("48 queries: %v", got)
	}
	if _, err := m.ReplacePartitions(ctx, warehouse.ReplaceJob{Source: std, Dest: day, Partitions: []string{"20240101"}}); warehouse.Code(err) != warehouse.FailedPrecondition {
		t.Errorf("transaction within the rate reached the warehouse: %v", err)
	}
	if _, err := m.ReplacePartitions(ctx, warehouse.ReplaceJob{Source: day, Dest: day, Partitions: []string{"20240101"}}); warehouse.Code(err) != warehouse.Transient {
		t.Errorf("transaction over the rate: %v", err)
	}
}

// A job queued behind a full project, whose caller holds the virtual
// clock for its work (clock.Virtual.Work), lets go of the hold while it
// waits: the running job's latency must pass for a slot to free.
func TestQueuedJobLetsGoOfTheClock(t *testing.T) {
	lim := quota.DefaultLimits()
	lim.Concurrency = 1
	m, v := setup(t, lim, quota.DefaultLatency())
	ctx := context.Background()
	running := make(chan error, 1)
	go func() {
		_, err := m.Query(ctx, partitionQuery(day, 0))
		running <- err
	}()
	for m.Stats().Jobs == 0 { // the first job has its slot
		time.Sleep(time.Millisecond)
	}
	wctx, release := v.Work(ctx)
	defer release()
	queued := make(chan error, 1)
	go func() {
		_, err := m.Query(wctx, partitionQuery(day, 1))
		queued <- err
	}()
	for _, ch := range []chan error{running, queued} {
		select {
		case err := <-ch:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("the queued job's hold on the clock kept the running job from finishing")
		}
	}
}
