package local

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/bqbackfill/bqbackfill/shared/ledger"
	"github.com/bqbackfill/bqbackfill/shared/pipeline"
	"github.com/bqbackfill/bqbackfill/shared/warehouse"
)

// crashingSwap fails the first transaction as a process dying around it
// would: before the COMMIT (nothing changed) or after it (production
// replaced, the step not recorded).
type crashingSwap struct {
	warehouse.Warehouse
	afterCommit bool
	mu          sync.Mutex
	calls       int
	// atCrash is production as a reader saw it right after the crash.
	atCrash []string
}

var errCrash = errors.New("the completion died")

func (c *crashingSwap) ReplacePartitions(ctx context.Context, job warehouse.ReplaceJob) (warehouse.JobResult, error) {
	c.mu.Lock()
	c.calls++
	first := c.calls == 1
	c.mu.Unlock()
	inner := c.Warehouse.(interface {
		ReplacePartitions(context.Context, warehouse.ReplaceJob) (warehouse.JobResult, error)
	})
	if !first {
		return inner.ReplacePartitions(ctx, job)
	}
	var res warehouse.JobResult
	if c.afterCommit {
		var err error
		if res, err = inner.ReplacePartitions(ctx, job); err != nil {
			return res, err
		}
	}
	rows, err := readRows(ctx, c.Warehouse, job.Dest)
	if err != nil {
		return res, err
	}
	c.atCrash = rows
	return res, errCrash
}

func writeSettings(t *testing.T, sqlDir, yaml string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(sqlDir, "bqbackfill.yaml"), []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
}

// Atomic promotion swaps the staged partitions in by transactions; a
// crash before or after the commit leaves production all-old or all-new,
// and the resumed completion finishes; rollback restores the backup.
func TestAtomicPromotion(t *testing.T) {
	for _, afterCommit := range []bool{false, true} {
		name := "crash before commit"
		if afterCommit {
			name = "crash after commit"
		}
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			crash := &crashingSwap{afterCommit: afterCommit}
			s := openStack(t, Options{Warehouse: func(w warehouse.Warehouse) warehouse.Warehouse { crash.Warehouse = w; return crash }})
			loadWarehouse(t, s)
			before := rows(t, s, dauTable)
			e := entry{date: testToday, start: "2024-03-01", end: "2024-03-02", status: "Initiate"}
			sqlDir := writeTree(t, dauTable, e)
			writeSettings(t, sqlDir, "promotion:\n  default: copy\n  tables:\n    "+dauTable.String()+": atomic\n")
			run(t, s, sqlDir)
			id := pipeline.BackfillID(dauTable, testToday)
			staged := rows(t, s, stagingOf(dauTable, testToday))
			want := replaced(before, staged, 10, "2024-03-01", "2024-03-02")

			e.status = "Complete"
			writeEntries(t, sqlDir, dauTable, e)
			run(t, s, sqlDir)
			if crash.calls == 0 {
				t.Fatal("the completion ran no transaction")
			}
			if afterCommit && !slices.Equal(crash.atCrash, want) || !afterCommit && !slices.Equal(crash.atCrash, before) {
				t.Fatalf("production right after the crash:\n got %q", crash.atCrash)
			}
			// The completion request is redelivered; the resumed swap
			// finishes (a further request is harmless).
			if err := s.Pipeline.Complete(ctx, id); err != nil {
				t.Fatal(err)
			}
			if b := record(t, s, id); b.State != ledger.StateCompleted {
				t.Fatalf("state %s after the resumed completion (%s)", b.State, b.LastError)
			}
			if got := rows(t, s, dauTable); !slices.Equal(got, want) {
				t.Errorf("production after the resumed swap:\n got %q\nwant %q", got, want)
			}
			if got := swapSteps(t, s, id); !slices.Equal(got, []string{"atomic", "backup", "delete-staging"}) {
				t.Errorf("swap steps %q", got)
			}
			if got := rows(t, s, backupOf(dauTable, testToday)); !slices.Equal(got, before) {
				t.Errorf("backup:\n got %q\nwant %q", got, before)
			}
			if _, n, err := s.Pipeline.Rollback(ctx, dauTable); err != nil || n != 2 {
				t.Fatalf("rollback restored %d partitions: %v", n, err)
			}
			if got := rows(t, s, dauTable); !slices.Equal(got, before) {
				t.Errorf("production after rollback:\n got %q\nwant %q", got, before)
			}
		})
	}
}

// max_bytes_per_backfill refuses a backfill estimated to process more:
// the entry is rejected with rule Q2 and both numbers; nothing is written
// to the warehouse.
func TestMaxBytesGuard(t *testing.T) {
	rec := &writeRecorder{}
	s := openStack(t, Options{Warehouse: func(w warehouse.Warehouse) warehouse.Warehouse { rec.Warehouse = w; return rec }})
	loadWarehouse(t, s)
	sqlDir := writeTree(t, dauTable, entry{date: testToday, start: "2024-03-01", end: "2024-03-02", status: "Initiate"})
	writeSettings(t, sqlDir, "max_bytes_per_backfill: 100\n")
	res := run(t, s, sqlDir)
	id := pipeline.BackfillID(dauTable, testToday)
	if got := did(res.Actions); !slices.Contains(got, "rejected "+id) {
		t.Fatalf("actions %q, want the entry rejected", got)
	}
	b := record(t, s, id)
	if b.State != ledger.StateRejected || !strings.Contains(b.LastError, "Q2: the backfill is estimated to process ") ||
		!strings.Contains(b.LastError, "more than max_bytes_per_backfill 100 bytes (100 B) in bqbackfill.yaml") {
		t.Errorf("state %s, error %q", b.State, b.LastError)
	}
	if w := rec.all(); len(w) > 0 {
		t.Errorf("a refused backfill wrote %v", w)
	}
	if exists(t, s, stagingOf(dauTable, testToday)) {
		t.Error("a refused backfill created staging")
	}
}
