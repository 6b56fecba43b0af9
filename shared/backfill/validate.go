package backfill

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"

	"cloud.google.com/go/civil"

	"github.com/bqbackfill/bqbackfill/shared/config"
	"github.com/bqbackfill/bqbackfill/shared/metadata"
	"github.com/bqbackfill/bqbackfill/shared/warehouse"
)

// Options configure Validate.
type Options struct {
	// Today is the day rules P6, V8 and R17 compare against.
	Today civil.Date
	// Settings supply the placeholders, limits and billing prefix.
	Settings config.Settings
	// IgnoreMissingMetadata skips the rules that need metadata.yaml (M0,
	// M1, M2, V5, V7) when the table has none, as bqetl's
	// --ignore-missing-metadata does.
	IgnoreMissingMetadata bool
	// CheckPython checks the syntax of a custom query script (rule C2)
	// without running it; nil skips C2.
	CheckPython func(name string, src []byte) error
}

// Result is the outcome of validating one table.
type Result struct {
	Table    warehouse.TableRef
	Errors   []Error
	Warnings []Error
}

// Valid reports whether no rule failed.
func (r *Result) Valid() bool { return len(r.Errors) == 0 }

// ErrorsFor returns the errors that stop the entry with the given date
// from running: its own and the table-wide ones (metadata rules, file
// syntax, V13).
func (r *Result) ErrorsFor(entryDate civil.Date) []Error {
	key := entryDate.String()
	var out []Error
	for _, e := range r.Errors {
		if e.EntryDate == "" || e.EntryDate == key {
			out = append(out, e)
		}
	}
	return out
}

// ErrorsByEntry indexes the errors once and returns ErrorsFor as a lookup,
// for callers that look up every entry of a file (ErrorsFor per entry is
// quadratic in the entries). The order is ErrorsFor's.
func (r *Result) ErrorsByEntry() func(entryDate civil.Date) []Error {
	var wide []int
	own := map[string][]int{}
	for i, e := range r.Errors {
		if e.EntryDate == "" {
			wide = append(wide, i)
		} else {
			own[e.EntryDate] = append(own[e.EntryDate], i)
		}
	}
	return func(entryDate civil.Date) []Error {
		mine := own[entryDate.String()]
		out := make([]Error, 0, len(wide)+len(mine))
		w, m := 0, 0
		for w < len(wide) || m < len(mine) {
			if m == len(mine) || (w < len(wide) && wide[w] < mine[m]) {
				out = append(out, r.Errors[wide[w]])
				w++
			} else {
				out = append(out, r.Errors[mine[m]])
				m++
			}
		}
		return out
	}
}

