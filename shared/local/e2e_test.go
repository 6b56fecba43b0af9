package local

// End-to-end tests of local mode: the seed document's supported cases run
// from Initiate to Complete through the whole stack (sync, scanner, Pub/Sub,
// worker tasks, completion), checking the exact contents of staging,
// production and the backup, and the ledger.

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/bqbackfill/bqbackfill/shared/ledger"
	"github.com/bqbackfill/bqbackfill/shared/pipeline"
	"github.com/bqbackfill/bqbackfill/shared/warehouse"
)

// e2eCase is one supported case of the seed document.
type e2eCase struct {
	name  string
	table warehouse.TableRef
	entry entry // status Initiate, dated testToday
	// partitions are the ledger's partition ids.
	partitions []string
	// staged is the exact content of staging after Initiate.
	staged []string
	// key is how many leading characters of a row name its partition (see
	// replaced); swapped are those partition keys.
	key     int
	swapped []string
	// generated: the query and metadata exist only in the synced tree,
	// generated next to a committed tree that holds only backfill.yaml.
	generated bool
}

var e2eCases = []e2eCase{
	{
		name:       "day",
		table:      dauTable,
		entry:      entry{date: testToday, start: "2024-03-01", end: "2024-03-02", status: "Initiate"},
		partitions: []string{"20240301", "20240302"},
		staged: []string{
			"2024-03-01 DE 2", "2024-03-01 US 1",
			"2024-03-02 DE 1", "2024-03-02 US 3",
		},
		key:     10,
		swapped: []string{"2024-03-01", "2024-03-02"},
	},
	{
		name:       "day with excluded dates",
		table:      dauTable,
		entry:      entry{date: testToday, start: "2024-03-02", end: "2024-03-06", excluded: []string{"2024-03-03", "2024-03-05"}, status: "Initiate"},
		partitions: []string{"20240302", "20240304", "20240306"},
		staged: []string{
			"2024-03-02 DE 1", "2024-03-02 US 3",
			"2024-03-04 DE 3", "2024-03-04 US 1",
			"2024-03-06 DE 2", "2024-03-06 US 1",
		},
		key:     10,
		swapped: []string{"2024-03-02", "2024-03-04", "2024-03-06"},
	},
	{
		name:       "month",
		table:      monthlyTable,
		entry:      entry{date: testToday, start: "2024-01-01", end: "2024-02-29", status: "Initiate"},
		partitions: []string{"202401", "202402"},
		staged: []string{
			"2024-01-01 DE 2", "2024-01-01 US 1",
			"2024-02-01 DE 1", "2024-02-01 US 2",
		},
		key:     7,
		swapped: []string{"2024-01", "2024-02"},
	},
	{
		// One excluded day drops its whole month; the months around it
		// (started and ended mid-month) are computed whole.
		name:       "month with an excluded day",
		table:      monthlyTable,
		entry:      entry{date: testToday, start: "2023-12-20", end: "2024-03-10", excluded: []string{"2024-01-07"}, status: "Initiate"},
		partitions: []string{"202312", "202402", "202403"},
		staged: []string{
			"2023-12-01 DE 1", "2023-12-01 US 2",
			"2024-02-01 DE 1", "2024-02-01 US 2",
			"2024-03-01 DE 11", "2024-03-01 US 10",
		},
		key:     7,
		swapped: []string{"2023-12", "2024-02", "2024-03"},
	},
	{
		// One job computes the whole table as of the end date, and the
		// completion swaps the whole table.
		name:       "unpartitioned",
		table:      countryTable,
		entry:      entry{date: testToday, start: "2024-03-01", end: "2024-03-03", status: "Initiate"},
		partitions: []string{pipeline.WholeTableID},
		staged:     []string{"DE 10", "US 12"},
		key:        0,
		swapped:    []string{""},
	},
	{
		name:       "generated SQL only in the synced tree",
		table:      dauTable,
		entry:      entry{date: testToday, start: "2024-03-04", end: "2024-03-05", status: "Initiate"},
		partitions: []string{"20240304", "20240305"},
		staged: []string{
			"2024-03-04 DE 3", "2024-03-04 US 1",
			"2024-03-05 DE 1", "2024-03-05 US 2",
		},
		key:       10,
		swapped:   []string{"2024-03-04", "2024-03-05"},
		generated: true,
	},
}

