package main

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/bqbackfill/bqbackfill/shared/cloudenv"
	"github.com/bqbackfill/bqbackfill/shared/ledger"
	"github.com/bqbackfill/bqbackfill/shared/warehouse"
)

func init() {
	register(func(io IO) *cobra.Command { return newStatusCmd(io, statusRun) })
}

// statusOptions are status's parsed command line.
type statusOptions struct {
	IO      IO
	Backend backendFlags
	JSON    bool
	Table   *warehouse.TableRef // nil: every backfill
}

func newStatusCmd(io IO, runF func(context.Context, *statusOptions) error) *cobra.Command {
	o := &statusOptions{IO: io}
	cmd := &cobra.Command{
		Use:   "status [TABLE]",
		Short: "Show the state of backfills from the ledger",
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := maxArgs(args, 1, "status", "one TABLE"); err != nil {
				return err
			}
			if len(args) == 1 {
				t, err := parseTable(args[0])
				if err != nil {
					return err
				}
				o.Table = &t
			}
			return runF(cmd.Context(), o)
		},
	}
	o.Backend.add(cmd.Flags())
	cmd.Flags().BoolVar(&o.JSON, "json", false, "print JSON (see docs/cli-json.md)")
	return cmd
}

func statusRun(ctx context.Context, o *statusOptions) error {
	o.Backend.readOnly = true // status writes nothing: it reads a read-only state directory too
	be, err := o.Backend.open(ctx, o.IO, cloudenv.Requirement{cloudenv.VarLedgerBucket})
	if err != nil {
		return err
	}
	defer be.close()
	// One table's records are listed under its prefix, not the whole bucket.
	var all []*ledger.Backfill
	if o.Table != nil {
		all, err = be.ledger.ListTable(ctx, o.Table.String())
	} else {
		all, err = be.ledger.List(ctx)
	}
	if err != nil {
		return fmt.Errorf("read ledger: %w", err)
	}
	sort.Slice(all, func(i, j int) bool { return all[i].ID < all[j].ID })
	rows := []backfillSummary{}
	now := time.Now()
	for _, b := range all {
		if o.Table != nil && b.Table != o.Table.String() {
			continue
		}
		r, err := summarize(ctx, be.ledger, b, now)
		if err != nil {
			return err
		}
		rows = append(rows, r)
	}
	out := o.IO.Out
	if o.JSON {
		return writeJSON(out, rows)
	}
	printStatus(out, rows)
	return nil
}

// printStatus writes status's text form of rows.
func printStatus(out io.Writer, rows []backfillSummary) {
	if len(rows) == 0 {
		fmt.Fprintln(out, "No backfills in the ledger.")
		return
	}
	for _, r := range rows {
		fmt.Fprintf(out, "%s\n  state: %s\n  partitions: %d done, %d failed, %d total\n", r.ID, r.State, r.Done, r.Failed, r.Partitions)
		if r.Staging != "" {
			fmt.Fprintf(out, "  staging: %s\n  backup:  %s\n", r.Staging, r.Backup)
		}
		if r.LastError != "" {
			fmt.Fprintf(out, "  last error: %s\n", strings.ReplaceAll(r.LastError, "\n", "\n    "))
		}
		if r.Held != "" {
			fmt.Fprintf(out, "  HELD: %s\n", r.Held)
		}
		if r.RollbackStartedAt != "" {
			fmt.Fprintf(out, "  rollback started: %s\n", r.RollbackStartedAt)
		}
		if r.CompletionRequests > 0 {
			fmt.Fprintf(out, "  completion requests at work: %d (last heartbeat %s); a rollback restores nothing until they stop\n", r.CompletionRequests, r.LastHeartbeat)
		}
		if r.CompletionStoppedAt != "" {
			fmt.Fprintf(out, "  completion stopped for the rollback: %s\n", r.CompletionStoppedAt)
		}
		for _, a := range r.Advice {
			fmt.Fprintf(out, "  what to do: %s\n", a)
		}
		for _, w := range r.CheckWarnings {
			fmt.Fprintf(out, "  check warning: %s\n", w)
		}
	}
}
