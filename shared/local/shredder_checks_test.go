package local

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

// TestShredderMitigationCheckFails: when a group of the previous version
// grew in the recomputation (usage_v1's release clicks on 2024-03-03 are
// lower than the source now says), no shredded row can restore it, so the
// generated #fail checks fail that partition with their message: the
// backfill ends failed and production is untouched.
func TestShredderMitigationCheckFails(t *testing.T) {
	s := openStack(t, Options{})
	script, err := os.ReadFile(filepath.Join("testdata", "shredder", "warehouse.sql"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := s.DuckDB.Query(ctx, warehouse.QueryJob{SQL: string(script)}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DuckDB.Query(ctx, warehouse.QueryJob{SQL: "UPDATE `moz-fx-data-shared-prod.test_derived.usage_v1` SET clicks = 1 WHERE submission_date = '2024-03-03' AND channel = 'release'"}); err != nil {
		t.Fatal(err)
	}
	before := rows(t, s, usageV2)
	id := pipeline.BackfillID(usageV2, testToday)
	sqlDir := shredderTree(t, "Initiate")
	if _, err := s.Run(ctx, sqlDir); err != nil {
		t.Logf("run: %v", err)
	}
	b := record(t, s, id)
	if b.State != ledger.StateFailed {
		t.Fatalf("state %s (%s), want failed", b.State, b.LastError)
	}
	states := partitionStates(t, s, id)
	if states["20240303"] != ledger.PartitionFailed || states["20240301"] != ledger.PartitionDone || states["20240302"] != ledger.PartitionDone {
		t.Errorf("partition states %v, want 20240303 failed and the others done", states)
	}
	for _, want := range []string{"shredder_mitigation_checks.sql", "1 rows in the previous data don't match backfilled data!", `"channel":"release"`} {
		if !strings.Contains(b.LastError, want) {
			t.Errorf("last error lacks %q: %s", want, b.LastError)
		}
	}
	if got := rows(t, s, usageV2); !slices.Equal(got, before) {
		t.Errorf("production changed:\n got %q\nwant %q", got, before)
	}
}
