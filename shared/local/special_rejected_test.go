package local

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/bqbackfill/bqbackfill/shared/ledger"
	"github.com/bqbackfill/bqbackfill/shared/pipeline"
	"github.com/bqbackfill/bqbackfill/shared/treescan"
	"github.com/bqbackfill/bqbackfill/shared/warehouse"
)

// visitsMetadata is a metadata.yaml for special_derived.visits_v1 with the
// given labels, scheduling and bigquery blocks (YAML lines, indented by
// two spaces under their key).
func visitsMetadata(labels, scheduling, bigquery []string) string {
	var b strings.Builder
	b.WriteString("friendly_name: Visits (test)\ndescription: Human visits per day and country.\nowners:\n  - test@example.com\n")
	block := func(key string, lines []string) {
		if len(lines) == 0 {
			return
		}
		b.WriteString(key + ":\n")
		for _, l := range lines {
			b.WriteString("  " + l + "\n")
		}
	}
	block("labels", labels)
	block("scheduling", append([]string{"dag_name: bqetl_special"}, scheduling...))
	block("bigquery", bigquery)
	return b.String()
}

// dayPartitioned is the bigquery block of a day-partitioned visits_v1.
var dayPartitioned = []string{"time_partitioning:", "  type: day", "  field: submission_date"}

// TestSpecialRejected: the configurations the seed document rejects, with
// no override or without the override they need, are rejected by the
// scanner with their rule id in the ledger's last error and in the
// rejection event, before anything is written to the warehouse; the next
// run does nothing. Where the seed allows an override, the same entry with
// it runs.
func TestSpecialRejected(t *testing.T) {
	base := specialEntry{date: testToday, start: "2024-03-02", end: "2024-03-03"}
	with := func(e specialEntry, f func(*specialEntry)) specialEntry { f(&e); return e }
	for _, tc := range []struct {
		name  string
		table warehouse.TableRef // visits_v1 when zero
		// metadata replaces the table's metadata.yaml ("" keeps it).
		metadata string
		entries  []specialEntry
		// rules maps each entry date to the rule its rejection starts with.
		rules map[string]string
	}{
		{
			name:     "hour partitioning (M2)",
			metadata: visitsMetadata(nil, nil, []string{"time_partitioning:", "  type: hour", "  field: submission_date"}),
			entries:  []specialEntry{base},
			rules:    map[string]string{testToday: "M2"},
		},
		{
			name:     "year partitioning (M2)",
			metadata: visitsMetadata(nil, nil, []string{"time_partitioning:", "  type: year", "  field: submission_date"}),
			entries:  []specialEntry{base},
			rules:    map[string]string{testToday: "M2"},
		},
		{
			name: "integer range partitioning (M2)",
			metadata: visitsMetadata(nil, nil, []string{
				"range_partitioning:", "  field: visits", "  range:", "    start: 0", "    end: 100", "    interval: 10",
			}),
			entries: []specialEntry{base},
			rules:   map[string]string{testToday: "M2"},
		},
		{
			// The end date is the entry date, as V7 wants for depends_on_past.
			name:     "depends_on_past with a null date_partition_parameter (M1)",
			metadata: visitsMetadata(nil, []string{"depends_on_past: true", "date_partition_parameter: null"}, dayPartitioned),
			entries:  []specialEntry{{date: "2024-03-03", start: "2024-03-02", end: "2024-03-03"}},
			rules:    map[string]string{"2024-03-03": "M1"},
		},
		{
			// Neither runs: only one in-flight backfill per table. V6
			// names the newer entry; the scanner's R1 stops the older.
			name: "two Initiate entries (V6)",
			entries: []specialEntry{
				base,
				with(base, func(e *specialEntry) { e.date = "2024-03-19" }),
			},
			rules: map[string]string{testToday: "V6", "2024-03-19": "R1"},
		},
		{
			name:    "entry older than 28 days (V8)",
			entries: []specialEntry{{date: "2024-02-20", start: "2024-02-01", end: "2024-02-02"}},
			rules:   map[string]string{"2024-02-20": "V8"},
		},
		{
			// The partition expiration makes the retention limit 10 days.
			name:     "start before the retention limit (V9)",
			metadata: visitsMetadata(nil, nil, append(slices.Clone(dayPartitioned), "  expiration_days: 10")),
			entries:  []specialEntry{base},
			rules:    map[string]string{testToday: "V9"},
		},
		{
			name:     "shredder_mitigation label, entry without it (V5)",
			metadata: visitsMetadata([]string{"shredder_mitigation: true"}, nil, dayPartitioned),
			entries:  []specialEntry{with(base, func(e *specialEntry) { e.fields = []string{"shredder_mitigation: false"} })},
			rules:    map[string]string{testToday: "V5"},
		},
		{
			name:    "entry with shredder_mitigation, table without the label (V5)",
			entries: []specialEntry{with(base, func(e *specialEntry) { e.fields = []string{"shredder_mitigation: true"} })},
			rules:   map[string]string{testToday: "V5"},
		},
		{
			// visits_v1 is a first version: there is nothing to mitigate
			// against (shared/shredder; the mitigation itself runs in
			// TestShredderMitigation).
			name:     "shredder_mitigation on a first version (S1)",
			metadata: visitsMetadata([]string{"shredder_mitigation: true"}, nil, dayPartitioned),
			entries:  []specialEntry{with(base, func(e *specialEntry) { e.fields = []string{"shredder_mitigation: true"} })},
			rules:    map[string]string{testToday: "S1"},
		},
		{
			name:    "placeholder watcher (V1)",
			entries: []specialEntry{with(base, func(e *specialEntry) { e.watcher = "nobody@mozilla.com" })},
			rules:   map[string]string{testToday: "V1"},
		},
		{
			// monthly_visits_v1 has date_partition_offset: -1.
			name:    "month partitioning with a date_partition_offset (R12)",
			table:   monthlyVisitsTable,
			entries: []specialEntry{{date: testToday, start: "2024-03-01", end: "2024-03-20"}},
			rules:   map[string]string{testToday: "R12"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Nothing runs for a rejected entry: no worker that an idle
			// timeout could cut short on a busy machine.
			t.Parallel()
			table := tc.table
			if table.IsZero() {
				table = visitsTable
			}
			events := &syncBuffer{}
			s, rec := specialStackWith(t, Options{Events: events})
			sqlDir := specialTree(t, table, tc.entries...)
			if tc.metadata != "" {
				writeTreeFile(t, filepath.Join(tableDir(sqlDir, table), "metadata.yaml"), tc.metadata)
			}
			prodBefore := rows(t, s, table)

			res := runSpecial(t, s, sqlDir, treescan.Options{})
			var want []string
			for date := range tc.rules {
				want = append(want, "rejected "+pipeline.BackfillID(table, date))
			}
			slices.Sort(want)
			got := did(res.Actions)
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Fatalf("actions %q, want %q", got, want)
			}
			for date, rule := range tc.rules {
				id := pipeline.BackfillID(table, date)
				b := requireSpecialState(t, s, id, ledger.StateRejected)
				if !strings.HasPrefix(b.LastError, rule+": ") {
					t.Errorf("%s: last error %q, want it to start with %s", id, b.LastError, rule)
				}
				if got := partitionStates(t, s, id); len(got) != 0 {
					t.Errorf("%s: partition records %v, want none", id, got)
				}
				if exists(t, s, stagingOf(table, date)) {
					t.Errorf("%s: a rejected entry created staging", id)
				}
				if !strings.Contains(events.String(), "`"+rule+"`") {
					t.Errorf("the rejection event does not name %s:\n%s", rule, events.String())
				}
			}
			checkSpecialWrites(t, "rejected entries", rec, []string{})
			checkSpecialRows(t, s, "production", table, prodBefore)

			// Reported once: the next run does nothing.
			ledgerBefore := ledgerSnapshot(t, s)
			if got := did(runSpecial(t, s, sqlDir, treescan.Options{}).Actions); len(got) != 0 {
				t.Errorf("a run with nothing changed did %q", got)
			}
			if got := ledgerSnapshot(t, s); !mapsEqual(got, ledgerBefore) {
				t.Errorf("a run with nothing changed wrote the ledger")
			}
			checkSpecialWrites(t, "a second run", rec, []string{})
		})
	}
}

