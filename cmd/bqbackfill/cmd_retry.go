package main

import (
	"context"
	"fmt"
	"io"
	"slices"

	"github.com/spf13/cobra"

	"github.com/bqbackfill/bqbackfill/shared/cloudenv"
	"github.com/bqbackfill/bqbackfill/shared/ledger"
	"github.com/bqbackfill/bqbackfill/shared/notify"
	"github.com/bqbackfill/bqbackfill/shared/pipeline"
	"github.com/bqbackfill/bqbackfill/shared/warehouse"
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
	res, err := be.pipeline.RetryReport(ctx, o.Table)
	if err != nil {
		return err
	}
	warnPermanentFailures(o.IO.Err, res, o.Table)
	id, n := res.ID, len(res.Rerun)
	if n == 0 {
		fmt.Fprintf(o.IO.Out, "%s: completion will be requested again on the next scan.\n", id)
		return nil
	}
	fmt.Fprintf(o.IO.Out, "%s: re-queued %d failed partition(s); staging and finished partitions are kept.\n", id, n)
	fmt.Fprintf(o.IO.Out, "Retry re-runs the query recorded when the backfill started: a changed query.sql is not used. To run a changed query, add a new entry (a later entry date) with status: Initiate.\n")
	bf, err := be.outcome(ctx, id, "retry")
	if err != nil || bf == nil {
		return err // nil in production: the workers report through notifications and status
	}
	if bf.State != ledger.StateFailed {
		fmt.Fprintf(o.IO.Out, "%s: %s.\n", id, bf.State)
		return nil
	}
	fmt.Fprintf(o.IO.Err, "%s failed again: %s\n", id, bf.LastError)
	fmt.Fprintf(o.IO.Err, "Retrying again re-runs the same recorded query; if the query is wrong, fix it and add a new entry.\n")
	return errSilent
}

// warnPermanentFailures says which of the partitions queued again had
// failed in a way the same query cannot get past (a query or schema
// error): retry re-runs the query recorded at the start. Advisory: the
// retry goes on (the user may have fixed a table the query reads).
func warnPermanentFailures(w io.Writer, res pipeline.Retried, table warehouse.TableRef) {
	kinds := make([]notify.FailureKind, len(res.Rerun))
	for i, pid := range res.Rerun {
		kinds[i] = notify.FailureKind(res.Kinds[pid])
	}
	advice := notify.AdviseFailures(kinds, table.String())
	for _, k := range []notify.FailureKind{notify.FailureQuery, notify.FailureSchema} {
		if i := slices.IndexFunc(advice, func(a notify.KindAdvice) bool { return a.Kind == k }); i >= 0 {
			fmt.Fprintf(w, "Warning: %d of the failed partitions failed with a %s error. %s\n", advice[i].Count, k, advice[i].Text)
		}
	}
}
