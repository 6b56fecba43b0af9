package main

import (
	"context"
	"flag"
	"os"

	"github.com/bqbackfill/bqbackfill/shared/pipeline"
	"github.com/bqbackfill/bqbackfill/shared/warehouse"
)

func init() {
	register(command{name: "initiate", summary: "run one table's Initiate entry into staging, in process (local mode)", run: func(ctx context.Context, args []string, io IO) error {
		return runPhase(ctx, "initiate", pipeline.StatusInitiate, args, io)
	}})
	register(command{name: "complete", summary: "swap one table's processed backfill into production, in process (local mode)", run: func(ctx context.Context, args []string, io IO) error {
		return runPhase(ctx, "complete", pipeline.StatusComplete, args, io)
	}})
}

// runPhase runs one phase for one table: the scan sees only that table's
// entries with the given status, then workers or the completion run until
// nothing is left to do.
func runPhase(ctx context.Context, name, status string, args []string, io IO) error {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Err)
	var sf stackFlags
	sf.register(fs)
	var sqlDir, target string
	var asJSON bool
	for _, n := range []string{"sql-dir", "sql_dir"} {
		fs.StringVar(&sqlDir, n, "sql", "the sql/ tree")
	}
	fs.StringVar(&target, "target", "", "stage into the target project of bqbackfill.yaml and swap the target-deployed copy instead of production")
	fs.BoolVar(&asJSON, "json", false, "print the summary as JSON")
	pos, err := filesParse(fs, args)
	if err != nil {
		return filesRun(err)
	}
	t, err := tableArg(pos, name)
	if err != nil {
		return err
	}
	if st, err := os.Stat(sqlDir); err != nil || !st.IsDir() {
		return usagef("--sql-dir %s is not a directory", sqlDir)
	}
	events := io.Out
	if asJSON {
		events = io.Err
	}
	stack, err := sf.open(ctx, io, events)
	if err != nil {
		return err
	}
	defer stack.Close()
	res, err := stack.RunFiltered(ctx, sqlDir, pipeline.TreeOptions{Tables: []warehouse.TableRef{t}, Status: status, Target: target})
	if err != nil {
		return err
	}
	return printRunSummary(ctx, io.Out, stack, res, asJSON)
}
