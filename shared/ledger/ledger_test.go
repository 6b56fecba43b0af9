package ledger

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/fsouza/fake-gcs-server/fakestorage"
)

// stores returns a Store on the in-memory fake and one on the file-backed
// fake (the local mode's), so every test runs on both backends.
func stores(t *testing.T) map[string]*Store {
	t.Helper()
	out := map[string]*Store{}
	for name, root := range map[string]string{"memory": "", "files": t.TempDir()} {
		srv, err := fakestorage.NewServerWithOptions(fakestorage.Options{NoListener: true, StorageRoot: root})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(srv.Stop)
		srv.CreateBucketWithOpts(fakestorage.CreateBucketOpts{Name: "ledger"})
		out[name] = New(srv.Client(), "ledger")
	}
	return out
}

const id = "p.d.t/2026-11-01"

func newRecord() *Backfill {
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	return &Backfill{ID: id, Table: "p.d.t", EntryDate: "2026-11-01", State: StatePending, EntryHash: "sha256:x",
		Spec: json.RawMessage(`{"partitions":["a","b"]}`), PartitionCount: 2, CreatedAt: now, UpdatedAt: now}
}

func TestCreateGetUpdate(t *testing.T) {
	ctx := context.Background()
	for name, s := range stores(t) {
		t.Run(name, func(t *testing.T) {
			if _, err := s.Get(ctx, id); !errors.Is(err, ErrNotFound) {
				t.Fatalf("Get before Create: %v, want ErrNotFound", err)
			}
			if err := s.Create(ctx, newRecord()); err != nil {
				t.Fatal(err)
			}
			if err := s.Create(ctx, newRecord()); !errors.Is(err, ErrExists) {
				t.Fatalf("second Create: %v, want ErrExists", err)
			}
			b, err := s.Get(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if b.State != StatePending || b.PartitionCount != 2 || b.Spec != nil || b.SpecHash == "" {
				t.Errorf("record = %+v (the spec lives in its own object)", b)
			}
			spec, err := s.Spec(ctx, id)
			if err != nil || string(spec) != `{"partitions":["a","b"]}` || SpecHashOf(spec) != b.SpecHash {
				t.Errorf("spec = %s, %v", spec, err)
			}
			b, err = s.Update(ctx, id, func(b *Backfill) error { b.State = StateStaging; return nil })
			if err != nil || b.State != StateStaging {
				t.Fatalf("Update: %+v, %v", b, err)
			}
			if _, err := s.Update(ctx, id, func(b *Backfill) error { return ErrNoChange }); !errors.Is(err, ErrNoChange) {
				t.Errorf("Update returning ErrNoChange: %v", err)
			}
			if _, err := s.Update(ctx, id, func(b *Backfill) error { b.State = StateCompleted; return nil }); err == nil {
				t.Error("Update allowed staging -> completed")
			}
			got, _ := s.Get(ctx, id)
			if got.State != StateStaging {
				t.Errorf("a refused transition was written: %s", got.State)
			}
			all, err := s.List(ctx)
			if err != nil || len(all) != 1 || all[0].ID != id {
				t.Errorf("List = %v, %v", all, err)
			}
		})
	}
}

// TestCreateIsExactlyOnce races ten creators of one backfill, as ten
// scanners on one event would.
func TestCreateIsExactlyOnce(t *testing.T) {
	ctx := context.Background()
	for name, s := range stores(t) {
		t.Run(name, func(t *testing.T) {
			var wg sync.WaitGroup
			var mu sync.Mutex
			wins, exists := 0, 0
			for i := 0; i < 10; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					err := s.Create(ctx, newRecord())
					mu.Lock()
					defer mu.Unlock()
					switch {
					case err == nil:
						wins++
					case errors.Is(err, ErrExists):
						exists++
					default:
						t.Errorf("Create: %v", err)
					}
				}()
			}
			wg.Wait()
			if wins != 1 || exists != 9 {
				t.Fatalf("%d creates won and %d saw ErrExists, want 1 and 9", wins, exists)
			}
		})
	}
}

