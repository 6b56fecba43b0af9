package local

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/bqbackfill/bqbackfill/shared/clock"
	"github.com/bqbackfill/bqbackfill/shared/ledger"
	"github.com/bqbackfill/bqbackfill/shared/message"
	"github.com/bqbackfill/bqbackfill/shared/pacing"
	"github.com/bqbackfill/bqbackfill/shared/pipeline"
	"github.com/bqbackfill/bqbackfill/shared/warehouse"
	"github.com/bqbackfill/bqbackfill/shared/warehouse/quota"
)

// BenchmarkQuotaBound3650 runs a 3,650-partition backfill through the
// whole local stack on the quota model of BigQuery (shared/warehouse/quota)
// and its virtual clock: staged, then swapped by copy or by atomic
// promotion. It reports each phase's virtual duration as a ratio to its
// quota-bound ideal, and the share of jobs refused for rate limits:
//
//	go test ./shared/local -run '^$' -bench QuotaBound -benchtime 1x
//
// Ideals: staging and copy promotion make one table operation per
// partition, so BigQuery's 50 per 10 s bounds them to n/5 s, plus the mean
// latency of the last job; atomic promotion is one transaction per 4,000
// partitions, bounded by its latency. See BENCHMARKS.md.
func BenchmarkQuotaBound3650(b *testing.B) {
	const days = 3650
	lat := quota.DefaultLatency()
	rateSpan := func(n int) time.Duration { return pacing.MinDuration(n, pacing.Budget{Limit: pacing.TableRateLimit}) }
	for _, mode := range []string{"copy", "atomic"} {
		b.Run(mode, func(b *testing.B) {
			for range b.N {
				// A quiet period of 2 ms lets woken tasks reach their next job before
				// the clock jumps again, on a loaded machine too.
				v := clock.NewVirtual(time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC), 2*time.Millisecond)
				var model *quota.Model
				s := openBench(b, 128, func(w warehouse.Warehouse) warehouse.Warehouse {
					// BigQuery's query concurrency is dynamic; this project
					// admits 200, so that the per-table rate is the bound
					// measured (100 would bind first at 20 s a query).
					lim := quota.DefaultLimits()
					lim.Concurrency = 200
					model = quota.New(w, v, lim, lat, 42)
					return model
				}, true, func(o *Options) {
					o.Receiver = func(r pipeline.Receiver) pipeline.Receiver { return heldTask{Receiver: r, v: v} }
				})
				s.Pipeline.Pacer = &pacing.Tables{Clock: v}
				s.Pipeline.Clock = v
				ctx := context.Background()
				seed := fmt.Sprintf("INSERT INTO `%s` SELECT d, 0 FROM UNNEST(GENERATE_DATE_ARRAY(DATE '%s', DATE '%s')) AS d",
					benchTable, benchToday.AddDays(-days), benchToday.AddDays(-1))
				if _, err := s.DuckDB.Query(ctx, warehouse.QueryJob{SQL: seed}); err != nil {
					b.Fatal(err)
				}
				dir := writeBenchTree(b, days, "Initiate")
				if err := os.WriteFile(filepath.Join(dir, "bqbackfill.yaml"), []byte("promotion:\n  default: "+mode+"\n"), 0o644); err != nil {
					b.Fatal(err)
				}
				b.ResetTimer()
				t0 := v.Now()
				if _, err := s.Run(ctx, dir); err != nil {
					b.Fatal(err)
				}
				requireBackfill(b, s, ledger.StateProcessed, days)
				staged := v.Now().Sub(t0)
				stagedStats := model.Stats()

				dir2 := writeBenchTree(b, days, "Complete")
				if err := os.WriteFile(filepath.Join(dir2, "bqbackfill.yaml"), []byte("promotion:\n  default: "+mode+"\n"), 0o644); err != nil {
					b.Fatal(err)
				}
				t1 := v.Now()
				if _, err := s.Run(ctx, dir2); err != nil {
					b.Fatal(err)
				}
				requireBackfill(b, s, ledger.StateCompleted, days)
				swapped := v.Now().Sub(t1)
				b.StopTimer()
				st := model.Stats()
				v.Close()

				stageIdeal := rateSpan(days) + lat.Query.Mean(0)
				swapIdeal := rateSpan(days) + lat.Copy.Mean(0)
				if mode == "atomic" {
					swapIdeal = lat.Transaction.Mean(days)
				}
				b.ReportMetric(staged.Seconds(), "staging-s")
				b.ReportMetric(staged.Seconds()/stageIdeal.Seconds(), "staging-ratio")
				b.ReportMetric(swapped.Seconds(), "swap-s")
				b.ReportMetric(swapped.Seconds()/swapIdeal.Seconds(), "swap-ratio")
				b.ReportMetric(100*float64(st.RateLimited)/float64(max(st.Jobs, 1)), "ratelimited-%")
				b.ReportMetric(float64(st.QuotaExceeded), "quota-errors")
				b.ReportMetric(float64(stagedStats.MaxOpsInWindow), "max-ops-per-10s")
				b.ReportMetric(float64(st.Jobs), "jobs")
			}
		})
	}
}

// heldTask holds the virtual clock while a worker task handles a message,
// but for the sleeps of the handling (pacing waits, job latencies): the
// task's real work (ledger writes, DuckDB, logging) takes no virtual time
// however busy the machine, so the benchmark measures pacing, not the
// host's CPU.
type heldTask struct {
	pipeline.Receiver
	v *clock.Virtual
}

func (r heldTask) Receive(ctx context.Context, h message.Handler) error {
	return r.Receiver.Receive(ctx, func(ctx context.Context, m message.Received) message.Outcome {
		ctx, release := r.v.Work(ctx)
		defer release()
		return h(ctx, m)
	})
}
