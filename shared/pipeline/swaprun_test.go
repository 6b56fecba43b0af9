package pipeline_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"cloud.google.com/go/civil"

	"github.com/bqbackfill/bqbackfill/shared/ledger"
	"github.com/bqbackfill/bqbackfill/shared/pipeline"
	"github.com/bqbackfill/bqbackfill/shared/warehouse"
)

// overlapCopies holds the copy of one partition of the first swap unit
// until a copy of a later unit has started, then fails it once, as a
// completion instance dying in the middle of that unit.
type overlapCopies struct {
	warehouse.Warehouse
	slow    string          // the partition whose copy waits
	later   map[string]bool // partitions of later units
	started chan struct{}   // closed when a later unit's copy starts
	once    sync.Once
	mu      sync.Mutex
	failed  bool
}

func (w *overlapCopies) Copy(ctx context.Context, job warehouse.CopyJob) (warehouse.JobResult, error) {
	if w.later[job.DestPartition] {
		w.once.Do(func() { close(w.started) })
	}
	if job.DestPartition == w.slow {
		w.mu.Lock()
		first := !w.failed
		w.failed = true
		w.mu.Unlock()
		if first {
			select {
			case <-w.started:
			case <-ctx.Done():
				return warehouse.JobResult{}, ctx.Err()
			}
			return warehouse.JobResult{}, errCrash
		}
	}
	return w.Warehouse.Copy(ctx, job)
}

// TestSwapUnitsOverlap: copy promotion does not wait for a swap unit's
// slowest copy before starting the next unit's copies (one unit at a time
// left the table's rate unused during every unit's tail). A unit that
// fails while later ones succeed is not recorded, the later ones are, and
// the redelivered request redoes only the failed one.
func TestSwapUnitsOverlap(t *testing.T) {
	e := newContractEnv(t)
	days := startCompleting(t, e, dayRange("Initiate", "2023-01-01", "2023-05-30"), civil.Date{Year: 2023, Month: 1, Day: 1}, 150)
	wh := &overlapCopies{Warehouse: e.p.Warehouse, slow: days[0], later: map[string]bool{}, started: make(chan struct{})}
	for _, d := range days[50:] {
		wh.later[d] = true
	}
	e.p.Warehouse = wh

	// Without overlap the slow copy waits forever: give up after a minute.
	ctx, cancel := context.WithCancel(e.ctx)
	defer cancel()
	stop := time.AfterFunc(time.Minute, cancel)
	defer stop.Stop()
	err := e.p.Complete(ctx, contractID)
	if ctx.Err() != nil {
		t.Fatal("the slow copy of the first swap unit waited for a copy of the next unit that never started")
	}
	if !errors.Is(err, errCrash) {
		t.Fatalf("first completion request: %v, want the crash of the first unit", err)
	}
	steps, err := e.led.ListSwapSteps(e.ctx, contractID)
	if err != nil {
		t.Fatal(err)
	}
	var done []string
	for _, s := range steps {
		if s.Done {
			done = append(done, s.Name)
		}
	}
	first, second := "copy-"+days[0]+"-"+days[49], "copy-"+days[50]+"-"+days[99]
	if slices.Contains(done, first) || !slices.Contains(done, second) {
		t.Fatalf("swap steps done after the crash: %q, want %s and not %s", done, second, first)
	}

	// The redelivered request finishes the swap.
	if err := e.p.Complete(e.ctx, contractID); err != nil {
		t.Fatalf("redelivered completion request: %v", err)
	}
	bf, err := e.led.Get(e.ctx, contractID)
	if err != nil || bf.State != ledger.StateCompleted {
		t.Fatalf("after the redelivery: %+v, %v; want completed", bf, err)
	}
	rows := e.fake.PartitionRows(table)
	for _, d := range days {
		if rows[d] != 3 {
			t.Fatalf("production partition %s has %d rows, want the 3 staged", d, rows[d])
		}
	}
}

// oneTransaction records a ReplacePartitions that starts while another
// runs (two transactions on one table conflict on BigQuery). The first
// transaction lasts until the next one starts or must wait for it to end:
// had the next one room to start, it would overlap the first.
type oneTransaction struct {
	warehouse.Warehouse
	mu             sync.Mutex
	running, calls int
	overlapped     bool
	next           chan struct{} // closed when the next unit starts or waits
	once           sync.Once
}

