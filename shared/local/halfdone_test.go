package local

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/bqbackfill/bqbackfill/shared/ledger"
	"github.com/bqbackfill/bqbackfill/shared/logging"
	"github.com/bqbackfill/bqbackfill/shared/warehouse"
)

// TestHalfDoneCompletion is review item 4 of issue 14: the completion stops
// after two partition copies (the process died), then the entry is changed
// (to Cancelled, or back to Initiate), or removed from backfill.yaml
// (status "": another entry replaces it). Every run reports the half-swapped
// table (a WARNING log with the backfill id, Result.Held) and none finishes
// the swap by itself; then an operator rolls production back from the
// backup (exactly as it was) or finishes the swap.
func TestHalfDoneCompletion(t *testing.T) {
	for _, tc := range []struct {
		name, status string
		rollback     bool
	}{
		{"cancelled, rolled back", "Cancelled", true},
		{"back to Initiate, finished", "Initiate", false},
		{"cancelled, finished", "Cancelled", false},
		{"removed, rolled back", "", true},
		{"removed, finished", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			dir := t.TempDir()
			wh := &stoppingWarehouse{prod: dauTable}
			wh.copiesLeft.Store(2)
			wrap := func(w warehouse.Warehouse) warehouse.Warehouse {
				wh.Warehouse = w
				return wh
			}
			s1, stop := openStackManual(t, Options{StateDir: dir, Warehouse: wrap})
			defer stop()
			loadWarehouse(t, s1)
			before := rows(t, s1, dauTable)
			sqlDir := writeTree(t, sixDays.table, sixDays.entry)
			run(t, s1, sqlDir)
			checkProcessed(t, s1, sixDays, sixDaysID)
			wh.armed.Store(true)
			complete(t, sqlDir, sixDays)
			if _, err := s1.Run(ctx, sqlDir); err == nil {
				t.Fatal("run with the completion stopped returned no error")
			}
			stop()
			wh.armed.Store(false)
			wh.mu.Lock()
			halfDone := replaced(before, sixDays.staged, 10, wh.copied...)
			wh.mu.Unlock()

			changed, says := sixDays.entry, "now "+tc.status
			changed.status = tc.status
			if tc.status == "" {
				// The entry is gone; an older, cancelled one is all the
				// file holds.
				changed = entry{date: "2024-02-01", start: "2024-01-01", end: "2024-01-02", status: "Cancelled"}
				says = "no longer in backfill.yaml"
			}
			writeEntries(t, sqlDir, sixDays.table, changed)
			logs, events := &syncBuffer{}, &syncBuffer{}
			s2 := openStack(t, Options{StateDir: dir, Warehouse: wrap, Logger: logging.New(logs, slog.LevelWarn), Events: events})
			for round := range 2 {
				res, err := s2.Run(ctx, sqlDir)
				if err != nil {
					t.Fatalf("run %d with the entry %s: %v", round+1, tc.status, err)
				}
				held := res.Held()
				if len(held) != 1 || held[0].ID != sixDaysID || !strings.Contains(held[0].Held, says) ||
					!strings.Contains(held[0].Held, "bqbackfill rollback "+dauTable.String()) || !strings.Contains(held[0].Held, "bqbackfill complete "+dauTable.String()) {
					t.Fatalf("run %d: held %+v, want %s held saying what to do", round+1, held, sixDaysID)
				}
				if b := record(t, s2, sixDaysID); b.State != ledger.StateCompleting {
					t.Fatalf("run %d: state %s, want completing (held)", round+1, b.State)
				}
				if got := rows(t, s2, dauTable); !slices.Equal(got, halfDone) {
					t.Fatalf("run %d changed the half-swapped production:\n got %q\nwant %q", round+1, got, halfDone)
				}
			}
			var warned int
			for _, line := range strings.Split(logs.String(), "\n") {
				if strings.Contains(line, `"severity":"WARNING"`) && strings.Contains(line, "needs an operator") &&
					strings.Contains(line, `"logging.googleapis.com/labels":{"backfill_id":"`+sixDaysID+`"`) {
					warned++
				}
			}
			if warned != 1 { // once per process: local mode scans many times
				t.Errorf("%d WARNING lines naming %s, want one:\n%s", warned, sixDaysID, logs.String())
			}
			// The watchers are told once.
			if n := strings.Count(events.String(), "stopped half-done"); n != 1 {
				t.Errorf("%d notifications of the held completion, want one:\n%s", n, events.String())
			}

			if tc.rollback {
				id, n, err := s2.Pipeline.Rollback(ctx, dauTable)
				if err != nil || id != sixDaysID || n != len(sixDays.partitions) {
					t.Fatalf("rollback: %s, %d partitions, %v; want %s, %d", id, n, err, sixDaysID, len(sixDays.partitions))
				}
				if got := rows(t, s2, dauTable); !slices.Equal(got, before) {
					t.Errorf("production after the rollback:\n got %q\nwant %q", got, before)
				}
				if b := record(t, s2, sixDaysID); b.State != ledger.StateRolledBack || b.Held != "" {
					t.Errorf("after the rollback: state %s, held %q; want rolled_back", b.State, b.Held)
				}
			} else {
				if id, err := s2.Pipeline.FinishCompletion(ctx, dauTable); err != nil || id != sixDaysID {
					t.Fatalf("finish: %s, %v", id, err)
				}
				if _, err := s2.Drain(ctx); err != nil {
					t.Fatal(err)
				}
				checkCompleted(t, s2, sixDays, sixDaysID, before)
			}
			res := run(t, s2, sqlDir)
			if held := res.Held(); len(held) > 0 {
				t.Errorf("still held after the operator acted: %+v", held)
			}
		})
	}
}
