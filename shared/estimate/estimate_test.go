package estimate_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	bq "google.golang.org/api/bigquery/v2"

	"github.com/bqbackfill/bqbackfill/shared/config"
	"github.com/bqbackfill/bqbackfill/shared/estimate"
	"github.com/bqbackfill/bqbackfill/shared/warehouse"
	bqw "github.com/bqbackfill/bqbackfill/shared/warehouse/bigquery"
	"github.com/bqbackfill/bqbackfill/shared/warehouse/bqfake"
	"github.com/bqbackfill/bqbackfill/shared/warehouse/duckdb"
)

var prod = warehouse.TableRef{Project: "p", Dataset: "d", Table: "t"}

// input is a backfill of n days from 2024-01-01 into prod.
func input(n int, mode config.PromotionMode) estimate.Input {
	in := estimate.Input{Query: "SELECT * FROM `p.d.src` WHERE day = @submission_date", Dest: prod, Promotion: mode, PricePerTiBUSD: 6.25}
	for i := range n {
		d := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, i)
		in.Partitions = append(in.Partitions, estimate.Partition{Dest: d.Format("20060102"),
			Params: []warehouse.Param{{Name: "submission_date", Type: "DATE", Value: d.Format(time.DateOnly)}}})
	}
	return in
}

// profiled is in with the "done" report's profile against production.
func profiled(in estimate.Input) estimate.Input {
	in.Profiled = prod
	return in
}

// On the embedded warehouse a dry run costs the tables it reads, whole.
func TestEstimateEmbedded(t *testing.T) {
	ctx := context.Background()
	w, err := duckdb.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, err := w.Read(ctx, warehouse.QueryJob{SQL: "CREATE SCHEMA p.d; CREATE TABLE p.d.src (day DATE, x INT64) PARTITION BY day; " +
		"CREATE TABLE p.d.t (day DATE, x INT64) PARTITION BY day; " +
		"INSERT INTO p.d.src SELECT d, 1 FROM UNNEST(GENERATE_DATE_ARRAY(DATE '2024-01-01', DATE '2024-01-30')) AS d; " +
		"INSERT INTO p.d.t SELECT d, 1 FROM UNNEST(GENERATE_DATE_ARRAY(DATE '2024-01-01', DATE '2024-01-30')) AS d, UNNEST([1, 2]) AS k"}); err != nil {
		t.Fatal(err)
	}
	const rowBytes = 16 // DATE + INT64
	cases := []struct {
		name  string
		in    estimate.Input
		want  estimate.Estimate
		usdOK func(float64) bool
	}{
		{name: "copy, all dry-run", in: input(3, config.PromoteCopy), want: estimate.Estimate{
			Bytes: 3 * 30 * rowBytes, Promotion: config.PromoteCopy, Jobs: 3 + 1 + 3, MinDurationS: 1.2, SampledPartitions: 3}},
		{name: "atomic, sampled", in: input(20, config.PromoteAtomic), want: estimate.Estimate{
			Bytes: 20 * 30 * rowBytes, Promotion: config.PromoteAtomic, PromotionBytes: 20 * 2 * rowBytes, Jobs: 20 + 1 + 1,
			MinDurationS: 4.4, Sampled: true, SampledPartitions: estimate.SampleSize}},
		// The profile query: its production side reads p.d.t (60 rows),
		// whole on DuckDB, and staging is taken to read as much.
		{name: "copy, profiled", in: profiled(input(3, config.PromoteCopy)), want: estimate.Estimate{
			Bytes: 3 * 30 * rowBytes, Promotion: config.PromoteCopy, ProfileBytes: 2 * 60 * rowBytes, Jobs: 3 + 1 + 3, MinDurationS: 1.2, SampledPartitions: 3}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e, err := estimate.Make(ctx, w, c.in)
			if err != nil {
				t.Fatal(err)
			}
			// Every query is billed at least 10 MB; the profile is one more.
			queries := len(c.in.Partitions)
			if c.in.Profiled != (warehouse.TableRef{}) {
				queries++
			}
			minBilled := float64(queries) * estimate.MinBilledBytes / (1 << 40) * 6.25
			if e.USD < minBilled-0.01 || e.USD > minBilled+0.02 {
				t.Errorf("usd %v, want about %v", e.USD, minBilled)
			}
			got := *e
			got.USD, got.Note = 0, ""
			if got != c.want {
				t.Errorf("estimate %+v\nwant     %+v", got, c.want)
			}
		})
	}
}

