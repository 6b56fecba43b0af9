package local

import (
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/bqbackfill/bqbackfill/shared/ledger"
	"github.com/bqbackfill/bqbackfill/shared/pipeline"
	"github.com/bqbackfill/bqbackfill/shared/treescan"
)

// TestSpecialQueryScript runs a query.py table with a real python3 script
// (testdata/special/sql/…/script_visits_v1/query.py), each partition in its
// own process, the script writing wherever the entry's query_script_args
// say through the local SQL endpoint. The pipeline does not set up staging
// for a script; a script that does not fill it is caught at completion,
// before production is touched.
func TestSpecialQueryScript(t *testing.T) {
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("python3 is not on PATH: the query.py tests run a real script (install python3 to run them)")
	}
	staging := stagingOf(scriptTable, testToday)
	backup := backupOf(scriptTable, testToday)
	id := pipeline.BackfillID(scriptTable, testToday)
	// Production (bots counted) outside and inside the backfilled days.
	before := []string{
		"2024-03-01 DE 14", "2024-03-01 US 27",
		"2024-03-02 DE 12", "2024-03-02 US 25",
		"2024-03-03 DE 13", "2024-03-03 US 21",
		"2024-03-04 DE 11", "2024-03-04 US 24",
	}
	staged := []string{
		"2024-03-02 DE 2", "2024-03-02 US 5",
		"2024-03-03 DE 3", "2024-03-03 US 1",
	}
	entry := func(args ...string) specialEntry {
		fields := []string{
			"query_script_entrypoint: main",
			"query_script_date_arg: submission_date",
			"query_script_dry_run_arg: --dry_run",
		}
		if len(args) > 0 {
			fields = append(fields, "query_script_args:")
			for _, a := range args {
				fields = append(fields, "- "+a)
			}
		}
		return specialEntry{date: testToday, start: "2024-03-02", end: "2024-03-03", fields: fields}
	}

	t.Run("writes staging", func(t *testing.T) {
		s, rec := specialStack(t)
		checkSpecialRows(t, s, "production", scriptTable, before)
		e := entry("--destination_table=" + staging.String())
		sqlDir := specialTree(t, scriptTable, e)
		runSpecial(t, s, sqlDir, treescan.Options{})
		requireSpecialState(t, s, id, ledger.StateProcessed)
		checkSpecialRows(t, s, "staging", staging, staged)
		checkSpecialRows(t, s, "production after Initiate", scriptTable, before)
		recs, err := s.Ledger.ListPartitions(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			if r.State != ledger.PartitionDone || r.Rows != 2 {
				t.Errorf("partition %s: state %s, %d rows recorded; want done with staging's 2 rows", r.ID, r.State, r.Rows)
			}
		}
		if len(recs) != 2 {
			t.Errorf("%d partition records, want 2", len(recs))
		}
		// The pipeline created no table for the script (only made sure the
		// staging dataset exists) and ran no query of its own.
		checkSpecialWrites(t, "Initiate", rec, []string{"ensure dataset moz-fx-data-shared-prod.backfills_staging_derived"})

		rec.reset()
		writeSpecialEntries(t, sqlDir, scriptTable, e.withStatus("Complete"))
		runSpecial(t, s, sqlDir, treescan.Options{})
		requireSpecialState(t, s, id, ledger.StateCompleted)
		checkSpecialRows(t, s, "production after Complete", scriptTable, replaced(before, staged, 10, "2024-03-02", "2024-03-03"))
		checkSpecialRows(t, s, "backup", backup, before)
		if exists(t, s, staging) {
			t.Errorf("staging %s still exists after Complete", staging)
		}
	})

	for _, tc := range []struct {
		name string
		args []string
		// staging says whether the script leaves a staging table;
		// refusal is in the last error.
		staging bool
		refusal string
	}{
		{
			name:    "writes nothing",
			refusal: "completion refused: staging table " + staging.String() + " does not exist: the script " + scriptTable.Project + "/" + scriptTable.Dataset + "/" + scriptTable.Table + "/query.py did not write to it",
		},
		{
			name:    "creates staging but writes no rows",
			args:    []string{"--destination_table=" + staging.String(), "--create_only"},
			staging: true,
			refusal: "completion refused: staging table " + staging.String() + " is empty (the script " + scriptTable.Project + "/" + scriptTable.Dataset + "/" + scriptTable.Table + "/query.py wrote nothing to it) while production has 4 rows in those partitions",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, rec := specialStack(t)
			e := entry(tc.args...)
			sqlDir := specialTree(t, scriptTable, e)
			runSpecial(t, s, sqlDir, treescan.Options{})
			// The script ran without an error for every date: the
			// backfill is processed, and the problem shows at completion.
			requireSpecialState(t, s, id, ledger.StateProcessed)
			if got := exists(t, s, staging); got != tc.staging {
				t.Fatalf("staging exists: %v, want %v", got, tc.staging)
			}

			rec.reset()
			writeSpecialEntries(t, sqlDir, scriptTable, e.withStatus("Complete"))
			res := runSpecial(t, s, sqlDir, treescan.Options{})
			if f := res.Failed(); len(f) != 1 || f[0].ID != id {
				t.Errorf("Result.Failed() = %v, want the refused backfill", f)
			}
			b := requireSpecialState(t, s, id, ledger.StateFailed)
			if !strings.HasPrefix(b.LastError, tc.refusal) {
				t.Errorf("last error\n %q\nwant it to start with\n %q", b.LastError, tc.refusal)
			}
			checkSpecialRows(t, s, "production", scriptTable, before)
			if exists(t, s, backup) {
				t.Errorf("a refused completion created the backup %s", backup)
			}
			checkSpecialWrites(t, "refused completion", rec, []string{})
			if got := swapSteps(t, s, id); len(got) != 0 {
				t.Errorf("swap steps %q recorded for a refused completion", got)
			}
			// Reported once: another run does nothing.
			before := ledgerSnapshot(t, s)
			if got := did(runSpecial(t, s, sqlDir, treescan.Options{}).Actions); len(got) != 0 {
				t.Errorf("a run after the refusal did %q", got)
			}
			if got := ledgerSnapshot(t, s); !mapsEqual(got, before) {
				t.Errorf("a run after the refusal wrote the ledger")
			}
			if slices.Contains(rec.texts(), "backup "+scriptTable.String()+" -> "+backup.String()) {
				t.Errorf("a run after the refusal backed up production")
			}
		})
	}
}
