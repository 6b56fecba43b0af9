package main

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"cloud.google.com/go/civil"

	"github.com/bqbackfill/bqbackfill/shared/local"
	"github.com/bqbackfill/bqbackfill/shared/warehouse"
)

// dyingCopies fails the copies into dest after the first `left`, as a
// completion process killed part-way through its swap.
type dyingCopies struct {
	warehouse.Warehouse
	dest  warehouse.TableRef
	armed atomic.Bool
	left  atomic.Int64
}

func (w *dyingCopies) Copy(ctx context.Context, job warehouse.CopyJob) (warehouse.JobResult, error) {
	if w.armed.Load() && job.Dest == w.dest && w.left.Add(-1) < 0 {
		return warehouse.JobResult{}, errors.New("test: the completion process died here")
	}
	return w.Warehouse.Copy(ctx, job)
}

// openDemo writes the demo tree and opens a local stack on a new state
// directory with the demo's data loaded (its warehouse wrapped by wrap,
// if set); it returns the stack (closed by the test's cleanup, or
// earlier), the state directory and the sql/ tree.
func openDemo(t *testing.T, wrap func(warehouse.Warehouse) warehouse.Warehouse) (*local.Stack, string, string) {
	t.Helper()
	ctx := context.Background()
	today := civil.Date{Year: 2026, Month: 11, Day: 25}
	dir := t.TempDir()
	sqlDir, err := local.WriteDemoTree(filepath.Join(dir, "tree"), today)
	if err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(dir, "state")
	s, err := local.Open(ctx, local.Options{StateDir: state, IdleTimeout: 100 * time.Millisecond,
		Now: func() time.Time { return time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC) }, Warehouse: wrap})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := local.LoadDemoData(ctx, s.DuckDB, today); err != nil {
		t.Fatal(err)
	}
	return s, state, sqlDir
}

// halfDoneDemo leaves the demo backfill completing with 3 of its 13
// partitions swapped into production, and its entry then set to status;
// it returns the state directory and the sql/ tree.
func halfDoneDemo(t *testing.T, status string) (string, string) {
	t.Helper()
	ctx := context.Background()
	wh := &dyingCopies{dest: local.DemoTable}
	wh.left.Store(3)
	s, state, sqlDir := openDemo(t, func(w warehouse.Warehouse) warehouse.Warehouse {
		wh.Warehouse = w
		return wh
	})
	defer s.Close()
	if _, err := s.Run(ctx, sqlDir); err != nil {
		t.Fatal(err)
	}
	if err := local.SetDemoStatus(sqlDir, "Complete"); err != nil {
		t.Fatal(err)
	}
	wh.armed.Store(true)
	if _, err := s.Run(ctx, sqlDir); err == nil {
		t.Fatal("the completion was not stopped")
	}
	if err := local.SetDemoStatus(sqlDir, status); err != nil {
		t.Fatal(err)
	}
	return state, sqlDir
}

// TestHalfDoneCompletionCommands: a completion stopped half-done whose
// entry was then set to Cancelled is reported by run (exit 1) and by
// status (text and JSON) with what to do; rollback restores production
// from the backup, or complete finishes the swap (review: hostile input,
// item 4).
func TestHalfDoneCompletionCommands(t *testing.T) {
	table := local.DemoTable.String()
	id := table + "/2026-11-25"
	// Production's value before the backfill, and after (bots excluded).
	sum := func(t *testing.T, state string) string {
		t.Helper()
		code, out, errOut := runMain(t, "sql", "--state-dir", state, "--format", "csv",
			"SELECT SUM(dau) AS n FROM `"+table+"` WHERE submission_date = DATE '2026-11-11'")
		if code != 0 {
			t.Fatalf("sql: exit %d: %s", code, errOut)
		}
		return strings.TrimSpace(out)
	}
	for _, tc := range []struct {
		name string
		args []string
		out  string
		want string // production's sum on 2026-11-11 afterwards
	}{
		{"rollback", []string{"rollback", table}, "restored 13 partition(s)", "n\n19"},
		{"complete", []string{"complete", table, "--sql-dir", "SQL", "--today", "2026-11-25"}, id + "  completed", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			state, sqlDir := halfDoneDemo(t, "Cancelled")
			code, out, errOut := runMain(t, "run", "--sql-dir", sqlDir, "--state-dir", state, "--today", "2026-11-25")
			if code != 1 || !strings.Contains(out, "HELD: ") || !strings.Contains(out, "now Cancelled") ||
				!strings.Contains(out, "bqbackfill rollback "+table) || !strings.Contains(out, "stopped half-done") {
				t.Fatalf("run: exit %d\nstdout:\n%s\nstderr:\n%s\nwant exit 1 reporting the held completion", code, out, errOut)
			}
			code, out, _ = runMain(t, "status", "--state-dir", state)
			if code != 0 || !strings.Contains(out, "state: completing") || !strings.Contains(out, "HELD: ") {
				t.Errorf("status: exit %d\n%s", code, out)
			}
			code, out, _ = runMain(t, "status", "--state-dir", state, "--json")
			var rows []backfillSummary
			if err := json.Unmarshal([]byte(out), &rows); err != nil || code != 0 || len(rows) != 1 || !strings.Contains(rows[0].Held, "bqbackfill complete "+table) {
				t.Errorf("status --json: exit %d, %v\n%s", code, err, out)
			}

			args := append([]string(nil), tc.args...)
			for i, a := range args {
				if a == "SQL" {
					args[i] = sqlDir
				}
			}
			code, out, errOut = runMain(t, append(args, "--state-dir", state)...)
			if code != 0 || !strings.Contains(out, tc.out) {
				t.Fatalf("%s: exit %d\nstdout:\n%s\nstderr:\n%s", tc.name, code, out, errOut)
			}
			if tc.want != "" {
				if got := sum(t, state); got != tc.want {
					t.Errorf("production after %s: %q, want %q", tc.name, got, tc.want)
				}
			} else if got := sum(t, state); got == "n\n19" {
				t.Errorf("production after %s still holds the old value", tc.name)
			}
			code, out, errOut = runMain(t, "run", "--sql-dir", sqlDir, "--state-dir", state, "--today", "2026-11-25")
			if code != 0 || strings.Contains(out, "HELD") {
				t.Errorf("run after %s: exit %d\nstdout:\n%s\nstderr:\n%s", tc.name, code, out, errOut)
			}
		})
	}
}
