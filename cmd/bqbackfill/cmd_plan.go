package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"cloud.google.com/go/civil"
	"github.com/spf13/cobra"

	"github.com/bqbackfill/bqbackfill/shared/backfill"
	"github.com/bqbackfill/bqbackfill/shared/estimate"
	"github.com/bqbackfill/bqbackfill/shared/treescan"
	"github.com/bqbackfill/bqbackfill/shared/warehouse"
)

func init() {
	register(func(io IO) *cobra.Command { return newPlanCmd(io, planRun) })
}

// planOptions are plan's parsed command line.
type planOptions struct {
	IO        IO
	Tree      treeFlags
	Today     civil.Date
	Target    string
	EntryDate *civil.Date // nil: the Initiate entry, else the newest
	Table     warehouse.TableRef
	// ShowQuery prints the SQL each partition runs (the generated query
	// under shredder mitigation, with its checks).
	ShowQuery bool
	// Estimate chooses the warehouse of the cost estimate.
	Estimate estimateFlags
}

func newPlanCmd(io IO, runF func(context.Context, *planOptions) error) *cobra.Command {
	o := &planOptions{IO: io}
	var today, entryDate string
	cmd := &cobra.Command{
		Use:   "plan TABLE",
		Short: "Show the partitions, order, seed, staging/backup names and billing project of an entry",
		RunE: func(cmd *cobra.Command, args []string) error {
			var err error
			if o.Table, err = parseOneTable(args, "plan"); err != nil {
				return err
			}
			if o.Today, err = parseToday(today); err != nil {
				return err
			}
			if entryDate != "" {
				d, err := parseDate(entryDate, "--entry-date")
				if err != nil {
					return err
				}
				o.EntryDate = &d
			}
			return runF(cmd.Context(), o)
		},
	}
	fs := cmd.Flags()
	o.Tree.add(fs, false)
	addToday(fs, &today)
	fs.StringVar(&o.Target, "target", "", "plan against this target of bqbackfill.yaml (staging in its project, the target-deployed table swapped)")
	fs.StringVar(&entryDate, "entry-date", "", "the entry to plan (default: the Initiate entry, else the newest)")
	o.Estimate.add(fs)
	fs.BoolVar(&o.ShowQuery, "show-query", false, "print the SQL each partition runs (under shredder mitigation: the generated query and checks)")
	return cmd
}

// planOutput is plan --json: the plan's fields plus the entry's validation.
type planOutput struct {
	Plan     *backfill.Plan   `json:"-"`
	Valid    bool             `json:"valid"`
	Errors   []backfill.Error `json:"errors"`
	Warnings []backfill.Error `json:"validation_warnings"`
	Query    *shownQuery      `json:"query_sql,omitempty"`
	// Estimate is null when there is no warehouse to estimate on.
	Estimate *estimate.Estimate `json:"estimate"`
}

// MarshalJSON writes the plan's fields followed by valid, errors and
// validation_warnings.
func (o planOutput) MarshalJSON() ([]byte, error) {
	base, err := o.Plan.MarshalJSON()
	if err != nil {
		return nil, err
	}
	type extra planOutput
	return mergeJSONObjects(base, extra(o))
}

// pickEntry chooses the entry to plan: the given date, else the Initiate
// entry, else the newest.
func pickEntry(t *backfill.Table, date *civil.Date) (*backfill.Entry, error) {
	f := t.File
	if f == nil || len(f.Entries) == 0 {
		if len(t.FileErrors) > 0 {
			return nil, fmt.Errorf("%s cannot be read: %s", t.Path(backfill.FileName), t.FileErrors[0].Error())
		}
		return nil, fmt.Errorf("%s has no backfill entries (%s)", t.Ref, t.Path(backfill.FileName))
	}
	if date != nil {
		if e := f.Entry(*date); e != nil {
			return e, nil
		}
		return nil, fmt.Errorf("%s has no entry with entry date %s", t.Path(backfill.FileName), *date)
	}
	if in := f.WithStatus(backfill.Initiate); len(in) > 0 {
		return in[0], nil
	}
	return f.Entries[0], nil
}

