package main

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/bqbackfill/bqbackfill/shared/backfill"
	"github.com/bqbackfill/bqbackfill/shared/checks"
	"github.com/bqbackfill/bqbackfill/shared/cloudenv"
	"github.com/bqbackfill/bqbackfill/shared/pipeline"
	"github.com/bqbackfill/bqbackfill/shared/warehouse"
)

func init() {
	register(func(io IO) *cobra.Command { return newCheckCmd(io, checkRun) })
}

// checkOptions are check's parsed command line.
type checkOptions struct {
	IO         IO
	Backend    backendFlags
	Table      warehouse.TableRef
	Partition  string // a date or decorator; "" = every partition
	Production bool
	JSON       bool
}

func newCheckCmd(io IO, runF func(context.Context, *checkOptions) error) *cobra.Command {
	o := &checkOptions{IO: io}
	cmd := &cobra.Command{
		Use:   "check TABLE",
		Short: "Render and run the table's data checks (checks.sql) against its backfill's staging table, or production",
		RunE: func(cmd *cobra.Command, args []string) error {
			var err error
			if o.Table, err = parseOneTable(args, "check"); err != nil {
				return err
			}
			return runF(cmd.Context(), o)
		},
	}
	o.Backend.add(cmd.Flags())
	cmd.Flags().StringVar(&o.Partition, "partition", "", "only this partition (YYYY-MM-DD or its decorator)")
	cmd.Flags().BoolVar(&o.Production, "production", false, "check the production table instead of staging")
	cmd.Flags().BoolVar(&o.JSON, "json", false, "print JSON (see docs/cli-json.md)")
	return cmd
}

// checkRow is one check's outcome on one partition (docs/cli-json.md).
type checkRow struct {
	Partition string `json:"partition"`
	File      string `json:"file"`
	checks.Result
}

func checkRun(ctx context.Context, o *checkOptions) error {
	be, err := o.Backend.open(ctx, o.IO, cloudenv.Requirement{cloudenv.VarLedgerBucket})
	if err != nil {
		return err
	}
	defer be.close()
	spec, err := latestSpec(ctx, be, o.Table)
	if err != nil {
		return err
	}
	parts, err := selectPartitions(spec, o.Partition)
	if err != nil {
		return err
	}
	target := spec.Staging
	if o.Production {
		target = spec.Effective
	}
	rows := []checkRow{}
	failed := false
	for _, part := range parts {
		for _, f := range spec.Checks {
			cs, err := checks.Prepare(f.SQL, checks.Options{Table: spec.Table, Target: target, Params: part.Params})
			if err != nil {
				return fmt.Errorf("%s: %w", f.Name, err)
			}
			rs, err := checks.Run(ctx, be.pipeline.Warehouse, cs, warehouse.QueryJob{Params: part.Params, BillingProject: spec.BillingProject, DefaultProject: spec.DefaultProject})
			if err != nil {
				return err
			}
			for _, r := range rs {
				rows = append(rows, checkRow{Partition: pipeline.PartitionID(part), File: f.Name, Result: r})
				failed = failed || r.Blocking()
			}
		}
	}
	if o.JSON {
		if err := writeJSON(o.IO.Out, rows); err != nil {
			return err
		}
	} else {
		if len(spec.Checks) == 0 {
			fmt.Fprintf(o.IO.Out, "%s has no checks.sql.\n", o.Table)
		}
		for _, r := range rows {
			fmt.Fprintf(o.IO.Out, "%s  %s %s\n", r.Partition, r.File, r.Result)
		}
	}
	if failed {
		return errSilent
	}
	return nil
}

// latestSpec reads the Spec of the table's latest backfill.
func latestSpec(ctx context.Context, be *backend, table warehouse.TableRef) (*pipeline.Spec, error) {
	all, err := be.ledger.ListTable(ctx, table.String())
	if err != nil {
		return nil, fmt.Errorf("read ledger: %w", err)
	}
	if len(all) == 0 {
		return nil, fmt.Errorf("%s has no backfill in the ledger: check and diff work on a started backfill's staging table", table)
	}
	raw, err := be.ledger.Spec(ctx, all[len(all)-1].ID)
	if err != nil {
		return nil, fmt.Errorf("read the spec of %s: %w", all[len(all)-1].ID, err)
	}
	var s pipeline.Spec
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, fmt.Errorf("decode the spec of %s: %w", all[len(all)-1].ID, err)
	}
	return &s, nil
}

// selectPartitions returns the spec's partitions, or the one named by a
// date or decorator.
func selectPartitions(spec *pipeline.Spec, want string) ([]backfill.Partition, error) {
	if want == "" {
		return spec.Partitions, nil
	}
	for _, p := range spec.Partitions {
		if p.Date.String() == want || pipeline.PartitionID(p) == want || p.ID == want {
			return []backfill.Partition{p}, nil
		}
	}
	return nil, usagef("--partition %s is not a partition of the backfill %s/%s (give a date YYYY-MM-DD or a decorator)", want, spec.Table, spec.EntryDate)
}
