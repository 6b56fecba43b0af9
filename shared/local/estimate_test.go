package local

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/bqbackfill/bqbackfill/shared/estimate"
	"github.com/bqbackfill/bqbackfill/shared/warehouse"
)

// TestStartedEstimateLine: on the local stack the "started" notification
// carries the estimate line, with the partitions and the profile query's
// bytes: DuckDB's own dry run of its production side (the table whole),
// doubled for staging.
func TestStartedEstimateLine(t *testing.T) {
	events := &syncBuffer{}
	s := openStack(t, Options{Events: events})
	loadWarehouse(t, s)
	tc := e2eCases[0]
	whole, err := s.DuckDB.Query(context.Background(), warehouse.QueryJob{SQL: "SELECT * FROM `" + tc.table.String() + "`", DryRun: true})
	if err != nil || whole.BytesProcessed == 0 {
		t.Fatalf("dry run of production: %+v, %v", whole, err)
	}
	run(t, s, writeTree(t, tc.table, tc.entry))
	want := fmt.Sprintf("Estimate: %d partitions, ", len(tc.partitions))
	profile := fmt.Sprintf(", profile query %s, ", estimate.HumanBytes(2*whole.BytesProcessed))
	var line string
	for _, l := range strings.Split(events.String(), "\n") {
		if strings.Contains(l, "Estimate: ") {
			line = l
		}
	}
	if !strings.Contains(line, want) || !strings.Contains(line, profile) || !strings.HasSuffix(line, "at BigQuery's per-table rate.") {
		t.Errorf("estimate line %q, want %q…%q…at BigQuery's per-table rate; notifications:\n%s", line, want, profile, events.String())
	}
}
