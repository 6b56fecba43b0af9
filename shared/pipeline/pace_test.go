package pipeline_test

import (
	"context"
	"sync"
	"testing"

	"cloud.google.com/go/civil"

	"github.com/bqbackfill/bqbackfill/shared/queue"
	"github.com/bqbackfill/bqbackfill/shared/warehouse"
)

// recordingPacer records which tables are paced, and how.
type recordingPacer struct {
	mu          sync.Mutex
	shared, own map[warehouse.TableRef]int
}

func (r *recordingPacer) Wait(_ context.Context, t warehouse.TableRef) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.shared[t]++
	return nil
}

func (r *recordingPacer) WaitOwn(_ context.Context, t warehouse.TableRef) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.own[t]++
	return nil
}

// A worker's query into staging, a table only the backfill writes, is
// paced at the own-table share; the swap's copies into production, which
// its scheduled jobs write too, at the shared one.
func TestPacingStagingOwnProductionShared(t *testing.T) {
	e := newContractEnv(t)
	pacer := &recordingPacer{shared: map[warehouse.TableRef]int{}, own: map[warehouse.TableRef]int{}}
	e.p.Pacer = pacer
	days := startCompleting(t, e, dayRange("Initiate", "2023-01-01", "2023-01-03"), civil.Date{Year: 2023, Month: 1, Day: 1}, 3)
	if err := e.p.Complete(e.ctx, contractID); err != nil {
		t.Fatal(err)
	}
	if pacer.shared[table] != len(days) || len(pacer.own) != 0 {
		t.Errorf("swap paced %v as shared and %v as own, want %d copies into %s as shared", pacer.shared, pacer.own, len(days), table)
	}

	e2 := newContractEnv(t)
	pacer2 := &recordingPacer{shared: map[warehouse.TableRef]int{}, own: map[warehouse.TableRef]int{}}
	e2.p.Pacer = pacer2
	m := firstPartition(t, e2)
	if out := e2.p.HandlePartition(e2.ctx, m, nil); out != queue.Ack {
		t.Fatalf("outcome %v, want ack", out)
	}
	if pacer2.own[staging] != 1 || len(pacer2.shared) != 0 {
		t.Errorf("worker paced %v as own and %v as shared, want its query into %s as own", pacer2.own, pacer2.shared, staging)
	}
}

// firstPartition starts the contract backfill and returns the first
// partition message, as first delivered.
func firstPartition(t *testing.T, e *contractEnv) queue.Received {
	t.Helper()
	if did := e.scan(t, "Initiate"); len(did) != 1 {
		t.Fatalf("scan = %v", did)
	}
	msgs := e.pub.take("partitions")
	if len(msgs) == 0 {
		t.Fatal("no partition published")
	}
	return queue.Received{ID: "1", Data: msgs[0].Data, Attributes: msgs[0].Attributes, DeliveryAttempt: 1}
}