// Validate checks a table's backfill.yaml against every rule of reference
// §3 (entries that were not parsed, such as one being created, also get the
// parse rules P7–P14) and the seed's table of supported cases: the parse rules P1–P17, the
// entry and file rules V1–V13 (V3 and V4 only where P1, P10 and P11 did not
// already report the problem), the metadata rules M0–M3, the custom-query
// rules C1–C2, and the runtime rules a file alone decides (R9, R10, R12 for
// Initiate entries). It reports every problem, never stopping at the first;
// R8 and R17 are warnings. A table without backfill.yaml is valid.
func Validate(t *Table, opts Options) *Result {
	r := &Result{Table: t.Ref}
	if t.File == nil && len(t.FileErrors) == 0 {
		return r
	}
	s := opts.Settings
	r.Errors = append(r.Errors, t.FileErrors...)
	file := t.Path(FileName)
	if t.File != nil && t.File.Path != "" {
		file = t.File.Path
	}
	mdPath := t.Path(metadata.FileName)
	md := t.Metadata
	metadataUsable := md != nil
	switch {
	case !t.HasMetadata && !opts.IgnoreMissingMetadata:
		r.Errors = append(r.Errors, Error{Rule: "M0", File: mdPath, Message: "metadata.yaml is missing: the backfill rules need the table's scheduling and partitioning; add metadata.yaml (validate and scheduled can skip these rules with --ignore-missing-metadata; run and the scanner cannot: they need the partitioning to run the backfill)"})
	case t.HasMetadata && t.MetadataErr != nil:
		var pe *metadata.ParseError
		if errors.As(t.MetadataErr, &pe) {
			for _, p := range pe.Problems {
				r.Errors = append(r.Errors, Error{Rule: "M3", File: mdPath, Line: p.Line, Field: p.Field, Message: p.Message})
			}
		} else {
			r.Errors = append(r.Errors, Error{Rule: "M3", File: mdPath, Message: t.MetadataErr.Error()})
		}
	}
	if t.File == nil {
		SortErrors(r.Errors)
		return r
	}
	entries := t.File.Entries
	if metadataUsable {
		r.Errors = append(r.Errors, tableRules(t, md, entries, mdPath)...)
	}

	reported := map[string]bool{} // "<rule>/<entry>" already reported by Parse
	for _, e := range t.FileErrors {
		reported[e.Rule+"/"+e.EntryDate] = true
	}
	add := func(e *Entry, rule, field, msg string) {
		r.Errors = append(r.Errors, Error{Rule: rule, File: file, Line: e.FieldLine(field), EntryDate: e.Key(), Field: field, Message: msg})
	}
	addErr := func(e *Entry, err *Error) {
		if err == nil {
			return
		}
		err.File, err.Line = file, e.FieldLine(err.Field)
		r.Errors = append(r.Errors, *err)
	}
	warn := func(e *Entry, rule, field, msg string) {
		r.Warnings = append(r.Warnings, Error{Rule: rule, File: file, Line: e.FieldLine(field), EntryDate: e.Key(), Field: field, Message: msg})
	}

	// V3 and V6 look at later entries: index them once, so validation stays
	// linear in the number of entries (a 100k-entry file once took minutes).
	lastIndex := make(map[civil.Date]int, len(entries))
	for i, e := range entries {
		lastIndex[e.EntryDate] = i
	}
	nextInitiate := make([]int, len(entries)) // index of the next Initiate entry, or -1
	for i, next := len(entries)-1, -1; i >= 0; i-- {
		nextInitiate[i] = next
		if entries[i].Status == Initiate {
			next = i
		}
	}
	for i, e := range entries {
		key := e.Key()
		if e.orig == nil {
			// Built in code (create), not parsed: apply the parse rules here.
			for _, fe := range CheckFields(e, true, true) {
				fe.File, fe.Line = file, e.FieldLine(fe.Field)
				r.Errors = append(r.Errors, fe)
			}
		}
		if e.EntryDate.After(opts.Today) {
			add(e, "P6", "", fmt.Sprintf("backfill entry %s can't be in the future (today is %s): the key is the day the entry is created", key, opts.Today))
		}
		if e.BillingProject != "" && !strings.HasPrefix(e.BillingProject, s.BillingProjectPrefix) {
			add(e, "P15", "billing_project", fmt.Sprintf("invalid billing project: %s: use one of the projects assigned to backfills (a name starting with %q), or leave billing_project out to use %s", e.BillingProject, s.BillingProjectPrefix, s.DefaultBillingProject))
		}
		for _, w := range e.Watchers {
			if w == s.PlaceholderWatcher {
				add(e, "V1", "watchers", fmt.Sprintf("default watcher found: (%s): replace %s with the people to notify", strings.Join(e.Watchers, ", "), s.PlaceholderWatcher))
				break
			}
		}
		if e.Reason == s.PlaceholderReason {
			add(e, "V2", "reason", "default reason found: replace the placeholder reason with why the table is backfilled and a link to the bug or ticket")
		}
		if lastIndex[e.EntryDate] > i && !reported["P1/"+key] {
			add(e, "V3", "", fmt.Sprintf("duplicate backfill with entry date: %s: entry dates must be unique", key))
		}
		if !reported["P10/"+key] && !reported["P11/"+key] && (!datesSorted(e.ExcludedDates) || len(duplicateDates(e.ExcludedDates)) > 0) {
			add(e, "V4", "excluded_dates", fmt.Sprintf("existing backfill entry with excluded dates not sorted or duplicated: %s: list each excluded date once, in ascending order", key))
		}
		if e.Status == Initiate && metadataUsable {
			addErr(e, CheckShredder(e, md))
		}
		if e.Status == Initiate && nextInitiate[i] >= 0 {
			later := entries[nextInitiate[i]]
			add(e, "V6", "status", fmt.Sprintf("backfill entries cannot contain more than one entry with Initiate status: %s is also Initiate; set the older one to Complete or Cancelled", later.Key()))
		}
		if metadataUsable && !e.OverrideDependsOnPastEndDate && md.Scheduling.DependsOnPast && e.EndDate.IsValid() && e.EndDate.Before(e.EntryDate) {
			add(e, "V7", "end_date", fmt.Sprintf("end date must be on or after the backfill entry date for a depends_on_past table: end_date %s is before %s, so later partitions would keep data computed from the old state; set end_date to %s, or set override_depends_on_past_end_date: true to override this check", e.EndDate, key, key))
		}
		if e.Status == Initiate {
			addErr(e, CheckEntryAge(e, s, opts.Today))
			addErr(e, CheckRetentionFromEntry(e, md, s))
		}
		python := strings.HasSuffix(e.CustomQueryPath, ".py") || t.HasQueryPy
		if python && (e.QueryScriptEntrypoint == "" || e.QueryScriptDateArg == "") {
			add(e, "V10", "query_script_entrypoint", "backfill for query scripts require query_script_entrypoint and query_script_date_arg: name the script's entry function and its date argument (without dashes)")
		}
		if b := e.ReinitializeSamplingBatchSize; b != nil && (*b < 1 || *b > 100) {
			add(e, "V11", "reinitialize_sampling_batch_size", fmt.Sprintf("reinitialize_sampling_batch_size must be between 1 and 100, got %d", *b))
		}
		if e.OverrideDependsOnPastNullPartition && e.CustomQueryPath == "" {
			add(e, "V12a", "override_depends_on_past_null_partition", "override_depends_on_past_null_partition is only allowed on entries with a custom_query_path: add the per-partition query, or use reinitialize_table instead")
		}
		if e.OverrideDependsOnPastNullPartition && e.Reinitialize() {
			add(e, "V12b", "override_depends_on_past_null_partition", "override_depends_on_past_null_partition and reinitialize_table are mutually exclusive; set only one")
		}
		if e.Status == Initiate {
			r.Errors = append(r.Errors, customQueryRules(t, e, file, opts)...)
			r.Errors = append(r.Errors, shredderRules(t, e, file)...)
			r.Errors = append(r.Errors, checksRule(t, e)...)
			if e.Reinitialize() && t.HasQueryPy {
				add(e, "R9", "reinitialize_table", fmt.Sprintf("reinitialize_table is not supported for python-script tables: %s", t.Ref))
			} else if e.Reinitialize() && !t.QueryUsesIsInit() {
				add(e, "R10", "reinitialize_table", fmt.Sprintf("cannot reinitialize %s: query.sql does not use is_init(); reinitialize runs the {%% if is_init() %%} branch of query.sql", t.Ref))
			}
			if metadataUsable {
				addErr(e, CheckMonthOffset(e, md))
				if md.Scheduling.DependsOnPast && len(e.ExcludedDates) > 0 {
					warn(e, "R8", "excluded_dates", fmt.Sprintf("%s depends on past: excluded dates %s keep their old data, and the following partitions are computed from it", t.Ref, joinDates(e.ExcludedDates)))
				}
			}
			if e.EndDate == opts.Today {
				warn(e, "R17", "end_date", "end_date is today: the upstream tables may not have data for today yet, which writes an empty partition that gets copied into production on complete")
			}
		}
	}
	for i := 1; i < len(entries); i++ {
		if !entries[i-1].EntryDate.After(entries[i].EntryDate) {
			r.Errors = append(r.Errors, Error{Rule: "V13", File: file, Line: entries[i].Line, Message: fmt.Sprintf("backfill entries are not sorted by entry dates: %s comes after %s; order entries newest first", entries[i].Key(), entries[i-1].Key())})
			break
		}
	}
	SortErrors(r.Errors)
	SortErrors(r.Warnings)
	return r
}

