package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/bqbackfill/bqbackfill/shared/cloudenv"
)

func init() {
	register(func(io IO) *cobra.Command { return newRollbackCmd(io, rollbackRun) })
}

func newRollbackCmd(io IO, runF func(context.Context, *ledgerOpOptions) error) *cobra.Command {
	return newLedgerOpCmd(io, "rollback", "Restore the partitions a completed backfill swapped in, from its backup", runF)
}

func rollbackRun(ctx context.Context, o *ledgerOpOptions) error {
	be, err := o.Backend.open(ctx, o.IO, cloudenv.Requirement{cloudenv.VarLedgerBucket})
	if err != nil {
		return err
	}
	defer be.close()
	id, n, err := be.pipeline.Rollback(ctx, o.Table)
	if err != nil {
		return err
	}
	fmt.Fprintf(o.IO.Out, "%s: restored %d partition(s) of %s from the backup.\n", id, n, o.Table)
	return nil
}