// TestConcurrentUpdatesLoseNothing increments a counter from many
// goroutines through the compare-and-swap loop.
func TestConcurrentUpdatesLoseNothing(t *testing.T) {
	ctx := context.Background()
	for name, s := range stores(t) {
		t.Run(name, func(t *testing.T) {
			if _, err := s.UpdatePartition(ctx, id, "20261101", func(r *PartitionRecord) error { return nil }); err != nil {
				t.Fatal(err)
			}
			const workers, each = 4, 10
			var wg sync.WaitGroup
			for w := 0; w < workers; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := 0; i < each; i++ {
						if _, err := s.UpdatePartition(ctx, id, "20261101", func(r *PartitionRecord) error { r.Attempts++; return nil }); err != nil {
							t.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			r, err := s.GetPartition(ctx, id, "20261101")
			if err != nil {
				t.Fatal(err)
			}
			if r.Attempts != workers*each {
				t.Fatalf("attempts = %d, want %d: an update was lost", r.Attempts, workers*each)
			}
		})
	}
}

func TestPartitionsAndSwapSteps(t *testing.T) {
	ctx := context.Background()
	for name, s := range stores(t) {
		t.Run(name, func(t *testing.T) {
			states := map[string]PartitionState{"20261101": PartitionDone, "20261102": PartitionFailed, "20261103": PartitionPending}
			for pid, st := range states {
				st := st
				if _, err := s.UpdatePartition(ctx, id, pid, func(r *PartitionRecord) error { r.State = st; r.Error = "e-" + pid; return nil }); err != nil {
					t.Fatal(err)
				}
			}
			// UpdatePartitionFrom with a stale snapshot falls back to a fresh read.
			stale := &PartitionRecord{ID: "20261103", State: PartitionPending, Generation: 1}
			if _, err := s.UpdatePartitionFrom(ctx, id, "20261103", stale, func(r *PartitionRecord) error { r.State = PartitionDone; return nil }); err != nil {
				t.Fatal(err)
			}
			states["20261103"] = PartitionDone
			// ...and with "believed absent" for a new one.
			if _, err := s.UpdatePartitionFrom(ctx, id, "20261104", nil, func(r *PartitionRecord) error { r.State = PartitionDone; return nil }); err != nil {
				t.Fatal(err)
			}
			states["20261104"] = PartitionDone
			got, err := s.PartitionStates(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got) != fmt.Sprint(states) {
				t.Errorf("PartitionStates = %v, want %v", got, states)
			}
			recs, err := s.ListPartitions(ctx, id)
			if err != nil || len(recs) != 4 {
				t.Fatalf("ListPartitions = %d records, %v", len(recs), err)
			}
			sum, err := s.PartitionSummary(ctx, id)
			if err != nil || sum.Counts[PartitionDone] != 3 || len(sum.Failed) != 1 || sum.Failed[0] != "20261102" {
				t.Errorf("summary = %+v, %v", sum, err)
			}
			if _, err := s.UpdateSwapStep(ctx, id, "backup", func(st *SwapStep) error { st.Done = true; return nil }); err != nil {
				t.Fatal(err)
			}
			steps, err := s.ListSwapSteps(ctx, id)
			if err != nil || len(steps) != 1 || !steps[0].Done || steps[0].Name != "backup" {
				t.Errorf("swap steps = %+v, %v", steps, err)
			}
		})
	}
}

func TestInvalidNames(t *testing.T) {
	ctx := context.Background()
	s := stores(t)["memory"]
	for _, bad := range []string{"", "../x", "a//b", "/abs", "trail/"} {
		if _, err := s.Get(ctx, bad); err == nil || errors.Is(err, ErrNotFound) {
			t.Errorf("Get(%q) = %v, want an invalid-id error", bad, err)
		}
	}
	if _, err := s.UpdatePartition(ctx, id, "../x", func(*PartitionRecord) error { return nil }); err == nil {
		t.Error("a partition id with .. was accepted")
	}
}

func TestTransitions(t *testing.T) {
	for _, tc := range []struct {
		from, to State
		ok       bool
	}{
		{StatePending, StateStaging, true}, {StateProcessing, StateProcessed, true}, {StateProcessed, StateCompleting, true},
		{StateCompleting, StateCompleted, true}, {StateCompleted, StateRolledBack, true}, {StateFailed, StateProcessing, true},
		{StatePending, StateCompleted, false}, {StateCompleted, StateProcessing, false}, {StateCancelled, StateProcessing, false},
	} {
		if got := CanTransition(tc.from, tc.to); got != tc.ok {
			t.Errorf("CanTransition(%s, %s) = %v, want %v", tc.from, tc.to, got, tc.ok)
		}
	}
}
