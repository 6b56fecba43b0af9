package local

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/civil"

	"github.com/bqbackfill/bqbackfill/shared/ledger"
	"github.com/bqbackfill/bqbackfill/shared/pipeline"
)

// TestRejectedEntryRunsOnceFixed: two Initiate entries reject each other
// (V6/R1); removing one lets the other run, without editing it.
func TestRejectedEntryRunsOnceFixed(t *testing.T) {
	ctx := context.Background()
	today := civil.Date{Year: 2026, Month: 11, Day: 25}
	now := func() time.Time { return time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC) }
	s, err := Open(ctx, Options{Now: now, IdleTimeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	dir := t.TempDir()
	sqlDir, err := WriteDemoTree(dir, today)
	if err != nil {
		t.Fatal(err)
	}
	if err := LoadDemoData(ctx, s.DuckDB, today); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(sqlDir, DemoTable.Project, DemoTable.Dataset, DemoTable.Table, "backfill.yaml")
	one, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	second := strings.Replace(string(one), today.String()+":", today.AddDays(-1).String()+":", 1)
	if err := os.WriteFile(file, []byte(string(one)+"\n"+second), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Run(ctx, sqlDir); err != nil {
		t.Fatal(err)
	}
	id := pipeline.BackfillID(DemoTable, today.String())
	b, err := s.Ledger.Get(ctx, id)
	if err != nil || b.State != ledger.StateRejected {
		t.Fatalf("with two Initiate entries: %+v, %v; want rejected", b, err)
	}
	// A second run with nothing changed does nothing (reported once).
	res, err := s.Run(ctx, sqlDir)
	if err != nil || len(res.Actions) != 0 {
		t.Fatalf("rerun acted: %+v, %v", res.Actions, err)
	}
	// Remove the older entry: the newer one, unchanged, now runs.
	if err := os.WriteFile(file, one, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Run(ctx, sqlDir); err != nil {
		t.Fatal(err)
	}
	b, err = s.Ledger.Get(ctx, id)
	if err != nil || b.State != ledger.StateProcessed {
		t.Fatalf("after removing the other entry: %+v, %v; want processed", b, err)
	}
}
