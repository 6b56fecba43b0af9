package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/bqbackfill/bqbackfill/shared/cloudenv"
	"github.com/bqbackfill/bqbackfill/shared/profile"
	"github.com/bqbackfill/bqbackfill/shared/warehouse"
)

func init() {
	register(func(io IO) *cobra.Command { return newDiffCmd(io, diffRun) })
}

// diffOptions are diff's parsed command line.
type diffOptions struct {
	IO      IO
	Backend backendFlags
	Table   warehouse.TableRef
	JSON    bool
}

func newDiffCmd(io IO, runF func(context.Context, *diffOptions) error) *cobra.Command {
	o := &diffOptions{IO: io}
	cmd := &cobra.Command{
		Use:   "diff TABLE",
		Short: "Compare the backfill's staging table with production per partition, largest changes first",
		RunE: func(cmd *cobra.Command, args []string) error {
			var err error
			if o.Table, err = parseOneTable(args, "diff"); err != nil {
				return err
			}
			return runF(cmd.Context(), o)
		},
	}
	o.Backend.add(cmd.Flags())
	cmd.Flags().BoolVar(&o.JSON, "json", false, "print JSON (see docs/cli-json.md)")
	return cmd
}

func diffRun(ctx context.Context, o *diffOptions) error {
	be, err := o.Backend.open(ctx, o.IO, cloudenv.Requirement{cloudenv.VarLedgerBucket})
	if err != nil {
		return err
	}
	defer be.close()
	spec, err := latestSpec(ctx, be, o.Table)
	if err != nil {
		return err
	}
	parts := make([]string, 0, len(spec.Partitions))
	for _, p := range spec.Partitions {
		parts = append(parts, p.ID)
	}
	cs, err := profile.Run(ctx, be.pipeline.Warehouse, profile.Options{Staging: spec.Staging, Production: spec.Effective, Partitions: parts, BillingProject: spec.BillingProject})
	if err != nil {
		return err
	}
	cs = profile.Sorted(cs)
	if o.JSON {
		if cs == nil {
			cs = []profile.Change{}
		}
		return writeJSON(o.IO.Out, cs)
	}
	fmt.Fprintf(o.IO.Out, "%s: production %s → staging %s\n", o.Table, spec.Effective, spec.Staging)
	for _, c := range cs {
		fmt.Fprintln(o.IO.Out, c.String())
	}
	return nil
}