// tableRules are M1 and M2, with the escape-hatch flags taken from the
// Initiate entries, or from the Complete entries when there are none.
func tableRules(t *Table, md *metadata.Metadata, entries []*Entry, mdPath string) []Error {
	var errs []Error
	var flagged []*Entry
	for _, want := range []Status{Initiate, Complete} {
		for _, e := range entries {
			if e.Status == want {
				flagged = append(flagged, e)
			}
		}
		if len(flagged) > 0 {
			break
		}
	}
	var reinit, override bool
	for _, e := range flagged {
		reinit = reinit || e.Reinitialize()
		override = override || e.OverrideDependsOnPastNullPartition
	}
	if err := CheckNullPartition(t, md, reinit, override); err != nil {
		err.File = mdPath
		errs = append(errs, *err)
	}
	if err := CheckPartitioning(t.Ref, md); err != nil {
		err.File = mdPath
		errs = append(errs, *err)
	}
	return errs
}

// CheckNullPartition is rule M1: a depends_on_past table with a null
// date_partition_parameter passes only with reinitialize_table (and an
// is_init() block in query.sql) or with override_depends_on_past_null_partition.
func CheckNullPartition(t *Table, md *metadata.Metadata, reinitialize, override bool) *Error {
	sc := md.Scheduling
	if !(sc.DependsOnPastSet && sc.DependsOnPast && sc.DateParameter.Kind == metadata.DateParameterNull) {
		return nil
	}
	if override || (reinitialize && t.QueryUsesIsInit()) {
		return nil
	}
	msg := fmt.Sprintf("tables with depends on past and null partition parameter are not supported: %s. Set reinitialize_table: true to rebuild it via the table's is_init() query, or set override_depends_on_past_null_partition: true on an entry with a custom_query_path to backfill it per partition", t.Ref)
	if reinitialize {
		msg += " (reinitialize_table is set, but query.sql has no {% if is_init() %} block)"
	}
	return &Error{Rule: "M1", Field: "scheduling.date_partition_parameter", Message: msg}
}

