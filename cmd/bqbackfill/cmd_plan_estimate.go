package main

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/spf13/pflag"

	"github.com/bqbackfill/bqbackfill/shared/backfill"
	"github.com/bqbackfill/bqbackfill/shared/config"
	"github.com/bqbackfill/bqbackfill/shared/estimate"
	"github.com/bqbackfill/bqbackfill/shared/pipeline"
	"github.com/bqbackfill/bqbackfill/shared/warehouse"
	bqwarehouse "github.com/bqbackfill/bqbackfill/shared/warehouse/bigquery"
	"github.com/bqbackfill/bqbackfill/shared/warehouse/duckdb"
)

// estimateFlags choose the warehouse plan dry-runs the entry on.
type estimateFlags struct {
	stateDir string
	bigquery bool
}

func (f *estimateFlags) add(fs *pflag.FlagSet) {
	fs.StringVar(&f.stateDir, "state-dir", ".bqbackfill", "estimate on the local warehouse under this directory (table sizes)")
	fs.BoolVar(&f.bigquery, "bigquery", false, "estimate with BigQuery dry runs (default credentials, billed to the entry's billing project; dry runs are free)")
}

// planEstimate estimates the planned entry and checks it against the
// daily partition quota (Q1) and max_bytes_per_backfill (Q2). The estimate
// is nil, with a note saying why, when there is no warehouse to ask.
func planEstimate(ctx context.Context, f estimateFlags, spec *pipeline.Spec, settings config.Settings) (*estimate.Estimate, []backfill.Error, string, error) {
	p := &spec.Plan
	in := pipeline.EstimateInput(spec, settings.PricePerTiBUSD)
	var problems []backfill.Error
	add := func(vs []estimate.Violation) {
		for _, v := range vs {
			problems = append(problems, backfill.Error{Rule: v.Rule, File: config.FileName, EntryDate: p.EntryDate.String(), Message: v.Message})
		}
	}
	add(estimate.CheckQuota(in))

	var w warehouse.Warehouse
	switch {
	case f.bigquery:
		bq, err := bqwarehouse.New(ctx, p.BillingProject)
		if err != nil {
			return nil, problems, "", fmt.Errorf("connect to BigQuery for the estimate: %w", err)
		}
		defer bq.Close()
		w = bq
	default:
		dir := warehouseDir(f.stateDir)
		if !isDir(filepath.Join(dir, "projects")) && !isDir(dir) {
			return nil, problems, fmt.Sprintf("no estimate: no local warehouse under %s (pass --state-dir DIR or --bigquery)", f.stateDir), nil
		}
		dw, err := duckdb.Open(dir, nil)
		if err != nil {
			return nil, problems, "", fmt.Errorf("open the local warehouse for the estimate: %w", err)
		}
		defer dw.Close()
		w = dw
	}
	e, err := estimate.Make(ctx, w, in)
	if err != nil {
		return nil, problems, fmt.Sprintf("no estimate: %v", err), nil
	}
	if !f.bigquery {
		e.Note += "; on the local warehouse a dry run costs the whole tables it reads, an upper bound"
	}
	add(estimate.CheckMaxBytes(e, settings.MaxBytesPerBackfill))
	return e, problems, e.Note, nil
}

// printEstimate writes the estimate block of plan's text output.
func printEstimate(io IO, e *estimate.Estimate, note string) {
	w := io.Out
	if e == nil {
		if note != "" {
			fmt.Fprintln(w, "  estimate:          "+note)
		}
		return
	}
	row := func(k, v string) { fmt.Fprintf(w, "  %-18s %s\n", k+":", v) }
	row("bytes processed", fmt.Sprintf("%s (%d bytes)", estimate.HumanBytes(e.Bytes), e.Bytes))
	row("promotion", fmt.Sprintf("%s, reads %s (%d bytes)", e.Promotion, estimate.HumanBytes(e.PromotionBytes), e.PromotionBytes))
	row("profile query", fmt.Sprintf("reads %s (%d bytes)", estimate.HumanBytes(e.ProfileBytes), e.ProfileBytes))
	row("cost", estimate.USD(e.USD)+" at on-demand prices (each query billed at least 10 MB)")
	row("jobs", fmt.Sprintf("%d", e.Jobs))
	row("min duration", fmt.Sprintf("%s (BigQuery's 50 partition operations per 10 s per table)", estimate.Duration(e.MinDurationS)))
	row("estimated from", note)
}
