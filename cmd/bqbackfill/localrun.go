package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/pflag"

	"github.com/bqbackfill/bqbackfill/shared/backfill"
	"github.com/bqbackfill/bqbackfill/shared/pipeline"
	"github.com/bqbackfill/bqbackfill/shared/sqltree"
	"github.com/bqbackfill/bqbackfill/shared/warehouse"
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
// completions until nothing is left to do; exit 1 when a backfill failed or
// a file could not be read. Unreadable files are reported before the run,
// as validate reports them; the other tables still run.
func localRun(ctx context.Context, o *localRunOptions) error {
	unreadable, err := unreadableFiles(ctx, o.SQLDir, o.Filter.Tables)
	if err != nil {
		return err
	}
	reportProblems(o.IO.Err, unreadable)
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
	err = printRunSummary(ctx, o.IO.Out, stack, res, o.JSON)
	if len(unreadable) == 0 || (err != nil && !errors.Is(err, errSilent)) {
		return err
	}
	fmt.Fprintf(o.IO.Err, "%d file(s) or table directories could not be read (listed above): their backfills did not run; 'bqbackfill validate' lists every problem.\n", len(unreadable))
	return errSilent
}

// unreadableFiles reads the tree as the scanner will and returns what it
// cannot read at all: an invalid bqbackfill.yaml (an error: nothing can
// run), table directories that cannot be tables, backfill.yaml files that
// do not parse. Entries with problems are not here: the run rejects them
// with their rule.
func unreadableFiles(ctx context.Context, sqlDir string, tables []warehouse.TableRef) ([]backfill.Error, error) {
	tree, _, err := openTree(sqlDir)
	if err != nil {
		return nil, err
	}
	loaded, err := loadTables(ctx, tree, tables, "")
	if err != nil {
		return nil, err
	}
	out := loaded.problems
	for _, t := range loaded.tables {
		out = append(out, sqltree.Unreadable(t)...)
	}
	return out, nil
}
