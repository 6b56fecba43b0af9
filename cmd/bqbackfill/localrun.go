package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/pflag"

	"github.com/bqbackfill/bqbackfill/shared/backfill"
	"github.com/bqbackfill/bqbackfill/shared/ledger"
	"github.com/bqbackfill/bqbackfill/shared/local"
	"github.com/bqbackfill/bqbackfill/shared/pipeline"
	"github.com/bqbackfill/bqbackfill/shared/sqltree"
	"github.com/bqbackfill/bqbackfill/shared/treescan"
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
	Filter treescan.Options
	// AllowEmpty (complete): confirm that the partitions a refused
	// completion found empty in staging are emptied in production.
	AllowEmpty bool
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
	events := o.IO.Out
	if o.JSON {
		events = o.IO.Err
	}
	// The state directory first: its rules (must exist, or is created)
	// hold whatever the tree holds.
	stack, err := o.Stack.open(ctx, o.IO, events)
	if err != nil {
		return err
	}
	defer stack.Close()
	if o.Filter.Status == pipeline.StatusComplete && len(o.Filter.Tables) == 1 {
		if finished, err := finishHeld(ctx, o, stack); finished || err != nil {
			return err
		}
	}
	unreadable, err := unreadableFiles(ctx, o.SQLDir, o.Filter.Tables, backfill.Status(o.Filter.Status))
	if err != nil {
		return err
	}
	reportProblems(o.IO.Err, unreadable)
	stack.TreeProblemsReported() // each problem is said once: here, not again by every scan
	if backfill.Status(o.Filter.Status) == backfill.Complete {
		if err := resumeCompletions(ctx, o, stack.Pipeline); err != nil {
			return err
		}
	}
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

// finishHeld is complete on a table whose completion stopped half-done
// (completing in the ledger, whatever its entry now says, e.g. a held
// completion whose entry was set to Cancelled): it finishes that swap from
// the ledger, without reading the tree. It reports false when the table
// has no completing backfill.
func finishHeld(ctx context.Context, o *localRunOptions, stack *local.Stack) (bool, error) {
	table := o.Filter.Tables[0]
	if _, err := stack.Pipeline.Latest(ctx, table, ledger.StateCompleting); errors.Is(err, ledger.ErrNotFound) {
		return false, nil
	} else if err != nil {
		return false, err
	}
	id, err := stack.Pipeline.FinishCompletion(ctx, table)
	if err != nil {
		return true, err
	}
	// A long swap goes on in the completion requests it published.
	if _, err := stack.Drain(ctx); err != nil {
		return true, err
	}
	b, err := stack.Ledger.Get(ctx, id)
	if err != nil {
		return true, fmt.Errorf("read ledger: %w", err)
	}
	if err := printRunSummary(ctx, o.IO.Out, stack, local.Result{Backfills: []*ledger.Backfill{b}}, o.JSON); err != nil {
		return true, err
	}
	if b.State != ledger.StateCompleted {
		return true, fmt.Errorf("%s: the swap did not finish (state %s): %s", id, b.State, b.LastError)
	}
	return true, nil
}

// resumeCompletions readies, for complete, each table's completion that
// stopped part-way or was refused for partitions empty in staging (with
// --allow-empty), so the run asks for it again.
func resumeCompletions(ctx context.Context, o *localRunOptions, p *pipeline.Pipeline) error {
	for _, t := range o.Filter.Tables {
		id, confirmed, err := p.ResumeCompletion(ctx, t, o.AllowEmpty)
		if err != nil {
			return err
		}
		switch {
		case len(confirmed) > 0:
			fmt.Fprintf(o.IO.Err, "%s: --allow-empty: the swap empties %d production partition(s) that are empty in staging: %s\n", id, len(confirmed), strings.Join(confirmed, ", "))
		case id != "":
			fmt.Fprintf(o.IO.Err, "%s: its completion stopped part-way; resuming it\n", id)
		}
	}
	return nil
}

// unreadableFiles reads the tree as the scanner will and returns what it
// cannot read at all: an invalid bqbackfill.yaml (an error: nothing can
// run), table directories that cannot be tables, backfill.yaml files that
// do not parse. Entries with problems are not here: the run rejects them
// with their rule. With a phase status, a named table whose entries do not
// allow the phase is an error (initiate without an Initiate entry, complete
// while the entry is still Initiate): the phase would find nothing to do
// and say so as if all went well.
func unreadableFiles(ctx context.Context, sqlDir string, tables []warehouse.TableRef, phase backfill.Status) ([]backfill.Error, error) {
	tree, _, err := openTree(sqlDir)
	if err != nil {
		return nil, err
	}
	loaded, err := loadTables(ctx, tree, tables, "")
	if err != nil {
		return nil, err
	}
	if len(loaded.missing) > 0 {
		return nil, fmt.Errorf("%s does not exist under %s", loaded.missing[0], tree.Display(""))
	}
	out := loaded.problems
	for _, t := range loaded.tables {
		out = append(out, sqltree.Unreadable(t)...)
		if t.File == nil || t.File.Broken() {
			continue
		}
		switch initiate := t.File.WithStatus(backfill.Initiate); {
		case phase == backfill.Initiate && len(initiate) == 0:
			return nil, fmt.Errorf("%s has no Initiate entry in %s%s: add one (bqbackfill create) to start a backfill", t.Ref, t.Path(backfill.FileName), newestEntry(t.File))
		case phase == backfill.Complete && len(initiate) > 0:
			return nil, fmt.Errorf("%s: entry %s in %s is still Initiate: set status: Complete on it to swap its staging into production", t.Ref, initiate[0].Key(), t.Path(backfill.FileName))
		}
	}
	return out, nil
}

// newestEntry describes a file's newest entry for messages ("" if none).
func newestEntry(f *backfill.File) string {
	if len(f.Entries) == 0 {
		return " (it has no entries)"
	}
	e := f.Entries[0]
	for _, x := range f.Entries[1:] {
		if x.EntryDate.After(e.EntryDate) {
			e = x
		}
	}
	return fmt.Sprintf(" (its newest entry, %s, is %s)", e.Key(), e.Status)
}
