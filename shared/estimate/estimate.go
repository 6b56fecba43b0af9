// Package estimate says what a backfill will cost and how long it must
// take before it runs: the bytes its partition queries will process (from
// dry runs), the bytes an atomic promotion reads, the bytes of the "done"
// report's staging-vs-production profile query, the price at the
// configured on-demand rate, the number of jobs, and the least time
// BigQuery's per-table rate allows. It also holds the checks that refuse a
// backfill before anything is written: the daily partition quota (rule Q1)
// and the max_bytes_per_backfill guard (rule Q2).
//
// Sampling: a dry run is free but takes a round trip, so a backfill of more
// than SampleSize partitions dry-runs SampleSize of them, spread evenly
// from the first to the last (both included), and multiplies their mean by
// the partition count; Sampled says so. On BigQuery a dry run with the
// partition's parameters prunes to the partitions it reads. The embedded
// warehouse (DuckDB) estimates a dry run from the sizes of the tables the
// query reads, without pruning, so there the figure is an upper bound.
package estimate

import (
	"context"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/bqbackfill/bqbackfill/shared/config"
	"github.com/bqbackfill/bqbackfill/shared/pacing"
	"github.com/bqbackfill/bqbackfill/shared/profile"
	"github.com/bqbackfill/bqbackfill/shared/warehouse"
)

// SampleSize is the most partitions dry-run for one estimate.
const SampleSize = 12

// MinBilledBytes is BigQuery's minimum billed per on-demand query (10 MB).
const MinBilledBytes = 10 << 20

const tib = 1 << 40

// Input describes a backfill to estimate.
type Input struct {
	// Query is the SQL run for every partition, with self-references
	// pointing at production (staging does not exist before the start).
	// Empty for query.py tables, which cannot be dry-run: Bytes stays 0.
	Query          string
	Partitions     []Partition
	Dest           warehouse.TableRef // the table promoted into
	DefaultProject string
	DefaultDataset string
	BillingProject string
	WholeTable     bool // one job replaces the whole table
	Seed           bool // a previous partition is copied into staging first
	Promotion      config.PromotionMode
	PricePerTiBUSD float64
	// Profiled is the production table the "done" report profiles
	// staging against (shared/profile), zero for none.
	Profiled warehouse.TableRef
}

// Partition is one partition query: its decorator and parameters.
type Partition struct {
	Dest   string
	Params []warehouse.Param
}

// Estimate is the answer. The JSON form is plan --json's "estimate"
// (docs/cli-json.md).
type Estimate struct {
	// Bytes the partition queries will process.
	Bytes int64 `json:"bytes"`
	// USD is the on-demand price of the bytes billed: the partition queries
	// (each at least 10 MB), for atomic promotion the transaction, and the
	// profile query.
	USD float64 `json:"usd"`
	// Promotion is copy or atomic.
	Promotion config.PromotionMode `json:"promotion"`
	// PromotionBytes the promotion reads from staging: 0 for copy (copy jobs
	// are free); for atomic, the size of the partitions replaced, taken from
	// production's current size of those partitions.
	PromotionBytes int64 `json:"promotion_bytes"`
	// ProfileBytes the staging-vs-production profile query of the "done"
	// report will process: twice a dry run of its production side (staging
	// taken to be as large, profile.EstimateBytes); 0 for a new table.
	ProfileBytes int64 `json:"profile_bytes"`
	// Jobs: partition queries, the seed copy, the backup clone and the
	// promotion jobs (one copy per partition, or one transaction per 4,000
	// partitions).
	Jobs int `json:"jobs"`
	// MinDurationS is the least time BigQuery's rate of 50 partition
	// operations per 10 s per table allows: the staging writes, then the
	// promotion.
	MinDurationS float64 `json:"min_duration_s"`
	// Sampled is true when only SampledPartitions were dry-run.
	Sampled bool `json:"sampled"`

	SampledPartitions int    `json:"-"`
	Note              string `json:"-"` // how the bytes were estimated, for people
}

