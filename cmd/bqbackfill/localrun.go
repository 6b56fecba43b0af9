package main

import (
	"context"

	"github.com/spf13/pflag"

	"github.com/bqbackfill/bqbackfill/shared/pipeline"
)

// localRunOptions are what run, initiate and complete share: run the
// pipeline in process on a tree, restricted by Filter (initiate and
// complete: one table, one entry status).
type localRunOptions struct {
	IO     IO
	Stack  stackFlags
	SQLDir string
	JSON   bool
	Filter pipeline.TreeOptions
}

func (o *localRunOptions) add(fs *pflag.FlagSet) {
	o.Stack.add(fs)
	fs.StringVar(&o.SQLDir, "sql-dir", "sql", "the sql/ tree to run")
	fs.BoolVar(&o.JSON, "json", false, "print the summary as JSON (events go to stderr)")
}

// check reports bad flags as usage errors before any state is opened.
func (o *localRunOptions) check() error {
	if err := requireDir(o.SQLDir, "--sql-dir"); err != nil {
		return err
	}
	return o.Stack.check()
}

// localRun syncs the tree into the local stack and runs scans, workers and
// completions until nothing is left to do; exit 1 when a backfill failed.
func localRun(ctx context.Context, o *localRunOptions) error {
	events := o.IO.Out
	if o.JSON {
		events = o.IO.Err
	}
	stack, err := o.Stack.open(ctx, o.IO, events)
	if err != nil {
		return err
	}
	defer stack.Close()
	res, err := stack.RunFiltered(ctx, o.SQLDir, o.Filter)
	if err != nil {
		return err
	}
	return printRunSummary(ctx, o.IO.Out, stack, res, o.JSON)
}
