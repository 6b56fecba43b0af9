package main

import (
	"context"
	"fmt"
	"path"
	"sort"
	"strings"

	"cloud.google.com/go/civil"
	"github.com/spf13/cobra"

	"github.com/bqbackfill/bqbackfill/shared/backfill"
	"github.com/bqbackfill/bqbackfill/shared/warehouse"
)

func init() {
	register(func(io IO) *cobra.Command { return newValidateCmd(io, validateRun) })
}

// validateOptions are validate's parsed command line.
type validateOptions struct {
	IO                    IO
	Tree                  treeFlags
	Today                 civil.Date
	IgnoreMissingMetadata bool
	Tables                []warehouse.TableRef // none: every table
}

func newValidateCmd(io IO, runF func(context.Context, *validateOptions) error) *cobra.Command {
	o := &validateOptions{IO: io}
	var today string
	cmd := &cobra.Command{
		Use:   "validate [TABLE|PATH...]",
		Short: "Check backfill.yaml files against every rule (exit 1 when any is invalid)",
		Long: `Check the backfill.yaml files of the named tables, or of every table under
--sql-dir, against every rule. Problems are printed as
file:line: entry: field: message [rule]; exit 1 when any table is invalid.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			var err error
			if o.Today, err = parseToday(today); err != nil {
				return err
			}
			if o.Tables, err = parseTables(args); err != nil {
				return err
			}
			return runF(cmd.Context(), o)
		},
	}
	fs := cmd.Flags()
	o.Tree.add(fs, true)
	addToday(fs, &today)
	fs.BoolVar(&o.IgnoreMissingMetadata, "ignore-missing-metadata", false, "skip the rules that need metadata.yaml for tables that have none")
	return cmd
}

// validateResult is one element of validate --json.
type validateResult struct {
	Table    string           `json:"table"`
	File     string           `json:"file"`
	Valid    bool             `json:"valid"`
	Errors   []backfill.Error `json:"errors"`
	Warnings []backfill.Error `json:"warnings"`
}

func validateRun(ctx context.Context, o *validateOptions) error {
	tree, settings, err := openTree(o.Tree.sqlDir)
	if err != nil {
		return err
	}
	loaded, err := loadTables(ctx, tree, o.Tables, o.Tree.projectID)
	if err != nil {
		return err
	}
	opts := backfill.Options{Today: o.Today, Settings: settings, IgnoreMissingMetadata: o.IgnoreMissingMetadata, CheckPython: backfill.PythonSyntax()}
	var results []validateResult
	for _, ref := range loaded.missing {
		dir := tree.Display(path.Join(ref.Project, ref.Dataset, ref.Table))
		results = append(results, validateResult{Table: ref.String(), File: dir, Errors: []backfill.Error{{Rule: "T1", File: dir, Message: fmt.Sprintf("%s does not exist: no directory %s", ref, dir)}}, Warnings: []backfill.Error{}})
	}
	// A directory that cannot be read as a table is a result of its own,
	// named by its path (T2, T3, T5).
	for _, p := range loaded.problems {
		results = append(results, validateResult{Table: strings.ReplaceAll(strings.TrimPrefix(p.File, tree.Display("")+"/"), "/", "."), File: p.File, Errors: []backfill.Error{p}, Warnings: []backfill.Error{}})
	}
	for _, t := range loaded.tables {
		if err := ctx.Err(); err != nil {
			return err
		}
		r := backfill.Validate(t, opts)
		vr := validateResult{Table: t.Ref.String(), File: t.Path(backfill.FileName), Valid: r.Valid(), Errors: r.Errors, Warnings: r.Warnings}
		if vr.Errors == nil {
			vr.Errors = []backfill.Error{}
		}
		if vr.Warnings == nil {
			vr.Warnings = []backfill.Error{}
		}
		results = append(results, vr)
	}
	sort.SliceStable(results, func(i, j int) bool { return results[i].Table < results[j].Table })
	invalid := 0
	for _, r := range results {
		if !r.Valid {
			invalid++
		}
	}
	out := o.IO.Out
	if o.Tree.json {
		if results == nil {
			results = []validateResult{}
		}
		if err := writeJSON(out, results); err != nil {
			return err
		}
	} else {
		for _, r := range results {
			for _, e := range r.Errors {
				fmt.Fprintln(out, e.Error())
			}
			for _, w := range r.Warnings {
				fmt.Fprintln(out, "warning: "+w.Error())
			}
		}
		if opts.CheckPython == nil {
			fmt.Fprintln(o.IO.Err, "note: python3 not found, custom query scripts were not syntax-checked (rule C2)")
		}
		switch {
		case len(results) == 0:
			fmt.Fprintf(out, "No backfill.yaml files found under %s.\n", tree.Display(""))
		case invalid == 0:
			fmt.Fprintf(out, "All %d backfill.yaml file(s) are valid.\n", len(results))
		default:
			fmt.Fprintf(out, "%d of %d table(s) have invalid backfill entries (problems listed above as file:line: entry: field: message [rule]).\n", invalid, len(results))
		}
	}
	if invalid > 0 {
		return errSilent
	}
	return nil
}