// nextUnit ends the first transaction's wait.
func (w *oneTransaction) nextUnit() { w.once.Do(func() { close(w.next) }) }

func (w *oneTransaction) ReplacePartitions(ctx context.Context, job warehouse.ReplaceJob) (warehouse.JobResult, error) {
	w.mu.Lock()
	w.running++
	w.calls++
	first := w.calls == 1
	if w.running > 1 {
		w.overlapped = true
	}
	w.mu.Unlock()
	defer func() {
		w.mu.Lock()
		w.running--
		w.mu.Unlock()
	}()
	if first {
		select {
		case <-w.next:
		case <-ctx.Done():
			return warehouse.JobResult{}, ctx.Err()
		}
	} else {
		w.nextUnit()
	}
	return w.Warehouse.(interface {
		ReplacePartitions(context.Context, warehouse.ReplaceJob) (warehouse.JobResult, error)
	}).ReplacePartitions(ctx, job)
}

// Atomic promotion runs its transactions (4,000 partitions each) one at a
// time, while copy units overlap: the second transaction waits for the
// first to end, which lasts until then.
func TestAtomicUnitsOneAtATime(t *testing.T) {
	e := newContractEnv(t)
	tree := dayRange("Initiate", "2013-01-01", "2023-12-15") // 4,001 days: two transactions
	tree["bqbackfill.yaml"] = &fstest.MapFile{Data: []byte("promotion:\n  default: atomic\n")}
	startCompleting(t, e, tree, civil.Date{Year: 2013, Month: 1, Day: 1}, 4001)
	wh := &oneTransaction{Warehouse: e.p.Warehouse, next: make(chan struct{})}
	e.p.Warehouse = wh
	defer pipeline.OnUnitWaits(func(string) { wh.nextUnit() })()
	if err := e.p.Complete(e.ctx, contractID); err != nil {
		t.Fatal(err)
	}
	if wh.calls != 2 || wh.overlapped {
		t.Errorf("%d transactions, overlapping: %v; want 2, one at a time", wh.calls, wh.overlapped)
	}
}

// failInFlight holds one copy of each of the first units until a later
// unit waits for room, then fails them all, as an instance that dies with
// its units in flight; it records the copies of the later units.
type failInFlight struct {
	warehouse.Warehouse
	held  map[string]bool // one partition of each unit in flight
	later map[string]bool // partitions of the later units
	next  chan struct{}   // closed when a later unit waits for room
	once  sync.Once
	mu    sync.Mutex
	began []string // copies of later units that started
}

func (w *failInFlight) Copy(ctx context.Context, job warehouse.CopyJob) (warehouse.JobResult, error) {
	if w.later[job.DestPartition] {
		w.mu.Lock()
		w.began = append(w.began, job.DestPartition)
		w.mu.Unlock()
	}
	if w.held[job.DestPartition] {
		select {
		case <-w.next:
		case <-ctx.Done():
			return warehouse.JobResult{}, ctx.Err()
		}
		return warehouse.JobResult{}, errCrash
	}
	return w.Warehouse.Copy(ctx, job)
}

// TestNoUnitStartsAfterFailure: a unit that finds no room waits for one in
// flight to end; when those fail, it does not start (it would be a fourth
// unit started and not recorded, which a rollback does not restore).
func TestNoUnitStartsAfterFailure(t *testing.T) {
	e := newContractEnv(t)
	days := startCompleting(t, e, dayRange("Initiate", "2023-01-01", "2023-07-19"), civil.Date{Year: 2023, Month: 1, Day: 1}, 200)
	wh := &failInFlight{Warehouse: e.p.Warehouse, held: map[string]bool{days[49]: true, days[99]: true, days[149]: true}, later: map[string]bool{}, next: make(chan struct{})}
	for _, d := range days[150:] {
		wh.later[d] = true
	}
	e.p.Warehouse = wh
	defer pipeline.OnUnitWaits(func(string) { wh.once.Do(func() { close(wh.next) }) })()
	if err := e.p.Complete(e.ctx, contractID); !errors.Is(err, errCrash) {
		t.Fatalf("completion: %v, want the crash of the units in flight", err)
	}
	if len(wh.began) > 0 {
		t.Errorf("%d copies of the fourth unit started after the units in flight failed (%s...)", len(wh.began), wh.began[0])
	}
}
