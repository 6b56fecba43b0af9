package pipeline

import (
	"context"
	"fmt"
	"strings"

	"github.com/bqbackfill/bqbackfill/shared/estimate"
	"github.com/bqbackfill/bqbackfill/shared/notify"
)

// EstimateInput describes spec to the estimator. A depends_on_past query
// reads staging, which does not exist before the start; it is dry-run
// against production instead, which holds the same partitions.
func EstimateInput(spec *Spec, pricePerTiBUSD float64) estimate.Input {
	in := estimate.Input{
		Query: spec.SQL, Dest: spec.SwapDestination, WholeTable: spec.WholeTableSwap, Seed: spec.SeedID() != "",
		DefaultProject: spec.DefaultProject, DefaultDataset: spec.DefaultDataset, BillingProject: spec.BillingProject,
		Promotion: spec.Promotion, PricePerTiBUSD: pricePerTiBUSD,
		Profiled: spec.Effective, // as topChanges profiles it
	}
	if spec.Sequential {
		in.Query = strings.ReplaceAll(in.Query, spec.Staging.String(), spec.Effective.String())
	}
	for _, ps := range spec.Partitions {
		in.Partitions = append(in.Partitions, estimate.Partition{Dest: ps.ID, Params: ps.Params})
	}
	return in
}

// estimate checks a planned backfill against the daily partition quota
// (Q1), estimates its cost into spec.Estimate, and checks the estimate
// against maxBytes (Q2). An estimate that cannot be made (a dry run
// failed) is logged, not a refusal: the start reports a missing table
// itself, and a query that fails its dry run fails its partitions clearly.
// A guard that cannot be checked refuses, though: max_bytes_per_backfill
// promises that nothing bigger starts.
func (p *Pipeline) estimate(ctx context.Context, spec *Spec, pricePerTiBUSD float64, maxBytes int64) []notify.RuleViolation {
	in := EstimateInput(spec, pricePerTiBUSD)
	var out []notify.RuleViolation
	for _, v := range estimate.CheckQuota(in) {
		out = append(out, notify.RuleViolation{Rule: v.Rule, Message: v.Message})
	}
	if p.Warehouse == nil {
		return out
	}
	e, err := estimate.Make(ctx, p.Warehouse, in)
	if err != nil {
		p.log().Warn("could not estimate the backfill's cost", "backfill_id", spec.ID(), "error", err.Error())
		if maxBytes > 0 {
			out = append(out, notify.RuleViolation{Rule: estimate.RuleMaxBytes, Message: fmt.Sprintf("max_bytes_per_backfill is set but the backfill could not be estimated: %v", err)})
		}
		return out
	}
	spec.Estimate = e
	for _, v := range estimate.CheckMaxBytes(e, maxBytes) {
		out = append(out, notify.RuleViolation{Rule: v.Rule, Message: v.Message})
	}
	return out
}

// EstimateText is the estimate of a backfill of n partitions in one line
// for people.
func EstimateText(e *estimate.Estimate, n int) string {
	how := ""
	if e.Sampled {
		how = fmt.Sprintf(" (sampled: %d partitions dry-run, extrapolated)", e.SampledPartitions)
	}
	return fmt.Sprintf("Estimate: %d partitions, %s processed%s, promotion %s reading %s, profile query %s, %s at on-demand prices, %d jobs, at least %s at BigQuery's per-table rate.",
		n, estimate.HumanBytes(e.Bytes), how, e.Promotion, estimate.HumanBytes(e.PromotionBytes), estimate.HumanBytes(e.ProfileBytes), estimate.USD(e.USD), e.Jobs, estimate.Duration(e.MinDurationS))
}
