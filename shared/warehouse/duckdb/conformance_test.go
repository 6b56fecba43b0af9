package duckdb_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/bqbackfill/bqbackfill/shared/warehouse"
	"github.com/bqbackfill/bqbackfill/shared/warehouse/duckdb"
	"github.com/bqbackfill/bqbackfill/shared/warehouse/warehousetest"
)

// harness runs the conformance suite on a warehouse in t.TempDir(), with a
// clock the suite can move forward.
type harness struct {
	w *duckdb.Warehouse

	mu     sync.Mutex
	offset time.Duration
}

func (h *harness) Warehouse() warehouse.Warehouse { return h.w }
func (h *harness) Project() string                { return "conformance-project" }
func (h *harness) Capabilities() warehousetest.Capabilities {
	return warehousetest.Capabilities{RealData: true, DryRunBytes: true}
}
func (h *harness) SetDatasetAccess(ctx context.Context, project, dataset string, entries []warehouse.AccessEntry) error {
	return h.w.SetDatasetAccess(ctx, project, dataset, entries)
}
func (h *harness) Advance(d time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.offset += d
}
func (h *harness) now() time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	return time.Now().Add(h.offset)
}

func newHarness(t *testing.T) warehousetest.Harness {
	h := &harness{}
	w, err := duckdb.Open(t.TempDir(), &duckdb.Options{Now: h.now})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := w.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	h.w = w
	return h
}

func TestConformance(t *testing.T) {
	warehousetest.Run(t, newHarness)
}