// CheckPartitioning is rule M2 as the seed states it: only day and month
// time partitioning (or none) are supported; hour, year and integer range
// partitioning are rejected.
func CheckPartitioning(ref warehouse.TableRef, md *metadata.Metadata) *Error {
	if md.BigQuery.RangePartitioning != nil {
		return &Error{Rule: "M2", Field: "bigquery.range_partitioning", Message: fmt.Sprintf("unsupported table partitioning type: %s is integer-range partitioned; only day and month partitioning (or none) are supported", ref)}
	}
	if _, ok := md.PartitionType(); !ok {
		return &Error{Rule: "M2", Field: "bigquery.time_partitioning.type", Message: fmt.Sprintf("unsupported table partitioning type: %s is partitioned by %s; only day and month partitioning are supported", ref, strings.ToLower(md.BigQuery.TimePartitioning.Type))}
	}
	return nil
}

// CheckMonthOffset is rule R12: a month-partitioned table with a non-zero
// date_partition_offset needs ignore_date_partition_offset on the entry.
func CheckMonthOffset(e *Entry, md *metadata.Metadata) *Error {
	if t, _ := md.PartitionType(); t != warehouse.Month || md.Scheduling.DateOffset == 0 || e.IgnoreDatePartitionOffset {
		return nil
	}
	return &Error{Rule: "R12", EntryDate: e.Key(), Field: "ignore_date_partition_offset", Message: fmt.Sprintf("offsets unsupported for monthly partitions: the table's date_partition_offset is %d; set ignore_date_partition_offset: true on the entry to backfill whole months", md.Scheduling.DateOffset)}
}

// CheckShredder is rules V5 and R4: an entry's shredder_mitigation must
// equal whether the table has the shredder_mitigation label.
func CheckShredder(e *Entry, md *metadata.Metadata) *Error {
	if md == nil || md.ShredderMitigation() == e.ShredderMitigation {
		return nil
	}
	has := "has"
	if !md.ShredderMitigation() {
		has = "does not have"
	}
	return &Error{Rule: "V5", EntryDate: e.Key(), Field: "shredder_mitigation", Message: fmt.Sprintf("shredder_mitigation label in metadata.yaml and backfill.yaml entry %s should match: the table %s the label, so set shredder_mitigation: %t", e.Key(), has, md.ShredderMitigation())}
}

// SingleInitiate is rule R1, as the scanner (shared/treescan) applies it
// once per file: a file with more than one Initiate entry starts none of
// them (only one backfill per table may be in flight). V6 rejects every
// Initiate entry that another Initiate entry follows; R1 rejects the last
// one, which V6 leaves alone, so it returns that entry and its R1 error
// (nil, nil when the file has at most one). Validate does not report R1
// (V6 already fails the file); the scanner does.
func SingleInitiate(entries []*Entry) (*Entry, *Error) {
	var initiate []*Entry
	for _, o := range entries {
		if o.Status == Initiate {
			initiate = append(initiate, o)
		}
	}
	if len(initiate) < 2 {
		return nil, nil
	}
	last := initiate[len(initiate)-1]
	others := make([]string, 0, len(initiate)-1)
	for _, o := range initiate[:len(initiate)-1] {
		others = append(others, o.Key())
	}
	return last, &Error{Rule: "R1", EntryDate: last.Key(), Field: "status", Message: fmt.Sprintf("more than one backfill entry with status Initiate (also %s): only one backfill per table may be in flight, so none of them starts; set all but one to Complete or Cancelled", strings.Join(others, ", "))}
}

// CheckTargetScript is rule R5: a backfill that runs a Python script (the
// table's query.py, or a .py custom_query_path) cannot run under a target,
// because the script's destination is fixed in query_script_args and would
// not be redirected. It returns nil without a target.
func CheckTargetScript(t *Table, e *Entry, target *config.Target) *Error {
	if target == nil {
		return nil
	}
	script := t.HasQueryPy
	if e.CustomQueryPath != "" {
		script = strings.HasSuffix(e.CustomQueryPath, ".py")
	}
	if !script {
		return nil
	}
	return &Error{Rule: "R5", EntryDate: e.Key(), Message: targetScriptMessage(target.Name)}
}

