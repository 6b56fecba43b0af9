package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/bqbackfill/bqbackfill/shared/cloudenv"
)

func init() {
	register(func(io IO) *cobra.Command { return newRetryCmd(io, retryRun) })
}

func newRetryCmd(io IO, runF func(context.Context, *ledgerOpOptions) error) *cobra.Command {
	return newLedgerOpCmd(io, "retry", "Re-run the failed partitions of a table's failed backfill (staging kept)", runF)
}

func retryRun(ctx context.Context, o *ledgerOpOptions) error {
	be, err := o.Backend.open(ctx, o.IO, cloudenv.Requirement{cloudenv.VarLedgerBucket, cloudenv.VarPartitionsTopic, cloudenv.VarEventsTopic})
	if err != nil {
		return err
	}
	defer be.close()
	id, n, err := be.pipeline.Retry(ctx, o.Table)
	if err != nil {
		return err
	}
	if n == 0 {
		fmt.Fprintf(o.IO.Out, "%s: completion will be requested again on the next scan.\n", id)
	} else {
		fmt.Fprintf(o.IO.Out, "%s: re-queued %d failed partition(s); staging and finished partitions are kept.\n", id, n)
	}
	return nil
}