func TestEndToEnd(t *testing.T) {
	for _, tc := range e2eCases {
		t.Run(tc.name, func(t *testing.T) {
			s := openStack(t, Options{})
			loadWarehouse(t, s)
			id := pipeline.BackfillID(tc.table, testToday)
			backup := backupOf(tc.table, testToday)
			before := rows(t, s, tc.table)

			// Initiate.
			var sqlDir string
			var actions []pipeline.Action
			if tc.generated {
				// The repository holds only backfill.yaml; CI generates
				// the query and metadata into the tree it syncs. Nothing
				// of the generated tree is left on disk once it is synced:
				// workers and completion use the synced tree only.
				sqlDir = filepath.Join(t.TempDir(), "sql")
				writeEntries(t, sqlDir, tc.table, tc.entry)
				generated := filepath.Join(t.TempDir(), "sql")
				copyTableFiles(t, tc.table, generated)
				writeEntries(t, generated, tc.table, tc.entry)
				if _, err := s.Sync(context.Background(), generated); err != nil {
					t.Fatal(err)
				}
				if err := os.RemoveAll(filepath.Dir(generated)); err != nil {
					t.Fatal(err)
				}
				if _, err := os.Stat(filepath.Join(tableDir(sqlDir, tc.table), "query.sql")); !os.IsNotExist(err) {
					t.Fatalf("the committed tree must not hold query.sql (stat: %v)", err)
				}
				actions = settle(t, s)
			} else {
				sqlDir = writeTree(t, tc.table, tc.entry)
				actions = run(t, s, sqlDir).Actions
			}
			if got := did(actions); !slices.Contains(got, "started "+id) || count(got, "started "+id) != 1 {
				t.Fatalf("Initiate: actions %q, want one %q", got, "started "+id)
			}
			checkProcessed(t, s, tc, id)
			if got := rows(t, s, tc.table); !slices.Equal(got, before) {
				t.Errorf("Initiate changed production:\n got %q\nwant %q", got, before)
			}
			if exists(t, s, backup) {
				t.Errorf("Initiate created the backup %s", backup)
			}
			checkIdle(t, s, sqlDir)

			// Complete: the second pull request flips the status.
			done := tc.entry
			done.status = "Complete"
			writeEntries(t, sqlDir, tc.table, done)
			res := run(t, s, sqlDir)
			if got := did(res.Actions); count(got, "completion-requested "+id) != 1 {
				t.Errorf("Complete: actions %q, want one %q", got, "completion-requested "+id)
			}
			checkCompleted(t, s, tc, id, before)
			checkIdle(t, s, sqlDir)
		})
	}
}

// checkProcessed asserts the state after Initiate: processed, every
// partition done, staging exactly tc.staged.
func checkProcessed(t *testing.T, s *Stack, tc e2eCase, id string) {
	t.Helper()
	b := record(t, s, id)
	if b.State != ledger.StateProcessed {
		t.Fatalf("after Initiate: state %s (%s), want processed", b.State, b.LastError)
	}
	if got, want := partitionStates(t, s, id), allDone(tc.partitions...); !mapsEqual(got, want) {
		t.Errorf("partition records %v, want %v", got, want)
	}
	if got := rows(t, s, stagingOf(tc.table, testToday)); !slices.Equal(got, tc.staged) {
		t.Errorf("staging:\n got %q\nwant %q", got, tc.staged)
	}
}

// checkCompleted asserts the state after Complete: completed, production
// is before with the swapped partitions replaced by the staged rows, the
// backup is before, staging is gone, every swap step recorded.
func checkCompleted(t *testing.T, s *Stack, tc e2eCase, id string, before []string) {
	t.Helper()
	b := record(t, s, id)
	if b.State != ledger.StateCompleted {
		t.Fatalf("after Complete: state %s (%s), want completed", b.State, b.LastError)
	}
	want := replaced(before, tc.staged, tc.key, tc.swapped...)
	if got := rows(t, s, tc.table); !slices.Equal(got, want) {
		t.Errorf("production after the swap:\n got %q\nwant %q", got, want)
	}
	if got := rows(t, s, backupOf(tc.table, testToday)); !slices.Equal(got, before) {
		t.Errorf("backup:\n got %q\nwant production before the swap %q", got, before)
	}
	if exists(t, s, stagingOf(tc.table, testToday)) {
		t.Errorf("staging %s still exists after Complete", stagingOf(tc.table, testToday))
	}
	wantSteps := []string{"backup", "copy", "delete-staging"}
	if got := swapSteps(t, s, id); !slices.Equal(got, wantSteps) {
		t.Errorf("swap steps %q, want %q", got, wantSteps)
	}
}

// checkIdle runs again with nothing changed: no action, no ledger write,
// no warehouse change.
func checkIdle(t *testing.T, s *Stack, sqlDir string) {
	t.Helper()
	ledgerBefore := ledgerSnapshot(t, s)
	tables := warehouseSnapshot(t, s)
	res := run(t, s, sqlDir)
	if got := did(res.Actions); len(got) > 0 {
		t.Errorf("a run with nothing changed did %q", got)
	}
	if got := ledgerSnapshot(t, s); !mapsEqual(got, ledgerBefore) {
		t.Errorf("a run with nothing changed wrote the ledger:\n got %v\nwant %v", got, ledgerBefore)
	}
	if got := warehouseSnapshot(t, s); !mapsEqual(got, tables) {
		t.Errorf("a run with nothing changed changed the warehouse")
	}
}

// warehouseSnapshot is the rows of every fixture, staging and backup table.
func warehouseSnapshot(t *testing.T, s *Stack) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, table := range []warehouse.TableRef{dauTable, monthlyTable, countryTable} {
		for _, ref := range []warehouse.TableRef{table, stagingOf(table, testToday), backupOf(table, testToday)} {
			if exists(t, s, ref) {
				out[ref.String()] = strings.Join(rows(t, s, ref), "\n")
			}
		}
	}
	return out
}

