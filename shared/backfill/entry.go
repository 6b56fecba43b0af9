// Package backfill reads, writes, validates and plans the entries of a
// bigquery-etl backfill.yaml file, following the bqetl reference (§1–4) and
// the seed document's table of supported cases.
//
// Parse reads a file into entries, reporting every parse problem (rules P1–
// P17) with its file, line, entry and field, and keeping the original text of
// each entry so that File.Marshal reproduces an unchanged file byte for byte
// and rewrites only what changed, in the format bqetl's to_yaml writes.
// Validate runs every rule of reference §3 (P, V, M, C and the file-level
// runtime checks) over a table and collects all problems instead of stopping
// at the first. NewPlan turns one entry into the partitions to compute, their
// order, the seed partition and the staging, backup and billing names.
package backfill

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"cloud.google.com/go/civil"
)

// FileName is the only name a backfill file may have (rule P5).
const FileName = "backfill.yaml"

// Status is an entry's status, normalised to bqetl's spelling.
type Status string

// The three statuses.
const (
	Initiate  Status = "Initiate"
	Complete  Status = "Complete"
	Cancelled Status = "Cancelled"
)

// ParseStatus reads a status in any letter case.
func ParseStatus(s string) (Status, error) {
	switch strings.ToUpper(strings.TrimSpace(s)) {
	case "INITIATE":
		return Initiate, nil
	case "COMPLETE":
		return Complete, nil
	case "CANCELLED":
		return Cancelled, nil
	}
	return "", fmt.Errorf("unknown status %q: use Initiate, Complete or Cancelled", s)
}

// Entry is one backfill entry: the value under an entry-date key.
type Entry struct {
	EntryDate     civil.Date
	StartDate     civil.Date
	EndDate       civil.Date
	ExcludedDates []civil.Date
	Reason        string
	Watchers      []string
	Status        Status

	// CustomQueryPath is "" when null.
	CustomQueryPath                    string
	ShredderMitigation                 bool
	ReinitializeTable                  *bool // nil when null (not written)
	ReinitializeSamplingBatchSize      *int  // nil when null: the default applies
	OverrideRetentionLimit             bool
	OverrideDependsOnPastEndDate       bool
	OverrideDependsOnPastNullPartition bool
	IgnoreDatePartitionOffset          bool
	// BillingProject is "" when null: the default billing project applies.
	BillingProject        string
	QueryScriptEntrypoint string
	QueryScriptDateArg    string
	// QueryScriptArgs is nil when null.
	QueryScriptArgs      []string
	QueryScriptDryRunArg string

	// Line is the line of the entry-date key in the parsed file (0 for an
	// entry that was not parsed).
	Line int

	lines map[string]int // line of each field, as parsed
	orig  *original
}

// FieldLine returns the line of a field in the parsed file, or the line of
// the entry-date key when the field was not written (0 for a new entry).
func (e *Entry) FieldLine(field string) int {
	if n, ok := e.lines[field]; ok {
		return n
	}
	return e.Line
}

// original is what Parse saw of an entry: its text in the file and the hash
// of its canonical form at that time.
type original struct {
	text    []byte // the entry's lines; nil when the layout did not allow slicing
	segment []byte // text plus what followed it up to the next entry (or the end)
	next    *Entry // the entry that followed it in the file, nil for the last
	hash    string
}

// Reinitialize reports reinitialize_table: true.
func (e *Entry) Reinitialize() bool { return e.ReinitializeTable != nil && *e.ReinitializeTable }

// Key returns the entry date as written in the file, YYYY-MM-DD.
func (e *Entry) Key() string { return e.EntryDate.String() }

// Clone returns a deep copy of e that remembers e's original text, so that
// writing it back unchanged keeps that text.
func (e *Entry) Clone() *Entry {
	c := *e
	c.ExcludedDates = append([]civil.Date(nil), e.ExcludedDates...)
	c.Watchers = append([]string(nil), e.Watchers...)
	if e.QueryScriptArgs != nil {
		c.QueryScriptArgs = append([]string{}, e.QueryScriptArgs...)
	}
	if e.ReinitializeTable != nil {
		v := *e.ReinitializeTable
		c.ReinitializeTable = &v
	}
	if e.ReinitializeSamplingBatchSize != nil {
		v := *e.ReinitializeSamplingBatchSize
		c.ReinitializeSamplingBatchSize = &v
	}
	return &c
}

