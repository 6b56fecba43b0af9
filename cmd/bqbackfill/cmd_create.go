package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"

	"cloud.google.com/go/civil"
	"github.com/spf13/cobra"

	"github.com/bqbackfill/bqbackfill/shared/backfill"
	"github.com/bqbackfill/bqbackfill/shared/sqltree"
	"github.com/bqbackfill/bqbackfill/shared/warehouse"
)

func init() {
	register(func(io IO) *cobra.Command { return newCreateCmd(io, createRun) })
}

// createOptions are create's parsed command line: the entry to add and
// where.
type createOptions struct {
	IO     IO
	SQLDir string
	Today  civil.Date
	Table  warehouse.TableRef
	Entry  *backfill.Entry
}

// createFlags are create's flags as typed, before parsing.
type createFlags struct {
	today, start, end             string
	exclude, watchers, scriptArgs []string
	reason, customQuery           string
	entrypoint, dateArg, dryRun   string
	billingProject                string
	shredder, noShredder          bool
	overrideRetention             bool
	overrideEndDate               bool
	overrideNullPartition         bool
	reinitialize                  bool
	batchSize                     int
}

func newCreateCmd(io IO, runF func(context.Context, *createOptions) error) *cobra.Command {
	o := &createOptions{IO: io}
	var f createFlags
	cmd := &cobra.Command{
		Use:   "create TABLE --start-date D --reason TEXT [flags]",
		Short: "Add an Initiate entry to a table's backfill.yaml",
		Example: `  bqbackfill create moz-fx-data-shared-prod.telemetry_derived.clients_daily_v6 \
    --start-date 2026-01-01 --end-date 2026-01-31 --watcher you@example.com \
    --reason "Recompute after the upstream fix (https://bugzilla.mozilla.org/...)"`,
		RunE: func(cmd *cobra.Command, args []string) error {
			var err error
			if o.Table, err = parseOneTable(args, "create"); err != nil {
				return err
			}
			if o.Today, err = parseToday(f.today); err != nil {
				return err
			}
			var batch *int
			if cmd.Flags().Changed("reinitialize-sampling-batch-size") {
				batch = &f.batchSize
			}
			if o.Entry, err = f.entry(o.Today, batch); err != nil {
				return err
			}
			return runF(cmd.Context(), o)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&o.SQLDir, "sql-dir", "sql", "the sql tree: the directory holding <project>/<dataset>/<table>/")
	addToday(fs, &f.today)
	fs.StringVarP(&f.start, "start-date", "s", "", "first date to recompute, YYYY-MM-DD (required)")
	fs.StringVarP(&f.end, "end-date", "e", "", "last date to recompute, YYYY-MM-DD (default: today)")
	fs.StringArrayVarP(&f.exclude, "exclude", "x", nil, "a date to skip (repeatable)")
	fs.StringArrayVarP(&f.watchers, "watcher", "w", nil, "an email or GitHub identity to notify (repeatable)")
	fs.StringVar(&f.reason, "reason", "", "why the table is backfilled, with a link to the bug or ticket (required)")
	fs.StringVar(&f.customQuery, "custom-query-path", "", "a query to run instead of the table's query (path from the repository root)")
	fs.StringVar(&f.entrypoint, "query-script-entrypoint", "", "the function of query.py to call")
	fs.StringVar(&f.dateArg, "query-script-date-arg", "", "the script's date argument, without dashes")
	fs.StringArrayVar(&f.scriptArgs, "query-script-arg", nil, "an extra script argument (repeatable)")
	fs.StringVar(&f.dryRun, "query-script-dry-run-arg", "", "the script's dry-run argument")
	fs.StringVar(&f.billingProject, "billing-project", "", "the project that runs and pays for the queries")
	fs.BoolVar(&f.shredder, "shredder-mitigation", false, "the table has the shredder_mitigation label")
	fs.BoolVar(&f.noShredder, "no-shredder-mitigation", false, "shredder_mitigation: false (the default)")
	fs.BoolVar(&f.overrideRetention, "override-retention-range-limit", false, "allow a start date beyond the retention limit (also --override-retention-limit)")
	fs.BoolVar(&f.overrideEndDate, "override-depends-on-past-end-date", false, "allow an end date before the entry date on a depends_on_past table")
	fs.BoolVar(&f.overrideNullPartition, "override-depends-on-past-null-partition", false, "run a depends_on_past table with a null date parameter per partition (needs --custom-query-path)")
	fs.BoolVar(&f.reinitialize, "reinitialize-table", false, "rebuild the whole table from query.sql's is_init() branch")
	fs.IntVar(&f.batchSize, "reinitialize-sampling-batch-size", 20, "sample_id values per reinitialize job, 1..100")
	return cmd
}

// entry builds the entry the flags describe; flag problems are usage
// errors. The script arguments that depend on the tree's settings are
// filled in by createRun.
func (f *createFlags) entry(today civil.Date, batchSize *int) (*backfill.Entry, error) {
	if f.start == "" {
		return nil, usagef("--start-date is required")
	}
	if strings.TrimSpace(f.reason) == "" {
		return nil, usagef("--reason is required: say why the table is backfilled and link the bug or ticket")
	}
	if f.shredder && f.noShredder {
		return nil, usagef("--shredder-mitigation and --no-shredder-mitigation contradict each other")
	}
	e := &backfill.Entry{
		EntryDate:                          today,
		EndDate:                            today,
		Reason:                             f.reason,
		Watchers:                           f.watchers,
		Status:                             backfill.Initiate,
		CustomQueryPath:                    f.customQuery,
		ShredderMitigation:                 f.shredder,
		OverrideRetentionLimit:             f.overrideRetention,
		OverrideDependsOnPastEndDate:       f.overrideEndDate,
		OverrideDependsOnPastNullPartition: f.overrideNullPartition,
		BillingProject:                     f.billingProject,
		QueryScriptEntrypoint:              f.entrypoint,
		QueryScriptDateArg:                 f.dateArg,
		QueryScriptDryRunArg:               f.dryRun,
		QueryScriptArgs:                    f.scriptArgs,
		ReinitializeSamplingBatchSize:      batchSize,
	}
	var err error
	if e.StartDate, err = parseDate(f.start, "--start-date"); err != nil {
		return nil, err
	}
	if f.end != "" {
		if e.EndDate, err = parseDate(f.end, "--end-date"); err != nil {
			return nil, err
		}
	}
	for _, x := range f.exclude {
		d, err := parseDate(x, "--exclude")
		if err != nil {
			return nil, err
		}
		e.ExcludedDates = append(e.ExcludedDates, d)
	}
	if f.reinitialize {
		t := true
		e.ReinitializeTable = &t
	}
	return e, nil
}

// Comment lines bqetl's create appends for a query.py entry (reference §1.2).
const (
	createScriptWarning = "# WARNING: Destination tables arguments for python scripts are not automatically configured to write to a backfill staging table. Adjust the query_script_arg values as needed."
	createScriptDest    = "# Destination table should be %s in order for the copy to production to work."
)

func createRun(ctx context.Context, o *createOptions) error {
	io, ref, today, e := o.IO, o.Table, o.Today, o.Entry
	tree, settings, err := openTree(o.SQLDir)
	if err != nil {
		return err
	}
	if len(e.Watchers) == 0 {
		e.Watchers = []string{settings.PlaceholderWatcher}
	}
	staging := backfill.StagingTable(ref, today, settings, nil)
	if len(e.QueryScriptArgs) == 0 && e.QueryScriptEntrypoint != "" {
		e.QueryScriptArgs = []string{"--destination-table=" + staging.String()}
	}

	t, err := tree.Load(ref)
	switch {
	case errors.Is(err, sqltree.ErrNoTable):
		t = &backfill.Table{Ref: ref, FS: tree.FS(), Dir: path.Join(ref.Project, ref.Dataset, ref.Table), DisplayRoot: tree.Display("")}
	case err != nil:
		return err
	}
	file := t.File
	if file == nil && len(t.FileErrors) == 0 {
		file = backfill.NewFile(t.Path(backfill.FileName))
	}
	if len(t.FileErrors) > 0 {
		for _, fe := range t.FileErrors {
			fmt.Fprintln(io.Err, fe.Error())
		}
		return fmt.Errorf("%s has problems (listed above); fix them before adding an entry", t.Path(backfill.FileName))
	}
	if err := file.Add(e); err != nil {
		return err
	}
	t.File = file

	res := backfill.Validate(t, backfill.Options{Today: today, Settings: settings, IgnoreMissingMetadata: true, CheckPython: backfill.PythonSyntax()})
	var blocking []backfill.Error
	for _, v := range res.ErrorsFor(e.EntryDate) {
		if v.EntryDate == e.Key() && (v.Rule == "V1" || v.Rule == "V2") {
			fmt.Fprintln(io.Err, "warning: "+v.Error()+" (validate will reject the entry until this is fixed)")
			continue
		}
		blocking = append(blocking, v)
	}
	for _, w := range res.Warnings {
		if w.EntryDate == e.Key() {
			fmt.Fprintln(io.Err, "warning: "+w.Error())
		}
	}
	if !t.HasMetadata {
		fmt.Fprintf(io.Err, "Skipping %s validation because of missing metadata.yaml\n", ref)
	}
	if len(blocking) > 0 {
		for _, v := range blocking {
			fmt.Fprintln(io.Err, v.Error())
		}
		return fmt.Errorf("the entry was not created: fix the %d problem(s) above", len(blocking))
	}

	data, err := file.Marshal()
	if err != nil {
		return err
	}
	if e.QueryScriptEntrypoint != "" {
		data = append(data, []byte(createScriptWarning+"\n"+fmt.Sprintf(createScriptDest, staging))...)
	}
	if err := ctx.Err(); err != nil {
		return err // interrupted: write nothing
	}
	dir := filepath.Join(o.SQLDir, ref.Project, ref.Dataset, ref.Table)
	target := filepath.Join(dir, backfill.FileName)
	if err := writeFileAtomic(dir, target, data); err != nil {
		return err
	}
	fmt.Fprintf(io.Out, "Created backfill entry in %s.\n", target)
	return nil
}

// writeFileAtomic writes data to target through a temporary file in dir
// and a rename, creating dir if needed.
func writeFileAtomic(dir, target string, data []byte) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	tmp, err := os.CreateTemp(dir, ".backfill-*.yaml")
	if err != nil {
		return fmt.Errorf("write %s: %w", target, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", target, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", target, err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", target, err)
	}
	if err := os.Rename(tmp.Name(), target); err != nil {
		return fmt.Errorf("write %s: %w", target, err)
	}
	return nil
}
