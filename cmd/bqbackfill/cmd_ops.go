package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/bqbackfill/bqbackfill/shared/cloudenv"
	"github.com/bqbackfill/bqbackfill/shared/gcp"
	"github.com/bqbackfill/bqbackfill/shared/ledger"
	"github.com/bqbackfill/bqbackfill/shared/logging"
	"github.com/bqbackfill/bqbackfill/shared/pipeline"
	"github.com/bqbackfill/bqbackfill/shared/warehouse"
)

func init() {
	register(command{name: "status", summary: "show the state of backfills from the ledger", run: runStatus})
	register(command{name: "retry", summary: "re-run the failed partitions of a table's failed backfill (staging kept)", run: runRetry})
	register(command{name: "rollback", summary: "restore the partitions a completed backfill swapped in, from its backup", run: runRollback})
}

// backendFlags select where a ledger command acts: the local state
// directory (default), or Google Cloud when a ledger bucket is given by flag
// or by BQBACKFILL_LEDGER_BUCKET (the other resource names come from the
// same flags or environment variables as the deployed components).
type backendFlags struct {
	stackFlags
	project, ledgerBucket, sqlBucket, partitionsTopic, eventsTopic, workerJob string
}

func (b *backendFlags) register(fs *flag.FlagSet) {
	b.stackFlags.register(fs)
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
	ledger   pipeline.Ledger
	close    func()
}

func (b *backendFlags) open(ctx context.Context, io IO, needs cloudenv.Requirement) (*backend, error) {
	if b.production() {
		env, err := cloudenv.FromEnv(b.lookup, needs)
		if err != nil {
			return nil, usagef("%v", err)
		}
		st, err := gcp.New(ctx, env, logging.New(io.Err, logLevel(b.verbose)), gcp.Options{Launcher: env.WorkerJob != ""})
		if err != nil {
			return nil, err
		}
		return &backend{pipeline: st.Pipeline, ledger: st.Pipeline.Ledger, close: st.Close}, nil
	}
	stack, err := b.stackFlags.open(ctx, io, io.Out)
	if err != nil {
		return nil, err
	}
	return &backend{pipeline: stack.Pipeline, ledger: stack.Pipeline.Ledger, close: func() {
		// Work started by the command (retry) runs to the end before exit.
		if _, err := stack.Drain(ctx); err != nil {
			fmt.Fprintf(io.Err, "Error: %v\n", err)
		}
		stack.Close()
	}}, nil
}

func tableArg(pos []string, cmd string) (warehouse.TableRef, error) {
	if len(pos) != 1 {
		return warehouse.TableRef{}, usagef("%s takes exactly one TABLE (project.dataset.table)", cmd)
	}
	t, err := warehouse.ParseTableRef(pos[0])
	if err != nil {
		return warehouse.TableRef{}, usagef("%v", err)
	}
	return t, nil
}

func runStatus(ctx context.Context, args []string, io IO) error {
	fs := flag.NewFlagSet("status", flag.ContinueOnError)
	fs.SetOutput(io.Err)
	var bf backendFlags
	bf.register(fs)
	var asJSON bool
	fs.BoolVar(&asJSON, "json", false, "print JSON")
	pos, err := filesParse(fs, args)
	if err != nil {
		return filesRun(err)
	}
	var filter string
	switch len(pos) {
	case 0:
	case 1:
		t, err := warehouse.ParseTableRef(pos[0])
		if err != nil {
			return usagef("%v", err)
		}
		filter = t.String()
	default:
		return usagef("status takes at most one TABLE")
	}
	be, err := bf.open(ctx, io, cloudenv.Requirement{cloudenv.VarLedgerBucket})
	if err != nil {
		return err
	}
	defer be.close()
	// One table's records are listed under its prefix, not the whole bucket.
	var all []*ledger.Backfill
	if filter != "" {
		all, err = be.ledger.ListTable(ctx, filter)
	} else {
		all, err = be.ledger.List(ctx)
	}
	if err != nil {
		return fmt.Errorf("read ledger: %w", err)
	}
	sort.Slice(all, func(i, j int) bool { return all[i].ID < all[j].ID })
	rows := []backfillSummary{}
	for _, b := range all {
		if filter != "" && b.Table != filter {
			continue
		}
		rows = append(rows, summarize(ctx, be.ledger, b))
	}
	if asJSON {
		enc := json.NewEncoder(io.Out)
		enc.SetIndent("", "  ")
		return enc.Encode(rows)
	}
	if len(rows) == 0 {
		fmt.Fprintln(io.Out, "No backfills in the ledger.")
		return nil
	}
	for _, r := range rows {
		fmt.Fprintf(io.Out, "%s\n  state: %s\n  partitions: %d done, %d failed, %d total\n", r.ID, r.State, r.Done, r.Failed, r.Partitions)
		if r.Staging != "" {
			fmt.Fprintf(io.Out, "  staging: %s\n  backup:  %s\n", r.Staging, r.Backup)
		}
		if r.LastError != "" {
			fmt.Fprintf(io.Out, "  last error: %s\n", strings.ReplaceAll(r.LastError, "\n", "\n    "))
		}
	}
	return nil
}

func runRetry(ctx context.Context, args []string, io IO) error {
	fs := flag.NewFlagSet("retry", flag.ContinueOnError)
	fs.SetOutput(io.Err)
	var bf backendFlags
	bf.register(fs)
	pos, err := filesParse(fs, args)
	if err != nil {
		return filesRun(err)
	}
	t, err := tableArg(pos, "retry")
	if err != nil {
		return err
	}
	be, err := bf.open(ctx, io, cloudenv.Requirement{cloudenv.VarLedgerBucket, cloudenv.VarPartitionsTopic, cloudenv.VarEventsTopic})
	if err != nil {
		return err
	}
	defer be.close()
	id, n, err := be.pipeline.Retry(ctx, t)
	if err != nil {
		return err
	}
	if n == 0 {
		fmt.Fprintf(io.Out, "%s: completion will be requested again on the next scan.\n", id)
	} else {
		fmt.Fprintf(io.Out, "%s: re-queued %d failed partition(s); staging and finished partitions are kept.\n", id, n)
	}
	return nil
}

func runRollback(ctx context.Context, args []string, io IO) error {
	fs := flag.NewFlagSet("rollback", flag.ContinueOnError)
	fs.SetOutput(io.Err)
	var bf backendFlags
	bf.register(fs)
	pos, err := filesParse(fs, args)
	if err != nil {
		return filesRun(err)
	}
	t, err := tableArg(pos, "rollback")
	if err != nil {
		return err
	}
	be, err := bf.open(ctx, io, cloudenv.Requirement{cloudenv.VarLedgerBucket})
	if err != nil {
		return err
	}
	defer be.close()
	id, n, err := be.pipeline.Rollback(ctx, t)
	if err != nil {
		return err
	}
	fmt.Fprintf(io.Out, "%s: restored %d partition(s) of %s from the backup.\n", id, n, t)
	return nil
}
