package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/bqbackfill/bqbackfill/shared/backfill"
	"github.com/bqbackfill/bqbackfill/shared/sqltree"
)

func init() {
	register(command{
		name:    "create",
		summary: "add an Initiate entry to a table's backfill.yaml",
		run:     runCreate,
	})
}

// filesList is a repeatable string flag.
type filesList []string

func (l *filesList) String() string { return strings.Join(*l, ",") }

func (l *filesList) Set(v string) error {
	*l = append(*l, v)
	return nil
}

// filesOptInt is an int flag that remembers whether it was given.
type filesOptInt struct{ v *int }

func (o *filesOptInt) String() string {
	if o.v == nil {
		return ""
	}
	return strconv.Itoa(*o.v)
}

func (o *filesOptInt) Set(s string) error {
	n, err := strconv.Atoi(s)
	if err != nil {
		return fmt.Errorf("%q is not a whole number", s)
	}
	o.v = &n
	return nil
}

// createOptions are create's flags.
type createOptions struct {
	files                         filesFlags
	start, end                    string
	exclude, watchers, scriptArgs filesList
	reason, customQuery           string
	entrypoint, dateArg, dryRun   string
	billingProject                string
	shredder, noShredder          bool
	overrideRetention             bool
	overrideEndDate               bool
	overrideNullPartition         bool
	reinitialize                  bool
	batchSize                     filesOptInt
}

func (o *createOptions) register(fs *flag.FlagSet) {
	o.files.register(fs, true)
	str := func(p *string, usage string, names ...string) {
		for _, n := range names {
			fs.StringVar(p, n, "", usage)
		}
	}
	boolean := func(p *bool, usage string, names ...string) {
		for _, n := range names {
			fs.BoolVar(p, n, false, usage)
		}
	}
	list := func(p *filesList, usage string, names ...string) {
		for _, n := range names {
			fs.Var(p, n, usage)
		}
	}
	str(&o.start, "first date to recompute, YYYY-MM-DD (required)", "start-date", "start_date", "s")
	str(&o.end, "last date to recompute, YYYY-MM-DD (default: today)", "end-date", "end_date", "e")
	list(&o.exclude, "a date to skip (repeatable)", "exclude", "x")
	list(&o.watchers, "an email or GitHub identity to notify (repeatable)", "watcher", "w")
	str(&o.reason, "why the table is backfilled, with a link to the bug or ticket (required)", "reason")
	str(&o.customQuery, "a query to run instead of the table's query (path from the repository root)", "custom-query-path", "custom_query_path")
	str(&o.entrypoint, "the function of query.py to call", "query-script-entrypoint", "query_script_entrypoint")
	str(&o.dateArg, "the script's date argument, without dashes", "query-script-date-arg", "query_script_date_arg")
	list(&o.scriptArgs, "an extra script argument (repeatable)", "query-script-arg", "query_script_arg")
	str(&o.dryRun, "the script's dry-run argument", "query-script-dry-run-arg", "query_script_dry_run_arg")
	str(&o.billingProject, "the project that runs and pays for the queries", "billing-project", "billing_project")
	boolean(&o.shredder, "the table has the shredder_mitigation label", "shredder-mitigation", "shredder_mitigation")
	boolean(&o.noShredder, "shredder_mitigation: false (the default)", "no-shredder-mitigation", "no_shredder_mitigation")
	boolean(&o.overrideRetention, "allow a start date beyond the retention limit", "override-retention-range-limit", "override_retention_range_limit", "override-retention-limit", "override_retention_limit")
	boolean(&o.overrideEndDate, "allow an end date before the entry date on a depends_on_past table", "override-depends-on-past-end-date", "override_depends_on_past_end_date")
	boolean(&o.overrideNullPartition, "run a depends_on_past table with a null date parameter per partition (needs --custom-query-path)", "override-depends-on-past-null-partition", "override_depends_on_past_null_partition")
	boolean(&o.reinitialize, "rebuild the whole table from query.sql's is_init() branch", "reinitialize-table", "reinitialize_table")
	for _, n := range []string{"reinitialize-sampling-batch-size", "reinitialize_sampling_batch_size"} {
		fs.Var(&o.batchSize, n, "sample_id values per reinitialize job, 1..100 (default 20)")
	}
}