func targetScriptMessage(target string) string {
	return fmt.Sprintf("--target is not supported for query.py (python script) backfills (target %s): the script writes where its query_script_args say, which --target does not redirect; run the script directly against the target", target)
}

// CheckEntryAge is rule V8: an Initiate entry older than the maximum entry
// age on today does not run (an entry exactly that old still runs).
func CheckEntryAge(e *Entry, s config.Settings, today civil.Date) *Error {
	oldest := today.AddDays(-s.MaxEntryAgeDays)
	if !e.EntryDate.Before(oldest) {
		return nil
	}
	return &Error{Rule: "V8", EntryDate: e.Key(), Message: fmt.Sprintf("backfill entries will not run if they are older than %d days old: entry date %s is before %s (today %s minus %d days); create a new entry dated today", s.MaxEntryAgeDays, e.Key(), oldest, today, s.MaxEntryAgeDays)}
}

// RetentionDays is the effective retention limit of a table: the smaller
// of the settings' limit and the partition expiration (md may be nil).
func RetentionDays(md *metadata.Metadata, s config.Settings) int {
	return md.RetentionDays(s.RetentionDays)
}

// CheckRetentionFromEntry is rule V9: without override_retention_limit the
// start date may be at most R−1 days before the entry date.
func CheckRetentionFromEntry(e *Entry, md *metadata.Metadata, s config.Settings) *Error {
	// A start_date that did not parse is reported by P3 or P17, not as a
	// date before the limit.
	if e.OverrideRetentionLimit || !e.StartDate.IsValid() {
		return nil
	}
	days := RetentionDays(md, s)
	earliest := e.EntryDate.AddDays(-(days - 1))
	if !e.StartDate.Before(earliest) {
		return nil
	}
	return &Error{Rule: "V9", EntryDate: e.Key(), Field: "start_date", Message: fmt.Sprintf("cannot backfill more than %d days prior to entry date due to retention policies: start_date %s is before %s; add `override_retention_limit: true` to the entry to override this check", days, e.StartDate, earliest)}
}

// CheckRetentionFromDay is rule R7, measured from day (the day a backfill
// starts) instead of the entry date: without override_retention_limit the
// start date may be at most R days before day.
func CheckRetentionFromDay(e *Entry, md *metadata.Metadata, s config.Settings, day civil.Date) *Error {
	if e.OverrideRetentionLimit || !e.StartDate.IsValid() {
		return nil
	}
	days := RetentionDays(md, s)
	earliest := day.AddDays(-days)
	if !e.StartDate.Before(earliest) {
		return nil
	}
	return &Error{Rule: "R7", EntryDate: e.Key(), Field: "start_date", Message: fmt.Sprintf("cannot backfill more than %d days prior to current date due to retention policies: start_date %s is before %s (%s minus %d days); set override_retention_limit: true to override", days, e.StartDate, earliest, day, days)}
}

// customQueryRules are C1 and C2 for an Initiate entry with a custom query.
func customQueryRules(t *Table, e *Entry, file string, opts Options) []Error {
	if e.CustomQueryPath == "" {
		return nil
	}
	mk := func(rule, msg string) []Error {
		return []Error{{Rule: rule, File: file, Line: e.FieldLine("custom_query_path"), EntryDate: e.Key(), Field: "custom_query_path", Message: msg}}
	}
	found, err := t.ResolveCustomQuery(e.CustomQueryPath)
	if err != nil {
		return mk("C1", fmt.Sprintf("custom_query_path not found: %s or %s: the path is relative to the repository root (sql/<project>/<dataset>/<table>/<file>), or a file of that name next to backfill.yaml", e.CustomQueryPath, t.Path(path.Base(e.CustomQueryPath))))
	}
	if !strings.HasSuffix(found, ".py") || opts.CheckPython == nil {
		return nil
	}
	src, err := readTree(t, found)
	if err != nil {
		return mk("C1", fmt.Sprintf("custom_query_path %s cannot be read: %v", e.CustomQueryPath, err))
	}
	if err := opts.CheckPython(t.DisplayPath(found), src); err != nil {
		return mk("C2", fmt.Sprintf("custom query has a syntax error in %s (entry %s): %v", t.DisplayPath(found), e.Key(), err))
	}
	return nil
}

func readTree(t *Table, name string) ([]byte, error) {
	if t.FS == nil {
		return nil, errors.New("no tree")
	}
	b, err := fs.ReadFile(t.FS, name)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", t.DisplayPath(name), err)
	}
	return b, nil
}