// Hash is a stable hash of the entry's canonical form (the text
// Marshal would write for it): "sha256:" followed by 64 hex digits. Any
// change to any field changes it; re-indenting or re-quoting the file does
// not.
func (e *Entry) Hash() string {
	sum := sha256.Sum256(e.Canonical())
	return "sha256:" + hex.EncodeToString(sum[:])
}

// Dates returns the calendar dates the entry covers, start to end inclusive,
// without the excluded dates.
func (e *Entry) Dates() []civil.Date {
	excluded := map[civil.Date]bool{}
	for _, d := range e.ExcludedDates {
		excluded[d] = true
	}
	var out []civil.Date
	for d := e.StartDate; !d.After(e.EndDate); d = d.AddDays(1) {
		if !excluded[d] {
			out = append(out, d)
		}
	}
	return out
}

// File is a parsed backfill.yaml: its entries in file order, plus what is
// needed to write it back without disturbing the text of unchanged entries.
type File struct {
	// Path is the file's path, used in messages.
	Path string
	// Entries in file order (newest first in a valid file).
	Entries []*Entry

	src    []byte   // the parsed bytes
	prefix []byte   // text before the first entry (comments)
	parsed []*Entry // Entries as parsed, to detect additions and moves
	broken bool     // a YAML error: the file cannot be rewritten
}

// Broken reports that the file could not be read as YAML (P2) or is not a
// mapping of entries, so it has no entries and cannot be rewritten.
func (f *File) Broken() bool { return f.broken }

// NewFile returns an empty file at path.
func NewFile(path string) *File { return &File{Path: path} }

// Entry returns the entry with the given entry date, or nil.
func (f *File) Entry(date civil.Date) *Entry {
	for _, e := range f.Entries {
		if e.EntryDate == date {
			return e
		}
	}
	return nil
}

// WithStatus returns the entries with status s, in file order.
func (f *File) WithStatus(s Status) []*Entry {
	var out []*Entry
	for _, e := range f.Entries {
		if e.Status == s {
			out = append(out, e)
		}
	}
	return out
}

// Add inserts e and sorts the entries newest first, as bqetl's create does.
// It refuses an entry whose entry date is already in the file.
func (f *File) Add(e *Entry) error {
	if f.broken {
		return fmt.Errorf("%s cannot be parsed, so it cannot be rewritten: fix it first", f.Path)
	}
	if f.Entry(e.EntryDate) != nil {
		return fmt.Errorf("%s already has an entry with entry date %s: edit that entry, or create the new one on another day", f.Path, e.EntryDate)
	}
	f.Entries = append(f.Entries, e)
	f.Sort()
	return nil
}

// Sort orders the entries newest first. Entries with the same date keep
// their relative order.
func (f *File) Sort() {
	sort.SliceStable(f.Entries, func(i, j int) bool {
		return f.Entries[i].EntryDate.After(f.Entries[j].EntryDate)
	})
}

// entryJSON is the JSON form of an entry: the YAML field names, the entry
// date and the hash, with null fields omitted.
type entryJSON struct {
	EntryDate                          string   `json:"entry_date"`
	StartDate                          string   `json:"start_date"`
	EndDate                            string   `json:"end_date"`
	ExcludedDates                      []string `json:"excluded_dates,omitempty"`
	Reason                             string   `json:"reason"`
	Watchers                           []string `json:"watchers"`
	Status                             Status   `json:"status"`
	CustomQueryPath                    string   `json:"custom_query_path,omitempty"`
	ShredderMitigation                 bool     `json:"shredder_mitigation"`
	ReinitializeTable                  *bool    `json:"reinitialize_table,omitempty"`
	ReinitializeSamplingBatchSize      *int     `json:"reinitialize_sampling_batch_size,omitempty"`
	OverrideRetentionLimit             bool     `json:"override_retention_limit"`
	OverrideDependsOnPastEndDate       bool     `json:"override_depends_on_past_end_date"`
	OverrideDependsOnPastNullPartition bool     `json:"override_depends_on_past_null_partition"`
	IgnoreDatePartitionOffset          bool     `json:"ignore_date_partition_offset"`
	BillingProject                     string   `json:"billing_project,omitempty"`
	QueryScriptEntrypoint              string   `json:"query_script_entrypoint,omitempty"`
	QueryScriptDateArg                 string   `json:"query_script_date_arg,omitempty"`
	QueryScriptArgs                    []string `json:"query_script_args,omitempty"`
	QueryScriptDryRunArg               string   `json:"query_script_dry_run_arg,omitempty"`
	Hash                               string   `json:"entry_hash"`
}

