package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/bqbackfill/bqbackfill/shared/cloudenv"
	"github.com/bqbackfill/bqbackfill/shared/ledger"
)

func init() {
	register(func(io IO) *cobra.Command { return newConfirmEmptyCmd(io, confirmEmptyRun) })
}

// confirm-empty is a ledger operation like retry and rollback (local state
// directory, or a deployment when a ledger bucket is given), not a flag of
// complete, which runs a phase in process and so is local only.
func newConfirmEmptyCmd(io IO, runF func(context.Context, *ledgerOpOptions) error) *cobra.Command {
	return newLedgerOpCmd(io, "confirm-empty", "Confirm that a completion refused for partitions empty in staging (staging_lost) empties them in production, and request it again", runF)
}

func confirmEmptyRun(ctx context.Context, o *ledgerOpOptions) error {
	be, err := o.Backend.open(ctx, o.IO, cloudenv.Requirement{cloudenv.VarLedgerBucket, cloudenv.VarCompleteTopic, cloudenv.VarEventsTopic})
	if err != nil {
		return err
	}
	defer be.close()
	id, confirmed, err := be.pipeline.ConfirmEmpty(ctx, o.Table)
	if err != nil {
		return err
	}
	fmt.Fprintf(o.IO.Out, "%s: confirmed: the swap empties %d production partition(s) that are empty in staging: %s\n", id, len(confirmed), strings.Join(confirmed, ", "))
	bf, err := be.outcome(ctx, id, "completion")
	if err != nil {
		return err
	}
	if bf == nil {
		fmt.Fprintf(o.IO.Out, "%s: completion requested; follow it with 'bqbackfill status %s'.\n", id, o.Table)
		return nil // production: the complete function swaps
	}
	if bf.State != ledger.StateCompleted {
		return fmt.Errorf("%s: the completion did not finish (state %s): %s", id, bf.State, bf.LastError)
	}
	fmt.Fprintf(o.IO.Out, "%s: %s.\n", id, bf.State)
	return nil
}
