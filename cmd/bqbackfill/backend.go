package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/bqbackfill/bqbackfill/shared/cloudenv"
	"github.com/bqbackfill/bqbackfill/shared/gcp"
	"github.com/bqbackfill/bqbackfill/shared/ledger"
	"github.com/bqbackfill/bqbackfill/shared/local"
	"github.com/bqbackfill/bqbackfill/shared/logging"
	"github.com/bqbackfill/bqbackfill/shared/notify"
	"github.com/bqbackfill/bqbackfill/shared/pipeline"
	"github.com/bqbackfill/bqbackfill/shared/warehouse"
)

// backendFlags select where a ledger command acts: the local state
// directory (default), or Google Cloud when a ledger bucket is given by flag
// or by BQBACKFILL_LEDGER_BUCKET (the other resource names come from the
// same flags or environment variables as the deployed components).
type backendFlags struct {
	stackFlags
	project, ledgerBucket, sqlBucket, partitionsTopic, eventsTopic, workerJob string
}

func (b *backendFlags) add(fs *pflag.FlagSet) {
	b.stackFlags.add(fs)
	fs.StringVar(&b.project, "project", "", "GCP project of the deployment (or $"+cloudenv.VarProject+")")
	fs.StringVar(&b.ledgerBucket, "ledger-bucket", "", "production ledger bucket (or $"+cloudenv.VarLedgerBucket+"); unset means local mode")
	fs.StringVar(&b.sqlBucket, "sql-bucket", "", "production sync bucket (or $"+cloudenv.VarSQLBucket+")")
	fs.StringVar(&b.partitionsTopic, "partitions-topic", "", "partitions topic (or $"+cloudenv.VarPartitionsTopic+")")
	fs.StringVar(&b.eventsTopic, "events-topic", "", "events topic (or $"+cloudenv.VarEventsTopic+")")
	fs.StringVar(&b.workerJob, "worker-job", "", "worker Cloud Run job, projects/P/locations/L/jobs/J (or $"+cloudenv.VarWorkerJob+")")
}

func (b *backendFlags) lookup(name string) (string, bool) {
	flags := map[string]string{
		cloudenv.VarProject: b.project, cloudenv.VarLedgerBucket: b.ledgerBucket, cloudenv.VarSQLBucket: b.sqlBucket,
		cloudenv.VarPartitionsTopic: b.partitionsTopic, cloudenv.VarEventsTopic: b.eventsTopic, cloudenv.VarWorkerJob: b.workerJob,
	}
	if v := flags[name]; v != "" {
		return v, true
	}
	return os.LookupEnv(name)
}

func (b *backendFlags) production() bool {
	v, _ := b.lookup(cloudenv.VarLedgerBucket)
	return v != ""
}

// backend is an opened pipeline plus what to close.
type backend struct {
	pipeline *pipeline.Pipeline
	ledger   *ledger.Store
	close    func()
	// settle, in local mode, runs the work a command queued (the workers
	// and completions) to the end; nil in production, where the deployed
	// components do it.
	settle func(context.Context) error
}

func (b *backendFlags) open(ctx context.Context, io IO, needs cloudenv.Requirement) (*backend, error) {
	if b.production() {
		env, err := cloudenv.FromEnv(b.lookup, needs)
		if err != nil {
			return nil, usagef("%v", err)
		}
		st, err := gcp.New(ctx, env, b.lookup, logging.New(io.Err, logLevel(b.verbose)), gcp.Options{Launcher: env.WorkerJob != ""})
		if err != nil {
			return nil, err
		}
		return &backend{pipeline: st.Pipeline, ledger: ledger.New(st.Storage, env.LedgerBucket), close: st.Close}, nil
	}
	b.stackFlags.mustExist = true // status, retry, rollback read what a run left
	stack, err := b.stackFlags.open(ctx, io, io.Out)
	if err != nil {
		return nil, err
	}
	settle := func(ctx context.Context) error { _, err := stack.Drain(ctx); return err }
	return &backend{pipeline: stack.Pipeline, ledger: stack.Ledger, settle: settle, close: func() {
		// Work started by the command (retry) runs to the end before exit.
		if _, err := stack.Drain(ctx); err != nil {
			fmt.Fprintf(io.Err, "Error: %v\n", err)
		}
		stack.Close()
	}}, nil
}

