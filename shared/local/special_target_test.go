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

// targetSettings is the bqbackfill.yaml of the --target tests: target dev
// deploys moz-fx-data-shared-prod.special_derived.visits_v1 as
// sandbox.dev_mybranch__moz_fx_data_shared_prod__special_derived.visits_v1
// (reference §4.5).
const targetSettings = `targets:
  dev:
    project: sandbox
    dataset_prefix: "dev_mybranch__{{ artifact.project_id }}__"
`

// TestSpecialTarget: under --target the backfill stages into the target
// project's staging dataset (created, as it is missing), backs up and swaps
// the target-deployed copy of the table, bills its queries to the target
// project, mirrors no permissions, and writes nothing in production.
func TestSpecialTarget(t *testing.T) {
	s, rec := specialStack(t)
	sandboxCopy := warehouse.TableRef{Project: "sandbox", Dataset: "dev_mybranch__moz_fx_data_shared_prod__special_derived", Table: "visits_v1"}
	staging := warehouse.TableRef{Project: "sandbox", Dataset: "backfills_staging_derived", Table: "special_derived__visits_v1_2024_03_20"}
	backup := warehouse.TableRef{Project: "sandbox", Dataset: "backfills_staging_derived", Table: "special_derived__visits_v1_backup_2024_03_20"}
	id := pipeline.BackfillID(visitsTable, testToday)
	prodBefore := rows(t, s, visitsTable)
	sandboxBefore := []string{
		"2024-03-01 DE 0", "2024-03-01 US 0",
		"2024-03-02 DE 0", "2024-03-02 US 0",
		"2024-03-03 DE 0", "2024-03-03 US 0",
	}
	checkSpecialRows(t, s, "the target copy", sandboxCopy, sandboxBefore)
	staged := []string{
		"2024-03-02 DE 2", "2024-03-02 US 5",
		"2024-03-03 DE 3", "2024-03-03 US 1",
	}
	// Production permissions that must not be mirrored under a target.
	if err := s.DuckDB.SetTableIAM(t.Context(), visitsTable, warehouse.Policy{Bindings: []warehouse.Binding{
		{Role: "roles/bigquery.dataViewer", Members: []string{"group:restricted-readers@example.com"}},
	}}); err != nil {
		t.Fatal(err)
	}

	e := specialEntry{date: testToday, start: "2024-03-02", end: "2024-03-03"}
	sqlDir := specialTree(t, visitsTable, e)
	writeTreeFile(t, filepath.Join(sqlDir, "bqbackfill.yaml"), targetSettings)
	filter := treescan.Options{Tables: []warehouse.TableRef{visitsTable}, Target: "dev"}

	// Initiate.
	res := runSpecial(t, s, sqlDir, filter)
	if got := did(res.Actions); count(got, "started "+id) != 1 {
		t.Fatalf("Initiate: actions %q, want one %q", got, "started "+id)
	}
	b := requireSpecialState(t, s, id, ledger.StateProcessed)
	if b.Staging != staging.String() || b.Backup != backup.String() {
		t.Errorf("ledger names staging %s and backup %s, want %s and %s", b.Staging, b.Backup, staging, backup)
	}
	checkSpecialRows(t, s, "staging", staging, staged)
	checkSpecialWritesGrouped(t, "Initiate", rec,
		[]string{"ensure dataset sandbox.backfills_staging_derived"},
		[]string{"create " + staging.String() + " like " + sandboxCopy.String()},
		[]string{"query " + staging.String() + "$20240302", "query " + staging.String() + "$20240303"})
	initiateWrites := rec.all()

	// Complete.
	rec.reset()
	writeSpecialEntries(t, sqlDir, visitsTable, e.withStatus("Complete"))
	runSpecial(t, s, sqlDir, filter)
	requireSpecialState(t, s, id, ledger.StateCompleted)
	checkSpecialRows(t, s, "the target copy after Complete", sandboxCopy, replaced(sandboxBefore, staged, 10, "2024-03-02", "2024-03-03"))
	checkSpecialRows(t, s, "backup", backup, sandboxBefore)
	if exists(t, s, staging) {
		t.Errorf("staging %s still exists after Complete", staging)
	}
	checkSpecialWritesGrouped(t, "Complete", rec,
		[]string{"backup " + sandboxCopy.String() + " -> " + backup.String()},
		[]string{
			"copy " + staging.String() + "$20240302 -> " + sandboxCopy.String() + "$20240302 WRITE_TRUNCATE",
			"copy " + staging.String() + "$20240303 -> " + sandboxCopy.String() + "$20240303 WRITE_TRUNCATE",
		},
		[]string{"delete " + staging.String()})

	// Nothing in production was written, and every job billed the target.
	for _, w := range append(initiateWrites, rec.all()...) {
		if w.table.Project != "sandbox" {
			t.Errorf("%s writes outside the target project", w.text)
		}
		if (w.op == "query" || w.op == "copy") && w.billing != "sandbox" {
			t.Errorf("%s billed to %q, want the target project sandbox", w.text, w.billing)
		}
		if w.op == "set-iam" {
			t.Errorf("%s: permissions are not mirrored under a target", w.text)
		}
	}
	checkSpecialRows(t, s, "production", visitsTable, prodBefore)
	for _, ref := range []warehouse.TableRef{stagingOf(visitsTable, testToday), backupOf(visitsTable, testToday)} {
		if exists(t, s, ref) {
			t.Errorf("%s exists: production's staging dataset was written", ref)
		}
	}
}

// TestSpecialTargetScript: a query.py backfill under --target is rejected
// (R5): its destination is fixed in query_script_args and would not be
// redirected. Nothing is written.
func TestSpecialTargetScript(t *testing.T) {
	s, rec := specialStack(t)
	e := specialEntry{date: testToday, start: "2024-03-02", end: "2024-03-03", fields: []string{
		"query_script_entrypoint: main",
		"query_script_date_arg: submission_date",
		"query_script_args:",
		"- --destination_table=" + stagingOf(scriptTable, testToday).String(),
	}}
	id := pipeline.BackfillID(scriptTable, testToday)
	sqlDir := specialTree(t, scriptTable, e)
	writeTreeFile(t, filepath.Join(sqlDir, "bqbackfill.yaml"), targetSettings)
	res := runSpecial(t, s, sqlDir, treescan.Options{Tables: []warehouse.TableRef{scriptTable}, Target: "dev"})
	if got, want := did(res.Actions), []string{"rejected " + id}; !slices.Equal(got, want) {
		t.Fatalf("actions %q, want %q", got, want)
	}
	b := requireSpecialState(t, s, id, ledger.StateRejected)
	if !strings.HasPrefix(b.LastError, "R5: ") || !strings.Contains(b.LastError, "--target") {
		t.Errorf("last error %q, want R5 about --target", b.LastError)
	}
	checkSpecialWrites(t, "rejected entry", rec, []string{})
	if got := partitionStates(t, s, id); len(got) != 0 {
		t.Errorf("partition records %v, want none", got)
	}
}
