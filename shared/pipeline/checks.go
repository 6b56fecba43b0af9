package pipeline

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/bqbackfill/bqbackfill/shared/backfill"
	"github.com/bqbackfill/bqbackfill/shared/notify"
	"github.com/bqbackfill/bqbackfill/shared/profile"
	"github.com/bqbackfill/bqbackfill/shared/warehouse"
)

// ChecksFile is one data-checks file stored in the Spec when the backfill
// starts (so a push after the start changes nothing): the table's
// checks.sql, or generated checks such as shredder mitigation's.
type ChecksFile struct {
	Name string `json:"name"` // for messages: "checks.sql"
	SQL  string `json:"sql"`  // the template, unrendered
}

// Checker renders and runs one checks file against the table checked
// (target: staging) with the partition's parameters and job settings, and
// returns the failed #fail checks (blocking) and the failed #warn checks,
// each as a message naming the check. An error means no verdict (the
// warehouse was unreachable, the context ended): the partition is retried.
// shared/checks.Gate implements it. Decision: rendering happens here, in
// the worker, not in the scanner, because a template may use the
// partition's parameters as Jinja variables ({{ submission_date }}) and one
// rendering per partition would bloat the Spec.
type Checker interface {
	RunChecks(ctx context.Context, src string, table, target warehouse.TableRef, job warehouse.QueryJob) (failed, warned []string, err error)
}

// errChecksFailed marks a partition whose #fail checks failed: permanent,
// re-running the same query gives the same data.
var errChecksFailed = errors.New("data checks failed")

// runChecks runs the Spec's checks against the partition just written to
// staging (the whole staging table for a whole-table job). A failing #fail
// check returns a FailedPrecondition error carrying every failed check's
// message; failed #warn checks are returned as warnings.
func (p *Pipeline) runChecks(ctx context.Context, spec *Spec, part backfill.Partition) ([]string, error) {
	if p.Checker == nil || len(spec.Checks) == 0 {
		return nil, nil
	}
	job := warehouse.QueryJob{Params: part.Params, BillingProject: spec.BillingProject, DefaultProject: spec.DefaultProject,
		Labels: map[string]string{"bqbackfill": "checks"}}
	var failed, warned []string
	for _, f := range spec.Checks {
		fl, wr, err := p.Checker.RunChecks(ctx, f.SQL, spec.Table, spec.Staging, job)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f.Name, err)
		}
		for _, m := range fl {
			failed = append(failed, f.Name+" "+m)
		}
		for _, m := range wr {
			warned = append(warned, f.Name+" "+m)
		}
	}
	if len(failed) > 0 {
		return warned, &warehouse.Error{Code: warehouse.FailedPrecondition, Op: "checks",
			Err: fmt.Errorf("%w on partition %s: %s", errChecksFailed, part.ID, strings.Join(failed, "; "))}
	}
	return warned, nil
}

// checkWarnings collects the #warn failures of the partitions warned (the
// records whose metadata says they hold some) for the "done" report.
// Advisory: a failure to read is logged.
func (p *Pipeline) checkWarnings(ctx context.Context, spec *Spec, id string, warned []string) []notify.PartitionWarning {
	if len(spec.Checks) == 0 || len(warned) == 0 {
		return nil
	}
	recs, err := p.Ledger.ReadPartitions(ctx, id, warned)
	if err != nil {
		p.log().Warn("read check warnings for the report", "backfill_id", id, "error", err.Error())
		return nil
	}
	var out []notify.PartitionWarning
	for _, r := range recs {
		for _, w := range r.Warnings {
			out = append(out, notify.PartitionWarning{Partition: r.ID, Warning: w})
		}
	}
	return out
}

// topChanges profiles staging against production (one query) for the
// "done" report: the five largest changes. Advisory: an error is logged.
func (p *Pipeline) topChanges(ctx context.Context, spec *Spec) []string {
	parts := make([]string, 0, len(spec.Partitions))
	for _, ps := range spec.Partitions {
		parts = append(parts, ps.ID)
	}
	cs, err := profile.Run(ctx, p.Warehouse, profile.Options{Staging: spec.Staging, Production: spec.Effective, Partitions: parts, BillingProject: spec.BillingProject})
	if err != nil {
		p.log().Warn("profile staging for the report", "table", spec.Table.String(), "error", err.Error())
		return nil
	}
	var out []string
	for _, c := range profile.Sorted(cs) {
		if len(out) == 5 || !c.Changed() {
			break
		}
		out = append(out, c.String())
	}
	return out
}