// Comment lines bqetl's create appends for a query.py entry (reference §1.2).
const (
	createScriptWarning = "# WARNING: Destination tables arguments for python scripts are not automatically configured to write to a backfill staging table. Adjust the query_script_arg values as needed."
	createScriptDest    = "# Destination table should be %s in order for the copy to production to work."
)

func runCreate(ctx context.Context, args []string, io IO) error {
	fs := filesFlagSet("create", "create TABLE --start-date D [--end-date D] [--exclude D]... [--watcher E]... --reason TEXT [entry options]", io)
	var o createOptions
	o.register(fs)
	pos, err := filesParse(fs, args)
	if err != nil {
		return filesRun(err)
	}
	if len(pos) != 1 {
		return usagef("create takes exactly one TABLE (project.dataset.table)")
	}
	ref, err := filesTableArg(pos[0])
	if err != nil {
		return err
	}
	if o.start == "" {
		return usagef("--start-date is required")
	}
	if strings.TrimSpace(o.reason) == "" {
		return usagef("--reason is required: say why the table is backfilled and link the bug or ticket")
	}
	if o.shredder && o.noShredder {
		return usagef("--shredder-mitigation and --no-shredder-mitigation contradict each other")
	}
	today, err := filesToday(o.files.today)
	if err != nil {
		return err
	}
	e := &backfill.Entry{
		EntryDate:                          today,
		EndDate:                            today,
		Reason:                             o.reason,
		Watchers:                           []string(o.watchers),
		Status:                             backfill.Initiate,
		CustomQueryPath:                    o.customQuery,
		ShredderMitigation:                 o.shredder,
		OverrideRetentionLimit:             o.overrideRetention,
		OverrideDependsOnPastEndDate:       o.overrideEndDate,
		OverrideDependsOnPastNullPartition: o.overrideNullPartition,
		BillingProject:                     o.billingProject,
		QueryScriptEntrypoint:              o.entrypoint,
		QueryScriptDateArg:                 o.dateArg,
		QueryScriptDryRunArg:               o.dryRun,
		ReinitializeSamplingBatchSize:      o.batchSize.v,
	}
	if e.StartDate, err = filesDate(o.start, "--start-date"); err != nil {
		return err
	}
	if o.end != "" {
		if e.EndDate, err = filesDate(o.end, "--end-date"); err != nil {
			return err
		}
	}
	for _, x := range o.exclude {
		d, err := filesDate(x, "--exclude")
		if err != nil {
			return err
		}
		e.ExcludedDates = append(e.ExcludedDates, d)
	}
	if o.reinitialize {
		t := true
		e.ReinitializeTable = &t
	}

	tree, settings, err := filesOpen(o.files.sqlDir)
	if err != nil {
		return err
	}
	if len(e.Watchers) == 0 {
		e.Watchers = []string{settings.PlaceholderWatcher}
	}
	staging := backfill.StagingTable(ref, today, settings, nil)
	switch {
	case len(o.scriptArgs) > 0:
		e.QueryScriptArgs = []string(o.scriptArgs)
	case o.entrypoint != "":
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
	if o.entrypoint != "" {
		data = append(data, []byte(createScriptWarning+"\n"+fmt.Sprintf(createScriptDest, staging))...)
	}
	dir := filepath.Join(o.files.sqlDir, ref.Project, ref.Dataset, ref.Table)
	target := filepath.Join(dir, backfill.FileName)
	if err := filesWriteAtomic(dir, target, data); err != nil {
		return err
	}
	fmt.Fprintf(io.Out, "Created backfill entry in %s.\n", target)
	return nil
}

// filesWriteAtomic writes data to target through a temporary file in dir
// and a rename, creating dir if needed.
func filesWriteAtomic(dir, target string, data []byte) error {
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