// Make estimates in on w (dry runs and table sizes only: nothing runs).
func Make(ctx context.Context, w warehouse.Warehouse, in Input) (*Estimate, error) {
	n := len(in.Partitions)
	mode := in.Promotion
	if mode == "" {
		mode = config.PromoteCopy
	}
	e := &Estimate{Promotion: mode}
	e.Jobs = n + 1 // the queries and the backup
	if in.Seed {
		e.Jobs++
	}
	txns := (n + warehouse.MaxReplacePartitions - 1) / warehouse.MaxReplacePartitions
	promotionOps := n
	switch {
	case mode == config.PromoteAtomic:
		e.Jobs += max(txns, 1)
		promotionOps = 2 * max(txns, 1) // a DELETE and an INSERT each
	default:
		e.Jobs += n
	}
	rate := pacing.Budget{Limit: pacing.TableRateLimit}
	stagingOps := n
	if in.Seed {
		stagingOps++
	}
	e.MinDurationS = (pacing.MinDuration(stagingOps, rate) + pacing.MinDuration(promotionOps, rate)).Seconds()

	var billed int64
	if in.Query == "" {
		e.Note = "query.py table: its queries cannot be dry-run, bytes not estimated"
	} else if n > 0 {
		sample := samplePartitions(n)
		e.Sampled = len(sample) < n
		e.SampledPartitions = len(sample)
		bytes := make([]int64, len(sample))
		errs := make([]error, len(sample))
		var wg sync.WaitGroup
		sem := make(chan struct{}, 4)
		for i, pi := range sample {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				res, err := w.Query(ctx, warehouse.QueryJob{SQL: in.Query, Params: in.Partitions[pi].Params, DryRun: true,
					BillingProject: in.BillingProject, DefaultProject: in.DefaultProject, DefaultDataset: in.DefaultDataset})
				bytes[i], errs[i] = res.BytesProcessed, err
			}()
		}
		wg.Wait()
		var sum, sumBilled int64
		for i, err := range errs {
			if err != nil {
				return nil, fmt.Errorf("dry run of partition %s: %w", in.Partitions[sample[i]].Dest, err)
			}
			sum += bytes[i]
			sumBilled += max(bytes[i], MinBilledBytes)
		}
		e.Bytes = extrapolate(sum, len(sample), n)
		billed = extrapolate(sumBilled, len(sample), n)
		e.Note = fmt.Sprintf("dry runs of all %d partition queries", n)
		if e.Sampled {
			e.Note = fmt.Sprintf("dry runs of %d of %d partition queries (evenly spread, first and last included), extrapolated", len(sample), n)
		}
	}
	if mode == config.PromoteAtomic {
		pb, err := partitionBytes(ctx, w, in)
		if err != nil {
			return nil, err
		}
		e.PromotionBytes = pb
		billed += max(pb, MinBilledBytes) // one script, at least 10 MB
	}
	if in.Profiled != (warehouse.TableRef{}) {
		ids := make([]string, 0, n)
		for _, p := range in.Partitions {
			ids = append(ids, p.Dest)
		}
		pb, known, err := profile.EstimateBytes(ctx, w, profile.Options{Production: in.Profiled, Partitions: ids, BillingProject: in.BillingProject})
		if err != nil {
			return nil, err
		}
		e.ProfileBytes = pb
		if known {
			billed += max(pb, MinBilledBytes)
			e.Note += "; the profile query: twice the dry run of its production side (staging taken to be as large)"
		} else {
			e.Note += "; the profile query not estimated (no production table yet)"
		}
	}
	e.USD = float64(billed) / tib * in.PricePerTiBUSD
	return e, nil
}

// samplePartitions returns the indexes of the partitions to dry-run.
func samplePartitions(n int) []int {
	if n <= SampleSize {
		out := make([]int, n)
		for i := range out {
			out[i] = i
		}
		return out
	}
	out := make([]int, SampleSize)
	for i := range out {
		out[i] = i * (n - 1) / (SampleSize - 1)
	}
	return out
}

func extrapolate(sum int64, k, n int) int64 {
	if k == 0 {
		return 0
	}
	return int64(math.Round(float64(sum) / float64(k) * float64(n)))
}