// TestSpecialOverrides: the entries of TestSpecialRejected that the seed
// document and the reference allow with an override run when the entry
// sets it.
func TestSpecialOverrides(t *testing.T) {
	for _, tc := range []struct {
		name     string
		table    warehouse.TableRef
		metadata string // replaces the table's metadata.yaml ("" keeps it)
		entry    specialEntry
		staged   []string
	}{
		{
			name:     "start before the retention limit with override_retention_limit",
			table:    visitsTable,
			metadata: visitsMetadata(nil, nil, append(slices.Clone(dayPartitioned), "  expiration_days: 10")),
			entry:    specialEntry{date: testToday, start: "2024-03-02", end: "2024-03-03", fields: []string{"override_retention_limit: true"}},
			staged: []string{
				"2024-03-02 DE 2", "2024-03-02 US 5",
				"2024-03-03 DE 3", "2024-03-03 US 1",
			},
		},
		{
			// The whole month, with @month_start the first of the month
			// (the offset is ignored).
			name:   "month partitioning with a date_partition_offset and ignore_date_partition_offset",
			table:  monthlyVisitsTable,
			entry:  specialEntry{date: testToday, start: "2024-03-01", end: "2024-03-20", fields: []string{"ignore_date_partition_offset: true"}},
			staged: []string{"2024-03-01 DE 10", "2024-03-01 US 17"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := specialStack(t)
			sqlDir := specialTree(t, tc.table, tc.entry)
			if tc.metadata != "" {
				writeTreeFile(t, filepath.Join(tableDir(sqlDir, tc.table), "metadata.yaml"), tc.metadata)
			}
			runSpecial(t, s, sqlDir, treescan.Options{})
			requireSpecialState(t, s, pipeline.BackfillID(tc.table, testToday), ledger.StateProcessed)
			checkSpecialRows(t, s, "staging", stagingOf(tc.table, testToday), tc.staged)
		})
	}
}