// outcome runs, in local mode, the work a command queued (the workers, a
// completion) to the end and reads what became of backfill id; what names
// that work in a read error ("retry"). In production, where the deployed
// components do the work and report through notifications and status, it
// returns nil.
func (be *backend) outcome(ctx context.Context, id, what string) (*ledger.Backfill, error) {
	if be.settle == nil {
		return nil, nil
	}
	if err := be.settle(ctx); err != nil {
		return nil, err
	}
	bf, err := be.ledger.Get(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("read the outcome of the %s: %w", what, err)
	}
	return bf, nil
}

// backfillSummary is one line of run's and status's output (and their
// JSON, docs/cli-json.md).
type backfillSummary struct {
	ID         string `json:"backfill_id"`
	Table      string `json:"table"`
	EntryDate  string `json:"entry_date"`
	State      string `json:"state"`
	Partitions int    `json:"partitions"`
	Done       int    `json:"done"`
	Failed     int    `json:"failed"`
	Staging    string `json:"staging_table,omitempty"`
	Backup     string `json:"backup_table,omitempty"`
	LastError  string `json:"last_error,omitempty"`
	// CheckWarnings are the failed #warn data checks, "<partition>: <message>".
	CheckWarnings []string `json:"check_warnings,omitempty"`
	// Held says why a completing backfill waits for an operator
	// (production half-swapped) and what to run.
	Held string `json:"held,omitempty"`
	// FailedKinds counts the failed partitions by kind of error, and
	// Advice says what helps for each kind, in the kinds' sorted order
	// (retry only re-runs the query recorded at the start).
	FailedKinds map[string]int `json:"failed_kinds,omitempty"`
	Advice      []string       `json:"advice,omitempty"`
	// The rollback fence: when a rollback of the completion began, how
	// many completion requests are still at work (a heartbeat younger
	// than the lease) and their latest heartbeat, and when the last one
	// stopped for the rollback. A rollback restores nothing while one is
	// at work.
	RollbackStartedAt   string `json:"rollback_started_at,omitempty"`
	CompletionRequests  int    `json:"completion_requests,omitempty"`
	LastHeartbeat       string `json:"last_heartbeat,omitempty"`
	CompletionStoppedAt string `json:"completion_stopped_at,omitempty"`
}

// stamp formats a record's time for status ("" for none).
func stamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// summarize reads a backfill's partition counts from the ledger: one
// listing gives states, error kinds and which records hold warnings; only
// those records are read.
// now is the reader's clock, against which the completion requests'
// heartbeats are judged alive.
func summarize(ctx context.Context, led *ledger.Store, b *ledger.Backfill, now time.Time) (backfillSummary, error) {
	sum, err := led.PartitionSummary(ctx, b.ID)
	if err != nil {
		return backfillSummary{}, err
	}
	warned, err := led.ReadPartitions(ctx, b.ID, sum.Warned)
	if err != nil {
		return backfillSummary{}, fmt.Errorf("read the check warnings of %s: %w", b.ID, err)
	}
	var warnings []string
	for _, r := range warned {
		for _, w := range r.Warnings {
			warnings = append(warnings, r.ID+": "+w)
		}
	}
	kinds, advice := failureKinds(b, sum)
	requests, heartbeat := pipeline.LiveCompletions(b, now, pipeline.DefaultCompletionLease)
	return backfillSummary{ID: b.ID, Table: b.Table, EntryDate: b.EntryDate, State: string(b.State), Partitions: b.PartitionCount,
		Done: sum.Counts[ledger.PartitionDone], Failed: sum.Counts[ledger.PartitionFailed],
		Staging: b.Staging, Backup: b.Backup, LastError: b.LastError, CheckWarnings: warnings, Held: b.Held,
		FailedKinds: kinds, Advice: advice,
		RollbackStartedAt: stamp(b.RollbackStartedAt), CompletionRequests: requests, LastHeartbeat: stamp(heartbeat),
		CompletionStoppedAt: stamp(b.CompletionStoppedAt)}, nil
}