// partitionBytes is the size of the partitions of Dest the backfill
// replaces: the bytes a full read of Dest processes (a dry run), times the
// share of Dest's rows in those partitions. The staged partitions do not
// exist yet; the production partitions they replace are the best guide.
func partitionBytes(ctx context.Context, w warehouse.Warehouse, in Input) (int64, error) {
	res, err := w.Query(ctx, warehouse.QueryJob{SQL: "SELECT * FROM `" + in.Dest.String() + "`", DryRun: true, BillingProject: in.BillingProject})
	if warehouse.IsNotFound(err) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("dry run of a read of %s: %w", in.Dest, err)
	}
	if in.WholeTable {
		return res.BytesProcessed, nil
	}
	parts, err := w.Partitions(ctx, in.Dest)
	if err != nil {
		return 0, fmt.Errorf("partitions of %s: %w", in.Dest, err)
	}
	want := map[string]bool{}
	for _, p := range in.Partitions {
		want[p.Dest] = true
	}
	var all, mine int64
	for _, p := range parts {
		all += p.Rows
		if want[p.ID] {
			mine += p.Rows
		}
	}
	if all == 0 {
		return 0, nil
	}
	return int64(math.Round(float64(res.BytesProcessed) * float64(mine) / float64(all))), nil
}

// Violation is a reason to refuse a backfill before it starts.
type Violation struct {
	Rule    string
	Message string
}

// Rule ids.
const (
	// RuleDailyQuota: the backfill needs more partition modifications of
	// one table than BigQuery allows per day, or more partitions than a
	// table may have.
	RuleDailyQuota = "Q1"
	// RuleMaxBytes: the estimate exceeds max_bytes_per_backfill.
	RuleMaxBytes = "Q2"
)

// CheckQuota refuses a backfill that cannot fit BigQuery's daily partition
// modifications (30,000 per table: the staging writes, and the promotion
// copies unless it is atomic, since DML does not count) or a table's
// 10,000 partitions. It names the size the entry must be split into.
func CheckQuota(in Input) []Violation {
	n := len(in.Partitions)
	staging := n
	if in.Seed {
		staging++
	}
	var out []Violation
	if n > pacing.TablePartitionLimit {
		out = append(out, Violation{RuleDailyQuota, fmt.Sprintf("the backfill has %d partitions; a BigQuery table holds at most %d: split the entry into date ranges of at most %d partitions", n, pacing.TablePartitionLimit, pacing.TablePartitionLimit)})
	}
	if staging > pacing.DailyPartitionModifications || (in.Promotion != config.PromoteAtomic && n > pacing.DailyPartitionModifications) {
		out = append(out, Violation{RuleDailyQuota, fmt.Sprintf("the backfill writes %d partitions of one table; BigQuery allows %d partition modifications per table per day: split the entry into date ranges of at most %d partitions, run a day apart", staging, pacing.DailyPartitionModifications, pacing.DailyPartitionModifications-1)})
	}
	return out
}

// CheckMaxBytes refuses an estimate over the guard (maxBytes 0: no guard).
func CheckMaxBytes(e *Estimate, maxBytes int64) []Violation {
	total := e.Total()
	if maxBytes <= 0 || total <= maxBytes {
		return nil
	}
	return []Violation{{RuleMaxBytes, fmt.Sprintf("the backfill is estimated to process %d bytes (%s), more than max_bytes_per_backfill %d bytes (%s) in %s",
		total, HumanBytes(total), maxBytes, HumanBytes(maxBytes), config.FileName)}}
}

// Total is every byte the backfill is estimated to process: the partition
// queries, the promotion and the profile.
func (e *Estimate) Total() int64 { return e.Bytes + e.PromotionBytes + e.ProfileBytes }

// HumanBytes formats n in binary units ("1.5 GiB").
func HumanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 5; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// Duration formats a MinDurationS for people.
func Duration(s float64) string {
	return (time.Duration(s * float64(time.Second))).Round(time.Second).String()
}

// USD formats a price: cents, or more digits below a cent.
func USD(v float64) string {
	if v > 0 && v < 0.01 {
		return fmt.Sprintf("$%.6f", v)
	}
	return fmt.Sprintf("$%.2f", v)
}