func planRun(ctx context.Context, o *planOptions) error {
	io, today := o.IO, o.Today
	tree, settings, err := openTree(o.Tree.sqlDir)
	if err != nil {
		return err
	}
	tgt, err := lookupTarget(settings, o.Target)
	if err != nil {
		return err
	}
	loaded, err := loadTables(ctx, tree, []warehouse.TableRef{o.Table}, "")
	if err != nil {
		return err
	}
	if len(loaded.missing) > 0 {
		return fmt.Errorf("%s does not exist under %s", loaded.missing[0], tree.Display(""))
	}
	if len(loaded.problems) > 0 {
		return errors.New(loaded.problems[0].Error())
	}
	tables := loaded.tables
	t := tables[0]
	e, err := pickEntry(t, o.EntryDate)
	if err != nil {
		return err
	}
	res := backfill.Validate(t, backfill.Options{Today: today, Settings: settings, CheckPython: backfill.PythonSyntax()})
	errs := res.ErrorsFor(e.EntryDate)
	var warns []backfill.Error
	for _, w := range res.Warnings {
		if w.EntryDate == e.Key() {
			warns = append(warns, w)
		}
	}
	p, planErr := backfill.NewPlan(t, e, settings, tgt)
	if planErr != nil {
		for _, v := range errs {
			fmt.Fprintln(io.Err, v.Error())
		}
		return planErr
	}
	// One spec, as the scanner builds it, for the estimate and the query
	// shown: what plan prints is what runs.
	spec, err := treescan.SpecFromPlan(t, p, settings, "")
	if err != nil {
		return fmt.Errorf("plan %s entry %s: %w", p.Table, p.EntryDate, err)
	}
	est, costErrs, note, err := planEstimate(ctx, o.Estimate, spec, settings)
	if err != nil {
		return err
	}
	errs = append(errs, costErrs...)
	var shown *shownQuery
	if o.ShowQuery {
		shown = showQuery(spec)
	}
	if o.Tree.json {
		out := planOutput{Plan: p, Valid: len(errs) == 0, Errors: errs, Warnings: warns, Query: shown, Estimate: est}
		if out.Errors == nil {
			out.Errors = []backfill.Error{}
		}
		if out.Warnings == nil {
			out.Warnings = []backfill.Error{}
		}
		if err := writeJSON(io.Out, out); err != nil {
			return err
		}
	} else {
		printPlan(io, p)
		printEstimate(io, est, note)
		if shown != nil {
			printQuery(io, shown)
		}
		for _, w := range warns {
			fmt.Fprintln(io.Out, "warning: "+w.Error())
		}
		for _, v := range errs {
			fmt.Fprintln(io.Out, v.Error())
		}
		if len(errs) > 0 {
			fmt.Fprintf(io.Out, "The entry is not valid (%d problem(s) above): it will not run until they are fixed.\n", len(errs))
		}
	}
	if len(errs) > 0 {
		return errSilent
	}
	return nil
}

func printPlan(io IO, p *backfill.Plan) {
	w := io.Out
	row := func(k, v string) { fmt.Fprintf(w, "  %-18s %s\n", k+":", v) }
	fmt.Fprintf(w, "Plan for %s, entry %s (%s)\n", p.Table, p.EntryDate, p.Status)
	if p.Target != "" {
		row("target", p.Target)
	}
	q := string(p.Query.Kind) + " " + p.Query.Path
	if p.Query.Custom {
		q += " (custom_query_path)"
	}
	if p.Query.Kind == backfill.QueryPython {
		q += fmt.Sprintf(", entrypoint %s, --%s DATE %s", p.Query.Entrypoint, p.Query.DateArg, strings.Join(p.Query.Args, " "))
	}
	row("query", q)
	part := "none (unpartitioned)"
	if p.PartitionType != "" {
		part = fmt.Sprintf("%s on %s", p.PartitionType, p.PartitionField)
		if p.Offset != 0 {
			part += fmt.Sprintf(", offset %+d days", p.Offset)
		}
	}
	row("partitioning", part)
	order := fmt.Sprintf("parallel, %d job(s)", len(p.Partitions))
	if p.Sequential {
		order = fmt.Sprintf("sequential (depends_on_past), %d job(s) in date order", len(p.Partitions))
	}
	if p.ReinitializeBatchSize > 0 {
		order = fmt.Sprintf("reinitialize: the is_init() query over sample_id in batches of %d", p.ReinitializeBatchSize)
	}
	row("order", order)
	if p.Seed != nil {
		row("seed", fmt.Sprintf("%s$%s (%s) copied into staging first", p.Seed.Source, p.Seed.ID, p.Seed.Date))
	}
	row("staging table", p.Staging.String())
	row("backup table", p.Backup.String())
	if p.Effective != p.Table {
		row("effective table", p.Effective.String())
	}
	row("swap destination", p.SwapDestination.String())
	swap := "partition by partition"
	if p.WholeTableSwap {
		swap = "the whole table"
	}
	row("swap", swap)
	row("billing project", p.BillingProject)
	if p.Shredder != nil {
		row("shredder", "mitigation: the generated query and its two #fail checks run per partition")
		for _, l := range p.Shredder.Summary() {
			fmt.Fprintln(w, "    "+l)
		}
	}
	fmt.Fprintln(w, "  partitions:")
	for _, pt := range p.Partitions {
		id := pt.ID
		if id == "" {
			id = "(whole table)"
		}
		var params []string
		for _, pr := range pt.Params {
			params = append(params, fmt.Sprintf("%s=%s", pr.Name, pr.Value))
		}
		if p.Query.Kind == backfill.QueryPython {
			params = append(params, fmt.Sprintf("--%s %s", pt.ParamName, pt.ParamValue))
		}
		fmt.Fprintf(w, "    %-14s %s  %s\n", id, pt.Date, strings.Join(params, " "))
	}
	for _, warn := range p.Warnings {
		fmt.Fprintln(w, "note: "+warn)
	}
}