// failureKinds counts the failed partitions by kind of error, with what to
// do about each kind, sorted by kind (nil when none failed).
func failureKinds(b *ledger.Backfill, sum ledger.Summary) (map[string]int, []string) {
	if len(sum.Failed) == 0 {
		return nil, nil
	}
	kinds := make([]notify.FailureKind, len(sum.Failed))
	for i, pid := range sum.Failed {
		kinds[i] = notify.FailureKind(sum.FailedKinds[pid])
	}
	advice := notify.AdviseFailures(kinds, b.Table)
	slices.SortFunc(advice, func(x, y notify.KindAdvice) int { return cmp.Compare(x.Kind, y.Kind) })
	counts := map[string]int{}
	var lines []string
	for _, a := range advice {
		counts[string(a.Kind)] = a.Count
		lines = append(lines, a.Line())
	}
	return counts, lines
}

// printRunSummary prints what run, initiate and complete did; exit 1 when a
// backfill failed or was rejected.
func printRunSummary(ctx context.Context, w io.Writer, stack *local.Stack, res local.Result, asJSON bool) error {
	rows := []backfillSummary{}
	for _, b := range res.Backfills {
		r, err := summarize(ctx, stack.Ledger, b, time.Now())
		if err != nil {
			return err
		}
		rows = append(rows, r)
	}
	if asJSON {
		if err := writeJSON(w, rows); err != nil {
			return err
		}
	} else {
		if len(rows) == 0 {
			fmt.Fprintln(w, "Nothing to do: no entry requires action.")
		}
		for _, r := range rows {
			fmt.Fprintf(w, "%s  %-10s  %d/%d partitions done", r.ID, r.State, r.Done, r.Partitions)
			if r.Failed > 0 {
				fmt.Fprintf(w, ", %d failed", r.Failed)
			}
			fmt.Fprintln(w)
			if r.LastError != "" {
				fmt.Fprintf(w, "    %s\n", strings.ReplaceAll(r.LastError, "\n", "\n    "))
			}
			if r.Held != "" {
				fmt.Fprintf(w, "    HELD: %s\n", r.Held)
			}
			for _, a := range r.Advice {
				fmt.Fprintf(w, "    %s\n", a)
			}
		}
	}
	if held := res.Held(); len(held) > 0 {
		// Production is half-swapped: not a run that went well.
		if !asJSON {
			fmt.Fprintf(w, "\n%d completion(s) stopped half-done and wait for an operator (see HELD above).\n", len(held))
		}
		return errSilent
	}
	if failed := res.Failed(); len(failed) > 0 {
		var ids []string
		for _, b := range failed {
			ids = append(ids, b.ID+" ("+string(b.State)+")")
		}
		if !asJSON {
			fmt.Fprintf(w, "\n%d backfill(s) failed or were rejected: %s\n", len(failed), strings.Join(ids, ", "))
		}
		return errSilent
	}
	return nil
}

// ledgerOpOptions are the parsed command line of retry and rollback: an
// action on the latest backfill of one table.
type ledgerOpOptions struct {
	IO      IO
	Backend backendFlags
	Table   warehouse.TableRef
}

func newLedgerOpCmd(io IO, use, short string, runF func(context.Context, *ledgerOpOptions) error) *cobra.Command {
	o := &ledgerOpOptions{IO: io}
	cmd := &cobra.Command{
		Use:   use + " TABLE",
		Short: short,
		RunE: func(cmd *cobra.Command, args []string) error {
			var err error
			if o.Table, err = parseOneTable(args, use); err != nil {
				return err
			}
			return runF(cmd.Context(), o)
		},
	}
	o.Backend.add(cmd.Flags())
	return cmd
}