// settle is Run without its sync: it fires the manifest event and drains
// workers, completion and events until nothing happens.
func settle(t *testing.T, s *Stack) []pipeline.Action {
	t.Helper()
	ctx := context.Background()
	var all []pipeline.Action
	for round := 0; round < 1000; round++ {
		actions, err := s.FireManifest(ctx)
		if err != nil {
			t.Fatalf("fire the manifest event: %v", err)
		}
		n, err := s.Drain(ctx)
		if err != nil {
			t.Fatalf("drain: %v", err)
		}
		all = append(all, actions...)
		if len(did(actions)) == 0 && n == 0 {
			return all
		}
	}
	t.Fatal("the stack did not settle")
	return nil
}

func count(list []string, s string) int {
	n := 0
	for _, v := range list {
		if v == s {
			n++
		}
	}
	return n
}

func mapsEqual[K comparable, V comparable](a, b map[K]V) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// TestRejectedEntries: an entry that fails a rule the scanner checks again
// is rejected with the rule's id, once, and nothing is written to the
// warehouse.
func TestRejectedEntries(t *testing.T) {
	for _, tc := range []struct {
		name  string
		entry entry
		rule  string
	}{
		{"placeholder watcher", entry{date: testToday, start: "2024-03-01", end: "2024-03-02", watcher: "nobody@mozilla.com", status: "Initiate"}, "V1"},
		{"entry older than 28 days", entry{date: "2024-02-20", start: "2024-02-01", end: "2024-02-02", status: "Initiate"}, "V8"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			events := &syncBuffer{}
			s := openStack(t, Options{Events: events})
			loadWarehouse(t, s)
			before := warehouseSnapshot(t, s)
			sqlDir := writeTree(t, dauTable, tc.entry)
			id := pipeline.BackfillID(dauTable, tc.entry.date)

			res := run(t, s, sqlDir)
			if got, want := did(res.Actions), []string{"rejected " + id}; !slices.Equal(got, want) {
				t.Fatalf("actions %q, want %q", got, want)
			}
			if f := res.Failed(); len(f) != 1 || f[0].ID != id {
				t.Errorf("Result.Failed() = %v, want the rejected backfill", f)
			}
			b := record(t, s, id)
			if b.State != ledger.StateRejected || !strings.HasPrefix(b.LastError, tc.rule+": ") {
				t.Errorf("record: state %s, last error %q; want rejected with %s", b.State, b.LastError, tc.rule)
			}
			if !strings.Contains(events.String(), tc.rule) {
				t.Errorf("the rejection event does not name %s:\n%s", tc.rule, events.String())
			}
			if got := partitionStates(t, s, id); len(got) != 0 {
				t.Errorf("partition records %v, want none", got)
			}
			if got := warehouseSnapshot(t, s); !mapsEqual(got, before) {
				t.Errorf("a rejected entry changed the warehouse: %v", got)
			}
			if exists(t, s, stagingOf(dauTable, tc.entry.date)) {
				t.Errorf("a rejected entry created staging")
			}
			// Reported once: the next run does nothing.
			checkIdle(t, s, sqlDir)
		})
	}
}

// TestCancelledAfterProcessing: an entry set to Cancelled after its
// partitions were computed becomes cancelled; production is untouched and
// a later Complete is ignored.
func TestCancelledAfterProcessing(t *testing.T) {
	s := openStack(t, Options{})
	loadWarehouse(t, s)
	tc := e2eCases[0]
	id := pipeline.BackfillID(tc.table, testToday)
	before := rows(t, s, tc.table)
	sqlDir := writeTree(t, tc.table, tc.entry)
	run(t, s, sqlDir)
	checkProcessed(t, s, tc, id)

	cancelled := tc.entry
	cancelled.status = "Cancelled"
	writeEntries(t, sqlDir, tc.table, cancelled)
	res := run(t, s, sqlDir)
	if got, want := did(res.Actions), []string{"cancelled " + id}; !slices.Equal(got, want) {
		t.Errorf("actions %q, want %q", got, want)
	}
	if b := record(t, s, id); b.State != ledger.StateCancelled {
		t.Errorf("state %s, want cancelled", b.State)
	}
	if got := rows(t, s, tc.table); !slices.Equal(got, before) {
		t.Errorf("production changed:\n got %q\nwant %q", got, before)
	}
	if exists(t, s, backupOf(tc.table, testToday)) {
		t.Errorf("a cancelled backfill was backed up")
	}
	checkIdle(t, s, sqlDir)

	// Cancelled is final: flipping the entry to Complete does nothing.
	complete := tc.entry
	complete.status = "Complete"
	writeEntries(t, sqlDir, tc.table, complete)
	checkIdle(t, s, sqlDir)
	if got := rows(t, s, tc.table); !slices.Equal(got, before) {
		t.Errorf("production changed after Complete on a cancelled backfill")
	}
}