// On BigQuery the dry runs give the bytes of each partition's query; a
// long range is sampled and extrapolated.
func TestEstimateBigQuerySampled(t *testing.T) {
	ctx := context.Background()
	fake := bqfake.New()
	defer fake.Close()
	for _, ref := range []warehouse.TableRef{prod, {Project: "p", Dataset: "d", Table: "src"}} {
		fake.PutTable(&bq.Table{TableReference: &bq.TableReference{ProjectId: ref.Project, DatasetId: ref.Dataset, TableId: ref.Table},
			Schema:           &bq.TableSchema{Fields: []*bq.TableFieldSchema{{Name: "day", Type: "DATE"}, {Name: "x", Type: "INTEGER"}}},
			TimePartitioning: &bq.TimePartitioning{Type: "DAY", Field: "day"}})
	}
	dryRuns := 0
	fake.OnQuery(func(q *bqfake.Query) (*bqfake.Result, error) {
		if !q.DryRun {
			return nil, fmt.Errorf("only dry runs expected, got %q", q.SQL)
		}
		dryRuns++
		if strings.HasPrefix(q.SQL, "SELECT * FROM `p.d.t`") {
			return &bqfake.Result{BytesProcessed: 1 << 30}, nil
		}
		v, _ := q.Param("submission_date")
		d, _ := time.Parse(time.DateOnly, v)
		return &bqfake.Result{BytesProcessed: int64(d.Day()) << 30}, nil // day N reads N GiB
	})
	w, err := bqw.NewWithConfig(ctx, bqw.Config{Project: "p"}, fake.ClientOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	in := input(365, config.PromoteCopy)
	e, err := estimate.Make(ctx, w, in)
	if err != nil {
		t.Fatal(err)
	}
	if !e.Sampled || e.SampledPartitions != estimate.SampleSize || dryRuns != estimate.SampleSize {
		t.Errorf("sampled %v, %d partitions, %d dry runs; want a sample of %d", e.Sampled, e.SampledPartitions, dryRuns, estimate.SampleSize)
	}
	// The sample's mean day-of-month, times 365, in GiB.
	var sum int64
	for i := range estimate.SampleSize {
		d := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, i*364/(estimate.SampleSize-1))
		sum += int64(d.Day())
	}
	want := int64(float64(sum<<30)/estimate.SampleSize*365 + 0.5)
	if e.Bytes != want || e.PromotionBytes != 0 {
		t.Errorf("bytes %d, promotion %d; want %d, 0", e.Bytes, e.PromotionBytes, want)
	}
	if wantUSD := float64(want) / (1 << 40) * 6.25; e.USD < wantUSD-0.01 || e.USD > wantUSD+0.01 {
		t.Errorf("usd %v, want %v", e.USD, wantUSD)
	}
	if e.MinDurationS != 146 || e.Jobs != 365+1+365 {
		t.Errorf("min duration %v s, %d jobs; want 146 s (730 operations at 5/s), 731 jobs", e.MinDurationS, e.Jobs)
	}
}

func TestChecks(t *testing.T) {
	cases := []struct {
		name     string
		in       estimate.Input
		e        estimate.Estimate
		maxBytes int64
		want     []string
	}{
		{name: "fits", in: input(3650, config.PromoteCopy), e: estimate.Estimate{Bytes: 100}, maxBytes: 100},
		{name: "no guard", in: input(3, config.PromoteCopy), e: estimate.Estimate{Bytes: 1 << 50}},
		{name: "over the guard", in: input(3, config.PromoteCopy), e: estimate.Estimate{Bytes: 90, PromotionBytes: 20}, maxBytes: 100,
			want: []string{"Q2: the backfill is estimated to process 110 bytes (110 B), more than max_bytes_per_backfill 100 bytes (100 B) in bqbackfill.yaml"}},
		{name: "over the guard with the profile", in: input(3, config.PromoteCopy), e: estimate.Estimate{Bytes: 90, ProfileBytes: 20}, maxBytes: 100,
			want: []string{"Q2: the backfill is estimated to process 110 bytes (110 B), more than max_bytes_per_backfill 100 bytes (100 B) in bqbackfill.yaml"}},
		{name: "more partitions than a table holds", in: input(10001, config.PromoteAtomic),
			want: []string{"Q1: the backfill has 10001 partitions; a BigQuery table holds at most 10000"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var got []string
			for _, v := range append(estimate.CheckQuota(c.in), estimate.CheckMaxBytes(&c.e, c.maxBytes)...) {
				got = append(got, v.Rule+": "+v.Message)
			}
			if len(got) != len(c.want) {
				t.Fatalf("violations %q, want %q", got, c.want)
			}
			for i := range got {
				if !strings.HasPrefix(got[i], c.want[i]) {
					t.Errorf("violation %q, want %q…", got[i], c.want[i])
				}
			}
		})
	}
	big := input(10, config.PromoteCopy)
	big.Partitions = make([]estimate.Partition, 30001)
	if v := estimate.CheckQuota(big); len(v) != 2 || !strings.Contains(v[1].Message, "30000 partition modifications per table per day: split the entry") {
		t.Errorf("30,001 partitions: %v", v)
	}
}
