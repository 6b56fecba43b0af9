package backfill

import (
	"sort"
	"strconv"
	"strings"
)

// Error is one problem with a backfill.yaml entry, its table's metadata or
// its custom query. Rule is a stable identifier (see Rules); the other
// fields say where the problem is, and Message says what is wrong and what
// is allowed.
type Error struct {
	Rule      string `json:"rule"`
	File      string `json:"file,omitempty"`
	Line      int    `json:"line,omitempty"`
	EntryDate string `json:"entry_date,omitempty"`
	Field     string `json:"field,omitempty"`
	Message   string `json:"message"`
}

// Error formats e as "file:line: entry D: field: message [RULE]".
func (e Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		if e.Line > 0 {
			b.WriteString(":")
			b.WriteString(strconv.Itoa(e.Line))
		}
		b.WriteString(": ")
	}
	if e.EntryDate != "" {
		b.WriteString("entry ")
		b.WriteString(e.EntryDate)
		b.WriteString(": ")
	}
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Message)
	b.WriteString(" [")
	b.WriteString(e.Rule)
	b.WriteString("]")
	return b.String()
}

// Rules describes every rule id this package reports. The ids P*, V*, M*,
// C* and R* are those of the bigquery-etl reference (§3); P16, P17, M0, M3,
// T1 and the shredder mitigation rules S* (added from shared/shredder) are
// ours.
var Rules = map[string]string{
	"P1":   "duplicate key in a mapping (two entries with the same entry date, or a field given twice)",
	"P2":   "backfill.yaml is not valid YAML",
	"P3":   "a required field (start_date, end_date, reason, watchers, status) is missing",
	"P4":   "status is not Initiate, Complete or Cancelled (any letter case)",
	"P5":   "the file is not named backfill.yaml",
	"P6":   "the entry date is in the future",
	"P7":   "start_date is after end_date or after the entry date",
	"P8":   "end_date is before start_date or after the entry date",
	"P9":   "an excluded date is not strictly between start_date and end_date",
	"P10":  "excluded_dates are not sorted ascending",
	"P11":  "excluded_dates has duplicates",
	"P12":  "watchers is empty or a watcher is neither an email nor a GitHub identity",
	"P13":  "a watcher is listed twice",
	"P14":  "reason is empty",
	"P15":  "billing_project does not start with the backfill billing-project prefix",
	"P16":  "unknown field in an entry",
	"P17":  "a value has the wrong type (entry-date key, date, boolean, number, list)",
	"V1":   "the placeholder watcher is among the watchers",
	"V2":   "the reason is the placeholder reason",
	"V3":   "two entries have the same entry date",
	"V4":   "excluded_dates unsorted or duplicated",
	"V5":   "shredder_mitigation of an Initiate entry differs from the table's shredder_mitigation label",
	"V6":   "more than one Initiate entry",
	"V7":   "depends_on_past table with end_date before the entry date (override: override_depends_on_past_end_date)",
	"V8":   "Initiate entry older than the maximum entry age (28 days)",
	"V9":   "start_date older than the retention limit from the entry date (override: override_retention_limit)",
	"V10":  "query script backfill without query_script_entrypoint or query_script_date_arg",
	"V11":  "reinitialize_sampling_batch_size outside 1..100",
	"V12a": "override_depends_on_past_null_partition without custom_query_path",
	"V12b": "override_depends_on_past_null_partition together with reinitialize_table",
	"V13":  "entries are not sorted newest first",
	"M0":   "metadata.yaml is missing (skip with --ignore-missing-metadata)",
	"M1":   "depends_on_past table with a null date_partition_parameter, without an escape hatch",
	"M2":   "partitioning other than day or month (hour, year, integer range)",
	"M3":   "metadata.yaml cannot be read",
	"C1":   "custom_query_path not found",
	"C2":   "custom query script has a Python syntax error",
	"R1":   "more than one Initiate entry: the scanner starts none of them (the last one; V6 reports the others)",
	"R5":   "a query.py (python script) backfill under --target",
	"R8":   "warning: excluded dates on a depends_on_past table",
	"R9":   "reinitialize_table on a query.py table",
	"R10":  "reinitialize_table but query.sql has no is_init() block",
	"R12":  "monthly table with a non-zero date_partition_offset (override: ignore_date_partition_offset)",
	"R17":  "warning: end_date is today",
	"T1":   "the table directory does not exist in the sql tree",
	"T2":   "a directory of the tree cannot be part of a table name (characters other than letters, digits, _ and -)",
	"T3":   "a file or directory of the tree is a symbolic link leading outside the tree or to a directory, a device, a FIFO or a socket",
	"T4":   "a file of the tree is larger than the size limit (8 MiB)",
	"T5":   "the table name <project>.<dataset>.<table> is longer than a backfill id allows (200 bytes)",
}

// RuleIDs returns the ids of Rules in a stable order (P, V, M, C, R, each
// numerically).
func RuleIDs() []string {
	ids := make([]string, 0, len(Rules))
	for id := range Rules {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ruleLess(ids[i], ids[j]) })
	return ids
}

func ruleLess(a, b string) bool {
	order := "PVMCRST"
	ca, cb := strings.IndexByte(order, a[0]), strings.IndexByte(order, b[0])
	if ca != cb {
		return ca < cb
	}
	na, sa := splitRule(a[1:])
	nb, sb := splitRule(b[1:])
	if na != nb {
		return na < nb
	}
	return sa < sb
}

func splitRule(s string) (int, string) {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	n, _ := strconv.Atoi(s[:i])
	return n, s[i:]
}

// SortErrors orders errors by file, line, entry date and rule, so output is
// stable.
func SortErrors(errs []Error) {
	sort.SliceStable(errs, func(i, j int) bool {
		a, b := errs[i], errs[j]
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		if a.EntryDate != b.EntryDate {
			return a.EntryDate > b.EntryDate
		}
		return ruleLess(a.Rule, b.Rule)
	})
}