// MarshalJSON writes the entry with its YAML field names plus entry_date
// and entry_hash; dates are YYYY-MM-DD and null fields are omitted.
func (e *Entry) MarshalJSON() ([]byte, error) {
	j := entryJSON{
		EntryDate: e.Key(), StartDate: e.StartDate.String(), EndDate: e.EndDate.String(),
		Reason: e.Reason, Watchers: e.Watchers, Status: e.Status, CustomQueryPath: e.CustomQueryPath,
		ShredderMitigation: e.ShredderMitigation, ReinitializeTable: e.ReinitializeTable,
		ReinitializeSamplingBatchSize: e.ReinitializeSamplingBatchSize, OverrideRetentionLimit: e.OverrideRetentionLimit,
		OverrideDependsOnPastEndDate:       e.OverrideDependsOnPastEndDate,
		OverrideDependsOnPastNullPartition: e.OverrideDependsOnPastNullPartition,
		IgnoreDatePartitionOffset:          e.IgnoreDatePartitionOffset, BillingProject: e.BillingProject,
		QueryScriptEntrypoint: e.QueryScriptEntrypoint, QueryScriptDateArg: e.QueryScriptDateArg,
		QueryScriptArgs: e.QueryScriptArgs, QueryScriptDryRunArg: e.QueryScriptDryRunArg, Hash: e.Hash(),
	}
	if j.Watchers == nil {
		j.Watchers = []string{}
	}
	for _, d := range e.ExcludedDates {
		j.ExcludedDates = append(j.ExcludedDates, d.String())
	}
	b, err := json.Marshal(j)
	if err != nil {
		return nil, fmt.Errorf("encode entry %s: %w", e.Key(), err)
	}
	return b, nil
}

// String renders the entry for people, one field per line, as "info"
// prints it.
func (e *Entry) String() string {
	var b strings.Builder
	line := func(k, v string) { fmt.Fprintf(&b, "  %-40s %s\n", k+":", v) }
	line("entry_date", e.Key())
	line("start_date", e.StartDate.String())
	line("end_date", e.EndDate.String())
	if len(e.ExcludedDates) > 0 {
		line("excluded_dates", joinDates(e.ExcludedDates))
	}
	line("reason", strings.ReplaceAll(e.Reason, "\n", "\n"+strings.Repeat(" ", 43)))
	line("watchers", strings.Join(e.Watchers, ", "))
	line("status", string(e.Status))
	if e.CustomQueryPath != "" {
		line("custom_query_path", e.CustomQueryPath)
	}
	line("shredder_mitigation", fmt.Sprint(e.ShredderMitigation))
	if e.ReinitializeTable != nil {
		line("reinitialize_table", fmt.Sprint(*e.ReinitializeTable))
	}
	if e.ReinitializeSamplingBatchSize != nil {
		line("reinitialize_sampling_batch_size", fmt.Sprint(*e.ReinitializeSamplingBatchSize))
	}
	line("override_retention_limit", fmt.Sprint(e.OverrideRetentionLimit))
	line("override_depends_on_past_end_date", fmt.Sprint(e.OverrideDependsOnPastEndDate))
	line("override_depends_on_past_null_partition", fmt.Sprint(e.OverrideDependsOnPastNullPartition))
	line("ignore_date_partition_offset", fmt.Sprint(e.IgnoreDatePartitionOffset))
	if e.BillingProject != "" {
		line("billing_project", e.BillingProject)
	}
	if e.QueryScriptEntrypoint != "" {
		line("query_script_entrypoint", e.QueryScriptEntrypoint)
	}
	if e.QueryScriptDateArg != "" {
		line("query_script_date_arg", e.QueryScriptDateArg)
	}
	if e.QueryScriptArgs != nil {
		line("query_script_args", strings.Join(e.QueryScriptArgs, " "))
	}
	if e.QueryScriptDryRunArg != "" {
		line("query_script_dry_run_arg", e.QueryScriptDryRunArg)
	}
	return b.String()
}
