package local

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/civil"

	"github.com/bqbackfill/bqbackfill/shared/ledger"
	"github.com/bqbackfill/bqbackfill/shared/pipeline"
	"github.com/bqbackfill/bqbackfill/shared/queue"
	"github.com/bqbackfill/bqbackfill/shared/warehouse"
)

// The pipeline benchmarks run the whole local stack in memory (fake GCS
// without files, pstest, DuckDB in a temporary directory). Run them with
//
//	go test ./shared/local -run '^$' -bench Pipeline -benchtime 1x
//
// and see BENCHMARKS.md for the bars.

var benchToday = civil.Date{Year: 2026, Month: 11, Day: 25}

var benchTable = warehouse.TableRef{Project: "moz-fx-data-shared-prod", Dataset: "bench_derived", Table: "trivial_v1"}

// writeBenchTree writes a tree with one day-partitioned table whose entry
// covers `days` partitions ending yesterday, with a trivial query.
func writeBenchTree(tb testing.TB, days int, status string) string {
	tb.Helper()
	dir := filepath.Join(tb.TempDir(), "sql")
	tdir := filepath.Join(dir, benchTable.Project, benchTable.Dataset, benchTable.Table)
	if err := os.MkdirAll(tdir, 0o755); err != nil {
		tb.Fatal(err)
	}
	files := map[string]string{
		"query.sql":     "SELECT @submission_date AS submission_date, 1 AS n\n",
		"metadata.yaml": "friendly_name: Bench\nscheduling:\n  dag_name: bqetl_bench\nbigquery:\n  time_partitioning:\n    type: day\n    field: submission_date\n",
		"backfill.yaml": fmt.Sprintf("%s:\n  start_date: %s\n  end_date: %s\n  reason: Benchmark.\n  watchers:\n  - bench@example.com\n  status: %s\n  override_retention_limit: true\n",
			benchToday, benchToday.AddDays(-days), benchToday.AddDays(-1), status),
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(tdir, name), []byte(content), 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	return dir
}

// openBench opens a stack for a benchmark. With files, the buckets and the
// warehouse live under a temporary state directory, as `bqbackfill run`
// keeps them; otherwise GCS is in memory (whose fake scans the whole bucket
// on every lookup, so it slows down as ledgers grow).
func openBench(tb testing.TB, parallelism int, wrap func(warehouse.Warehouse) warehouse.Warehouse, files bool, more ...func(*Options)) *Stack {
	tb.Helper()
	ctx := context.Background()
	now := func() time.Time { return time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC) }
	dir := ""
	if files {
		dir = tb.TempDir()
	}
	opts := Options{StateDir: dir, Parallelism: parallelism, Now: now, Warehouse: wrap, IdleTimeout: 100 * time.Millisecond}
	for _, f := range more {
		f(&opts)
	}
	s, err := Open(ctx, opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	script := fmt.Sprintf("CREATE SCHEMA `%s.%s`; CREATE TABLE `%s` (submission_date DATE, n INT64) PARTITION BY submission_date;", benchTable.Project, benchTable.Dataset, benchTable)
	if _, err := s.DuckDB.Query(ctx, warehouse.QueryJob{SQL: script}); err != nil {
		tb.Fatal(err)
	}
	return s
}

func requireBackfill(tb testing.TB, s *Stack, want ledger.State, partitions int) {
	tb.Helper()
	b, err := s.Ledger.Get(context.Background(), pipeline.BackfillID(benchTable, benchToday.String()))
	if err != nil {
		tb.Fatal(err)
	}
	if b.State != want || b.PartitionCount != partitions {
		tb.Fatalf("backfill is %s with %d partitions, want %s with %d: %s", b.State, b.PartitionCount, want, partitions, b.LastError)
	}
}

// firstPublish records when the first partition message is published.
type firstPublish struct {
	pipeline.Publisher
	once sync.Once
	at   time.Time
}

func (f *firstPublish) Publish(ctx context.Context, topic string, msgs ...queue.Message) error {
	err := f.Publisher.Publish(ctx, topic, msgs...)
	if topic == TopicPartitions {
		f.once.Do(func() { f.at = time.Now() })
	}
	return err
}

// BenchmarkPipelineFirstMessage365 measures the manifest event reaching the
// scanner until the first partition message of a 365-partition entry is
// published (staging created, ledger written, all messages published).
func BenchmarkPipelineFirstMessage365(b *testing.B) {
	ctx := context.Background()
	var total time.Duration
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		s := openBench(b, 8, nil, false)
		fp := &firstPublish{Publisher: s.Pipeline.Publisher}
		s.Pipeline.Publisher = fp
		if _, err := s.Sync(ctx, writeBenchTree(b, 365, "Initiate")); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		start := time.Now()
		if _, err := s.FireManifest(ctx); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if fp.at.IsZero() {
			b.Fatal("no partition message published")
		}
		total += fp.at.Sub(start)
		if _, err := s.Drain(ctx); err != nil {
			b.Fatal(err)
		}
		s.Close()
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms-to-first-message")
}

// BenchmarkPipelineInitiate3650 runs a 3,650-partition entry with a trivial
// query from the manifest event until the backfill is processed.
func BenchmarkPipelineInitiate3650(b *testing.B) {
	ctx := context.Background()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		s := openBench(b, 16, nil, true)
		dir := writeBenchTree(b, 3650, "Initiate")
		b.StartTimer()
		if _, err := s.Run(ctx, dir); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		requireBackfill(b, s, ledger.StateProcessed, 3650)
		s.Close()
	}
}

