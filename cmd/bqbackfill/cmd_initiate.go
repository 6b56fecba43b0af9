package main

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/bqbackfill/bqbackfill/shared/pipeline"
)

func init() {
	register(func(io IO) *cobra.Command {
		return newPhaseCmd(io, "initiate", "Run one table's Initiate entry into staging, in process (local mode)", pipeline.StatusInitiate, localRun)
	})
}

// newPhaseCmd builds initiate or complete: one phase (the entries with
// status) of one table, run in process.
func newPhaseCmd(io IO, use, short, status string, runF func(context.Context, *localRunOptions) error) *cobra.Command {
	o := &localRunOptions{IO: io}
	o.Filter.Status = status
	o.Stack.mustExist = status == pipeline.StatusComplete // completes what initiate staged
	cmd := &cobra.Command{
		Use:   use + " TABLE",
		Short: short,
		RunE: func(cmd *cobra.Command, args []string) error {
			t, err := parseOneTable(args, use)
			if err != nil {
				return err
			}
			o.Filter.Tables = append(o.Filter.Tables[:0], t)
			if err := o.check(); err != nil {
				return err
			}
			return runF(cmd.Context(), o)
		},
	}
	o.add(cmd.Flags())
	cmd.Flags().StringVar(&o.Filter.Target, "target", "", "stage into the target project of bqbackfill.yaml and swap the target-deployed copy instead of production")
	if status == pipeline.StatusComplete {
		cmd.Long = short + `.

A completion that stopped part-way (a permission denied mid-swap) resumes
where it stopped. A completion refused because partitions the workers
wrote rows for are empty or missing in staging goes on only with
--allow-empty, which confirms that production loses those partitions'
rows (the swap empties them); 'bqbackfill retry TABLE' re-runs them
instead.`
		cmd.Flags().BoolVar(&o.AllowEmpty, "allow-empty", false, "confirm that production partitions found empty in staging (the refusal names them) are emptied by the swap")
	}
	return cmd
}