// slowQueries adds a fixed latency to every query job, as BigQuery's
// per-job overhead would.
type slowQueries struct {
	warehouse.Warehouse
	latency time.Duration
}

func (s slowQueries) Query(ctx context.Context, job warehouse.QueryJob) (warehouse.JobResult, error) {
	time.Sleep(s.latency)
	return s.Warehouse.Query(ctx, job)
}

// doneWatch wraps the ledger and closes all once every wanted partition has
// been recorded done: the latency benchmark learns the moment from the
// workers' own writes instead of polling the ledger, whose listings (365
// records every 10 ms) took a fifth of the run's CPU.
type doneWatch struct {
	pipeline.Ledger
	want int
	all  chan struct{}

	mu   sync.Mutex
	done map[string]bool
}

func newDoneWatch(l pipeline.Ledger, want int) *doneWatch {
	return &doneWatch{Ledger: l, want: want, all: make(chan struct{}), done: map[string]bool{}}
}

func (d *doneWatch) UpdatePartition(ctx context.Context, id, partition string, fn func(*ledger.PartitionRecord) error) (*ledger.PartitionRecord, error) {
	r, err := d.Ledger.UpdatePartition(ctx, id, partition, fn)
	d.saw(partition, r, err)
	return r, err
}

func (d *doneWatch) UpdatePartitionFrom(ctx context.Context, id, partition string, cur *ledger.PartitionRecord, fn func(*ledger.PartitionRecord) error) (*ledger.PartitionRecord, error) {
	r, err := d.Ledger.UpdatePartitionFrom(ctx, id, partition, cur, fn)
	d.saw(partition, r, err)
	return r, err
}

func (d *doneWatch) saw(partition string, r *ledger.PartitionRecord, err error) {
	if err != nil || r == nil || r.State != ledger.PartitionDone {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.done[partition] {
		return
	}
	d.done[partition] = true
	if len(d.done) == d.want {
		close(d.all)
	}
}

// BenchmarkPipelineLatency365x32 runs 365 partitions whose queries each take
// 100 ms more, with 32 worker tasks. The ideal is ceil(365/32) x 100 ms = 1.2 s
// (1.15 s counting 365/32 exactly); the bar is within 1.3x of 1.15 s.
func BenchmarkPipelineLatency365x32(b *testing.B) {
	ctx := context.Background()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		var watch *doneWatch
		s := openBench(b, 32, func(w warehouse.Warehouse) warehouse.Warehouse { return slowQueries{w, 100 * time.Millisecond} }, false,
			func(o *Options) {
				o.Ledger = func(l pipeline.Ledger) pipeline.Ledger { watch = newDoneWatch(l, 365); return watch }
			})
		dir := writeBenchTree(b, 365, "Initiate")
		if _, err := s.Sync(ctx, dir); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		start := time.Now()
		if _, err := s.FireManifest(ctx); err != nil {
			b.Fatal(err)
		}
		select {
		case <-watch.all:
		case <-time.After(5 * time.Minute):
			b.Fatal("the 365 partitions were not all recorded done within 5 minutes")
		}
		done := time.Now()
		b.StopTimer()
		// The ledger itself confirms what the writes said.
		states, err := s.Ledger.PartitionStates(ctx, pipeline.BackfillID(benchTable, benchToday.String()))
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		for _, st := range states {
			if st == ledger.PartitionDone {
				n++
			}
		}
		if n != 365 {
			b.Fatalf("%d partitions done in the ledger, want 365", n)
		}
		b.ReportMetric(done.Sub(start).Seconds(), "s-all-partitions")
		if _, err := s.Drain(ctx); err != nil {
			b.Fatal(err)
		}
		s.Close()
	}
}

// BenchmarkPipelineComplete3650 measures completing a processed 3,650
// partition backfill: the backup, 3,650 partition copies, the staging
// delete, from the Complete entry's manifest event until completed.
func BenchmarkPipelineComplete3650(b *testing.B) {
	ctx := context.Background()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		s := openBench(b, 16, nil, true)
		if _, err := s.Run(ctx, writeBenchTree(b, 3650, "Initiate")); err != nil {
			b.Fatal(err)
		}
		requireBackfill(b, s, ledger.StateProcessed, 3650)
		dir := writeBenchTree(b, 3650, "Complete")
		b.StartTimer()
		if _, err := s.Run(ctx, dir); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		requireBackfill(b, s, ledger.StateCompleted, 3650)
		s.Close()
	}
}

// BenchmarkPipelineInitiate365 is the 365-partition version of
// BenchmarkPipelineInitiate3650, for profiling.
func BenchmarkPipelineInitiate365(b *testing.B) {
	ctx := context.Background()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		s := openBench(b, 16, nil, true)
		dir := writeBenchTree(b, 365, "Initiate")
		b.StartTimer()
		if _, err := s.Run(ctx, dir); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		requireBackfill(b, s, ledger.StateProcessed, 365)
		s.Close()
	}
}

// BenchmarkPipelineComplete365 is the 365-partition version of
// BenchmarkPipelineComplete3650, for profiling.
func BenchmarkPipelineComplete365(b *testing.B) {
	ctx := context.Background()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		s := openBench(b, 16, nil, true)
		if _, err := s.Run(ctx, writeBenchTree(b, 365, "Initiate")); err != nil {
			b.Fatal(err)
		}
		requireBackfill(b, s, ledger.StateProcessed, 365)
		dir := writeBenchTree(b, 365, "Complete")
		b.StartTimer()
		if _, err := s.Run(ctx, dir); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		requireBackfill(b, s, ledger.StateCompleted, 365)
		s.Close()
	}
}
