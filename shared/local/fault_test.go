package local

// Fault tests: nothing is lost when a worker dies mid-partition, when every
// message arrives twice, when ten scanners race, when the completion
// function stops after the backup, after some copies or before deleting
// staging, and when a fifth of the warehouse calls fail. Each ends with
// production equal to the expected data and the backup equal to production
// before the swap.

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bqbackfill/bqbackfill/shared/ledger"
	"github.com/bqbackfill/bqbackfill/shared/pipeline"
	"github.com/bqbackfill/bqbackfill/shared/queue"
	"github.com/bqbackfill/bqbackfill/shared/warehouse"
)

// sixDays is the backfill the fault tests run: six day partitions.
var sixDays = e2eCase{
	name:       "six days",
	table:      dauTable,
	entry:      entry{date: testToday, start: "2024-03-01", end: "2024-03-06", status: "Initiate"},
	partitions: []string{"20240301", "20240302", "20240303", "20240304", "20240305", "20240306"},
	staged: []string{
		"2024-03-01 DE 2", "2024-03-01 US 1",
		"2024-03-02 DE 1", "2024-03-02 US 3",
		"2024-03-03 DE 2", "2024-03-03 US 2",
		"2024-03-04 DE 3", "2024-03-04 US 1",
		"2024-03-05 DE 1", "2024-03-05 US 2",
		"2024-03-06 DE 2", "2024-03-06 US 1",
	},
	key:     10,
	swapped: []string{"2024-03-01", "2024-03-02", "2024-03-03", "2024-03-04", "2024-03-05", "2024-03-06"},
}

var sixDaysID = pipeline.BackfillID(sixDays.table, testToday)

// complete flips the entry of tc to Complete in sqlDir.
func complete(t *testing.T, sqlDir string, tc e2eCase) {
	t.Helper()
	e := tc.entry
	e.status = "Complete"
	writeEntries(t, sqlDir, tc.table, e)
}

// hangingQuery makes the query of one partition hang until its task is
// stopped, as a worker killed in the middle of a partition: before the
// query job ran, or after it wrote staging but before the worker heard.
type hangingQuery struct {
	warehouse.Warehouse
	partition string
	afterRun  bool
	started   chan struct{}
	once      sync.Once
}

func (h *hangingQuery) Query(ctx context.Context, job warehouse.QueryJob) (warehouse.JobResult, error) {
	if job.Partition == h.partition {
		if h.afterRun {
			if _, err := h.Warehouse.Query(ctx, job); err != nil {
				return warehouse.JobResult{}, err
			}
		}
		h.once.Do(func() { close(h.started) })
		<-ctx.Done()
		return warehouse.JobResult{}, ctx.Err()
	}
	return h.Warehouse.Query(ctx, job)
}

// TestWorkerKilledMidPartition: the process dies while one partition is
// being computed (before its job wrote staging, or after) and the others
// are done; a new process on the same state directory finishes the
// backfill, with no partition lost or doubled, and completion is correct.
func TestWorkerKilledMidPartition(t *testing.T) {
	for _, afterRun := range []bool{false, true} {
		name := "before the write"
		if afterRun {
			name = "after the write"
		}
		t.Run(name, func(t *testing.T) { testWorkerKilled(t, afterRun) })
	}
}

func testWorkerKilled(t *testing.T, afterRun bool) {
	dir := t.TempDir()
	hang := &hangingQuery{partition: "20240304", afterRun: afterRun, started: make(chan struct{})}
	s1, kill := openStackManual(t, Options{StateDir: dir, Warehouse: func(w warehouse.Warehouse) warehouse.Warehouse {
		hang.Warehouse = w
		return hang
	}})
	defer kill()
	loadWarehouse(t, s1)
	before := rows(t, s1, dauTable)
	sqlDir := writeTree(t, sixDays.table, sixDays.entry)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ran := make(chan error, 1)
	go func() {
		_, err := s1.Run(ctx, sqlDir)
		ran <- err
	}()
	waitFor(t, "the other five partitions to be done while 20240304 hangs", func() (bool, error) {
		select {
		case <-hang.started:
		default:
			return false, nil
		}
		recs, err := s1.Ledger.ListPartitions(context.Background(), sixDaysID)
		if err != nil {
			return false, err
		}
		done := 0
		for _, r := range recs {
			if r.State == ledger.PartitionDone {
				done++
			}
		}
		return done == 5, nil
	})
	cancel()
	kill() // process death: the hanging query never completes
	waitFor(t, "the killed run to return", func() (bool, error) {
		select {
		case <-ran:
			return true, nil
		default:
			return false, nil
		}
	})

	s2 := openStack(t, Options{StateDir: dir})
	if b := record(t, s2, sixDaysID); b.State != ledger.StateProcessing {
		t.Fatalf("after the kill: state %s, want processing", b.State)
	}
	if got := partitionStates(t, s2, sixDaysID)["20240304"]; got == ledger.PartitionDone {
		t.Fatalf("the killed partition is recorded done")
	}
	var partial []string
	for _, r := range sixDays.staged {
		if r[:10] != "2024-03-04" || afterRun {
			partial = append(partial, r)
		}
	}
	if got := rows(t, s2, stagingOf(dauTable, testToday)); !slices.Equal(got, partial) {
		t.Fatalf("staging after the kill:\n got %q\nwant %q", got, partial)
	}

	run(t, s2, sqlDir)
	checkProcessed(t, s2, sixDays, sixDaysID)
	if got := rows(t, s2, dauTable); !slices.Equal(got, before) {
		t.Errorf("Initiate changed production")
	}
	complete(t, sqlDir, sixDays)
	run(t, s2, sqlDir)
	checkCompleted(t, s2, sixDays, sixDaysID, before)
}

// twice publishes every message two times.
type twice struct{ pipeline.Publisher }

func (p twice) Publish(ctx context.Context, topic string, msgs ...queue.Message) error {
	return p.Publisher.Publish(ctx, topic, append(slices.Clone(msgs), msgs...)...)
}

// TestEveryMessageDeliveredTwice: partition messages, completion requests
// and events all arrive twice; every partition is computed correctly and
// the swap happens once.
func TestEveryMessageDeliveredTwice(t *testing.T) {
	s := openStack(t, Options{})
	s.Pipeline.Publisher = twice{s.Pipeline.Publisher}
	loadWarehouse(t, s)
	before := rows(t, s, dauTable)
	sqlDir := writeTree(t, sixDays.table, sixDays.entry)

	run(t, s, sqlDir)
	checkProcessed(t, s, sixDays, sixDaysID)
	complete(t, sqlDir, sixDays)
	run(t, s, sqlDir)
	checkCompleted(t, s, sixDays, sixDaysID, before)
	checkIdle(t, s, sqlDir)
}

// TestTenScannersAtOnce: ten scanners reconcile the same tree at the same
// time, at the start and again at completion; the backfill starts once
// and is completed once.
func TestTenScannersAtOnce(t *testing.T) {
	s := openStack(t, Options{})
	loadWarehouse(t, s)
	before := rows(t, s, dauTable)
	sqlDir := writeTree(t, sixDays.table, sixDays.entry)
	ctx := context.Background()

	scanTen := func() []string {
		t.Helper()
		if _, err := s.Sync(ctx, sqlDir); err != nil {
			t.Fatal(err)
		}
		var (
			wg  sync.WaitGroup
			mu  sync.Mutex
			all []string
		)
		start := make(chan struct{})
		for range 10 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				actions, err := s.Scanner.Scan(ctx)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					all = append(all, "scan error: "+err.Error())
				}
				all = append(all, did(actions)...)
			}()
		}
		close(start)
		wg.Wait()
		return all
	}

	if got, want := scanTen(), []string{"started " + sixDaysID}; !slices.Equal(got, want) {
		t.Errorf("ten scanners did %q, want %q", got, want)
	}
	list, err := s.Ledger.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].ID != sixDaysID {
		t.Errorf("ledger records %v, want one, %s", list, sixDaysID)
	}
	settle(t, s)
	checkProcessed(t, s, sixDays, sixDaysID)

	complete(t, sqlDir, sixDays)
	if got, want := scanTen(), []string{"completion-requested " + sixDaysID}; !slices.Equal(got, want) {
		t.Errorf("ten scanners did %q, want %q", got, want)
	}
	settle(t, s)
	checkCompleted(t, s, sixDays, sixDaysID, before)
}

var errStopped = errors.New("test: the completion function was stopped here")

// stoppingWarehouse fails completion steps while armed, as a completion
// function that dies there, and keeps what production held at every backup.
type stoppingWarehouse struct {
	warehouse.Warehouse
	prod       warehouse.TableRef
	armed      atomic.Bool
	copiesLeft atomic.Int64 // copies into production allowed before failing; <0: no limit
	failDelete bool

	mu      sync.Mutex
	backups [][]string // production's rows at each Backup call
	copied  []string   // the days copied into production while armed
}

func (w *stoppingWarehouse) Copy(ctx context.Context, job warehouse.CopyJob) (warehouse.JobResult, error) {
	if w.armed.Load() && job.Dest == w.prod && w.copiesLeft.Load() >= 0 {
		if w.copiesLeft.Add(-1) < 0 {
			w.copiesLeft.Store(0)
			return warehouse.JobResult{}, errStopped
		}
	}
	res, err := w.Warehouse.Copy(ctx, job)
	if err == nil && w.armed.Load() && job.Dest == w.prod {
		d := job.DestPartition
		w.mu.Lock()
		w.copied = append(w.copied, d[:4]+"-"+d[4:6]+"-"+d[6:])
		w.mu.Unlock()
	}
	return res, err
}

func (w *stoppingWarehouse) Delete(ctx context.Context, ref warehouse.TableRef) error {
	if w.armed.Load() && w.failDelete {
		return errStopped
	}
	return w.Warehouse.Delete(ctx, ref)
}

func (w *stoppingWarehouse) Backup(ctx context.Context, src, dst warehouse.TableRef, exp time.Time, labels map[string]string) (warehouse.JobResult, error) {
	if src == w.prod {
		r, err := readRows(ctx, w.Warehouse, src)
		if err != nil {
			return warehouse.JobResult{}, err
		}
		w.mu.Lock()
		w.backups = append(w.backups, r)
		w.mu.Unlock()
	}
	return w.Warehouse.Backup(ctx, src, dst, exp, labels)
}

// stoppingLedger fails recording one swap step while armed.
type stoppingLedger struct {
	pipeline.Ledger
	armed *atomic.Bool
	step  string
}

func (l *stoppingLedger) UpdateSwapStep(ctx context.Context, id, step string, fn func(*ledger.SwapStep) error) (*ledger.SwapStep, error) {
	if l.armed.Load() && step == l.step {
		return nil, errStopped
	}
	return l.Ledger.UpdateSwapStep(ctx, id, step, fn)
}

// TestCompletionStopped: the completion function stops at a step on every
// delivery of its request (which then goes to the dead-letter topic); the
// state it leaves is checked, then a new process runs again and completes.
// No backup is ever taken of a half-swapped table.
func TestCompletionStopped(t *testing.T) {
	for _, tc := range []struct {
		name string
		// the fault: where the completion stops.
		copies     int64 // copies allowed before the stop; -1: none stopped
		failDelete bool
		ledgerStep string
		// after the stop: which partitions production has swapped (for
		// copies > 0: the ones that were copied), and which swap steps
		// are recorded.
		swapped      []string
		steps        []string
		stagingAfter bool
	}{
		{
			name: "after the backup", copies: -1, ledgerStep: "backup",
			steps: []string{}, stagingAfter: true,
		},
		{
			// The copies run concurrently: which two got through varies.
			name: "after some copies", copies: 2,
			steps:        []string{"backup"},
			stagingAfter: true,
		},
		{
			name: "before the staging delete", copies: -1, failDelete: true,
			swapped:      sixDays.swapped,
			steps:        []string{"backup", "copy"},
			stagingAfter: true,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			wh := &stoppingWarehouse{prod: dauTable, failDelete: tc.failDelete}
			wh.copiesLeft.Store(tc.copies)
			opts := Options{StateDir: dir, Warehouse: func(w warehouse.Warehouse) warehouse.Warehouse {
				wh.Warehouse = w
				return wh
			}}
			if tc.ledgerStep != "" {
				opts.Ledger = func(l pipeline.Ledger) pipeline.Ledger {
					return &stoppingLedger{Ledger: l, armed: &wh.armed, step: tc.ledgerStep}
				}
			}
			s1, stop := openStackManual(t, opts)
			defer stop()
			loadWarehouse(t, s1)
			before := rows(t, s1, dauTable)
			sqlDir := writeTree(t, sixDays.table, sixDays.entry)
			run(t, s1, sqlDir)
			checkProcessed(t, s1, sixDays, sixDaysID)

			wh.armed.Store(true)
			complete(t, sqlDir, sixDays)
			// The run says it stopped with the completion open.
			var unfinished *UnfinishedError
			if _, err := s1.Run(context.Background(), sqlDir); !errors.As(err, &unfinished) || !strings.Contains(err.Error(), sixDaysID+": completing") {
				t.Fatalf("run with the completion stopped: %v, want an *UnfinishedError naming %s", err, sixDaysID)
			}

			// Where it stopped.
			if b := record(t, s1, sixDaysID); b.State != ledger.StateCompleting {
				t.Fatalf("after the stop: state %s (%s), want completing", b.State, b.LastError)
			}
			swapped := tc.swapped
			if tc.copies > 0 {
				wh.mu.Lock()
				swapped = slices.Clone(wh.copied)
				wh.mu.Unlock()
				if len(swapped) != int(tc.copies) {
					t.Errorf("copies into production before the stop: %q, want %d", swapped, tc.copies)
				}
			}
			if got, want := rows(t, s1, dauTable), replaced(before, sixDays.staged, 10, swapped...); !slices.Equal(got, want) {
				t.Errorf("production after the stop:\n got %q\nwant %q", got, want)
			}
			if got := rows(t, s1, backupOf(dauTable, testToday)); !slices.Equal(got, before) {
				t.Errorf("backup after the stop:\n got %q\nwant %q", got, before)
			}
			if got := swapSteps(t, s1, sixDaysID); !slices.Equal(got, tc.steps) {
				t.Errorf("swap steps after the stop %q, want %q", got, tc.steps)
			}
			if got := exists(t, s1, stagingOf(dauTable, testToday)); got != tc.stagingAfter {
				t.Errorf("staging exists after the stop: %t, want %t", got, tc.stagingAfter)
			}
			stop()

			// Run again in a new process, without the fault.
			wh.armed.Store(false)
			s2 := openStack(t, Options{StateDir: dir, Warehouse: func(w warehouse.Warehouse) warehouse.Warehouse {
				wh.Warehouse = w
				return wh
			}})
			run(t, s2, sqlDir)
			checkCompleted(t, s2, sixDays, sixDaysID, before)
			wh.mu.Lock()
			defer wh.mu.Unlock()
			for i, b := range wh.backups {
				if !slices.Equal(b, before) {
					t.Errorf("backup attempt %d of %d saw production %q, want it untouched %q", i+1, len(wh.backups), b, before)
				}
			}
			if len(wh.backups) == 0 {
				t.Errorf("no backup was taken")
			}
			checkIdle(t, s2, sqlDir)
		})
	}
}

// flakyWarehouse fails a fifth of the calls with Transient errors, half of
// them after the call took effect (the reply was lost). Whether a call
// fails depends only on the seed, the call (operation and tables) and how
// many times the same call was made, so goroutine scheduling does not
// change which calls fail.
type flakyWarehouse struct {
	warehouse.Warehouse
	seed uint64

	mu     sync.Mutex
	seen   map[string]int
	failed map[string]int // by operation
	calls  int
}

// fault decides the fate of one call: fail before it, after it, or not.
func (w *flakyWarehouse) fault(op string, args ...any) (before, after bool) {
	key := fmt.Sprint(append([]any{op}, args...)...)
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.seen == nil {
		w.seen, w.failed = map[string]int{}, map[string]int{}
	}
	n := w.seen[key]
	w.seen[key]++
	w.calls++
	h := fnv.New64a()
	fmt.Fprintf(h, "%s#%d", key, n)
	r := rand.New(rand.NewPCG(w.seed, h.Sum64()))
	if r.IntN(5) != 0 {
		return false, false
	}
	w.failed[op]++
	if r.IntN(2) == 0 {
		return true, false
	}
	return false, true
}

func transient(op string) error {
	return warehouse.Errorf(warehouse.Transient, op, "injected backend error")
}

func (w *flakyWarehouse) Table(ctx context.Context, ref warehouse.TableRef) (*warehouse.TableMetadata, error) {
	b, a := w.fault("table", ref)
	if b {
		return nil, transient("table")
	}
	md, err := w.Warehouse.Table(ctx, ref)
	if a && err == nil {
		return nil, transient("table")
	}
	return md, err
}

func (w *flakyWarehouse) Partitions(ctx context.Context, ref warehouse.TableRef) ([]warehouse.Partition, error) {
	b, a := w.fault("partitions", ref)
	if b {
		return nil, transient("partitions")
	}
	p, err := w.Warehouse.Partitions(ctx, ref)
	if a && err == nil {
		return nil, transient("partitions")
	}
	return p, err
}

func (w *flakyWarehouse) EnsureDataset(ctx context.Context, project, dataset string, exp time.Duration) error {
	b, a := w.fault("ensure-dataset", project, dataset)
	if b {
		return transient("ensure dataset")
	}
	err := w.Warehouse.EnsureDataset(ctx, project, dataset, exp)
	if a && err == nil {
		return transient("ensure dataset")
	}
	return err
}

func (w *flakyWarehouse) CreateTable(ctx context.Context, md warehouse.TableMetadata) error {
	b, a := w.fault("create-table", md.Ref)
	if b {
		return transient("create table")
	}
	err := w.Warehouse.CreateTable(ctx, md)
	if a && err == nil {
		return transient("create table")
	}
	return err
}

func (w *flakyWarehouse) CreateTableLike(ctx context.Context, src, dst warehouse.TableRef, o warehouse.CreateLikeOptions) error {
	b, a := w.fault("create-like", src, dst)
	if b {
		return transient("create table like")
	}
	err := w.Warehouse.CreateTableLike(ctx, src, dst, o)
	if a && err == nil {
		return transient("create table like")
	}
	return err
}

func (w *flakyWarehouse) Query(ctx context.Context, job warehouse.QueryJob) (warehouse.JobResult, error) {
	dest := ""
	if job.Destination != nil {
		dest = job.Destination.String()
	}
	b, a := w.fault("query", dest, job.Partition, job.SQL)
	if b {
		return warehouse.JobResult{}, transient("query")
	}
	res, err := w.Warehouse.Query(ctx, job)
	if a && err == nil {
		return warehouse.JobResult{}, transient("query")
	}
	return res, err
}

func (w *flakyWarehouse) Copy(ctx context.Context, job warehouse.CopyJob) (warehouse.JobResult, error) {
	b, a := w.fault("copy", job.Source, job.SourcePartition, job.Dest, job.DestPartition)
	if b {
		return warehouse.JobResult{}, transient("copy")
	}
	res, err := w.Warehouse.Copy(ctx, job)
	if a && err == nil {
		return warehouse.JobResult{}, transient("copy")
	}
	return res, err
}

func (w *flakyWarehouse) Backup(ctx context.Context, src, dst warehouse.TableRef, exp time.Time, labels map[string]string) (warehouse.JobResult, error) {
	b, a := w.fault("backup", src, dst)
	if b {
		return warehouse.JobResult{}, transient("backup")
	}
	res, err := w.Warehouse.Backup(ctx, src, dst, exp, labels)
	if a && err == nil {
		return warehouse.JobResult{}, transient("backup")
	}
	return res, err
}

func (w *flakyWarehouse) Delete(ctx context.Context, ref warehouse.TableRef) error {
	b, a := w.fault("delete", ref)
	if b {
		return transient("delete")
	}
	err := w.Warehouse.Delete(ctx, ref)
	if a && err == nil {
		return transient("delete")
	}
	return err
}

func (w *flakyWarehouse) TableIAM(ctx context.Context, ref warehouse.TableRef) (warehouse.Policy, error) {
	b, a := w.fault("table-iam", ref)
	if b {
		return warehouse.Policy{}, transient("table iam")
	}
	p, err := w.Warehouse.TableIAM(ctx, ref)
	if a && err == nil {
		return warehouse.Policy{}, transient("table iam")
	}
	return p, err
}

func (w *flakyWarehouse) SetTableIAM(ctx context.Context, ref warehouse.TableRef, p warehouse.Policy) error {
	b, a := w.fault("set-table-iam", ref)
	if b {
		return transient("set table iam")
	}
	err := w.Warehouse.SetTableIAM(ctx, ref, p)
	if a && err == nil {
		return transient("set table iam")
	}
	return err
}

func (w *flakyWarehouse) DatasetAccess(ctx context.Context, project, dataset string) ([]warehouse.AccessEntry, error) {
	b, a := w.fault("dataset-access", project, dataset)
	if b {
		return nil, transient("dataset access")
	}
	acc, err := w.Warehouse.DatasetAccess(ctx, project, dataset)
	if a && err == nil {
		return nil, transient("dataset access")
	}
	return acc, err
}

func (w *flakyWarehouse) Read(ctx context.Context, job warehouse.QueryJob) (*warehouse.Rows, error) {
	b, a := w.fault("read", job.SQL)
	if b {
		return nil, transient("read")
	}
	r, err := w.Warehouse.Read(ctx, job)
	if a && err == nil {
		return nil, transient("read")
	}
	return r, err
}

// TestWarehouseErrors: with a fifth of the warehouse calls failing
// transiently, one run per phase still ends with the exact expected state.
func TestWarehouseErrors(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3, 4, 5} {
		t.Run(fmt.Sprint("seed ", seed), func(t *testing.T) {
			flaky := &flakyWarehouse{seed: seed}
			s := openStack(t, Options{Warehouse: func(w warehouse.Warehouse) warehouse.Warehouse {
				flaky.Warehouse = w
				return flaky
			}})
			loadWarehouse(t, s)
			before := rows(t, s, dauTable)
			sqlDir := writeTree(t, sixDays.table, sixDays.entry)

			run(t, s, sqlDir)
			checkProcessed(t, s, sixDays, sixDaysID)
			complete(t, sqlDir, sixDays)
			run(t, s, sqlDir)
			checkCompleted(t, s, sixDays, sixDaysID, before)

			flaky.mu.Lock()
			defer flaky.mu.Unlock()
			failed := 0
			for _, n := range flaky.failed {
				failed += n
			}
			t.Logf("%d of %d warehouse calls failed: %v", failed, flaky.calls, flaky.failed)
			if failed == 0 {
				t.Errorf("no call failed; the test injected nothing")
			}
		})
	}
}

// racingCompletions stages the race of two completion functions on one
// request (Pub/Sub delivers it twice; the completion service runs requests
// concurrently): both read the swap steps before either backed up; the
// second one's preflight read of staging waits until the first deleted
// staging, and the first does not return from that delete until the
// second finished its attempt.
type racingCompletions struct {
	warehouse.Warehouse
	staging warehouse.TableRef

	mu       sync.Mutex
	armed    bool // counting reads of staging (the completions have begun)
	reads    int
	deletes  int
	secondIn chan struct{} // closed when the second preflight reads staging
	deleted  chan struct{} // closed once the first Delete of staging ran
	second   chan struct{} // closed when the other completion returned
}

func (w *racingCompletions) Table(ctx context.Context, ref warehouse.TableRef) (*warehouse.TableMetadata, error) {
	if ref == w.staging {
		w.mu.Lock()
		if w.armed {
			w.reads++
		}
		n := w.reads
		w.mu.Unlock()
		switch n {
		case 1: // the first preflight waits for the second's
			<-w.secondIn
		case 2:
			close(w.secondIn)
			<-w.deleted
		}
	}
	return w.Warehouse.Table(ctx, ref)
}

func (w *racingCompletions) Delete(ctx context.Context, ref warehouse.TableRef) error {
	err := w.Warehouse.Delete(ctx, ref)
	if ref == w.staging {
		w.mu.Lock()
		w.deletes++
		first := w.deletes == 1
		w.mu.Unlock()
		if first {
			close(w.deleted)
			<-w.second
		}
	}
	return err
}

// TestTwoCompletionsAtOnce: a completion that read the swap steps before
// another one backed up and swapped must not refuse (staging is gone
// because the other one is finishing) and fail a backfill whose swap
// succeeded.
func TestTwoCompletionsAtOnce(t *testing.T) {
	race := &racingCompletions{staging: stagingOf(dauTable, testToday),
		deleted: make(chan struct{}), secondIn: make(chan struct{}), second: make(chan struct{})}
	s := openStack(t, Options{Warehouse: func(w warehouse.Warehouse) warehouse.Warehouse {
		race.Warehouse = w
		return race
	}})
	loadWarehouse(t, s)
	before := rows(t, s, dauTable)
	sqlDir := writeTree(t, sixDays.table, sixDays.entry)
	run(t, s, sqlDir)
	checkProcessed(t, s, sixDays, sixDaysID)
	// Only the completions' reads of staging are staged (the done report
	// reads it too).
	race.mu.Lock()
	race.armed = true
	race.mu.Unlock()

	complete(t, sqlDir, sixDays)
	if _, err := s.Sync(context.Background(), sqlDir); err != nil {
		t.Fatal(err)
	}
	actions, err := s.Scanner.Scan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got, want := did(actions), []string{"completion-requested " + sixDaysID}; !slices.Equal(got, want) {
		t.Fatalf("scan did %q, want %q", got, want)
	}
	errs := make(chan error, 2)
	var once sync.Once
	for range 2 {
		go func() {
			err := s.Pipeline.Complete(context.Background(), sixDaysID)
			// The one that deleted staging is still inside Delete: this
			// is the other one.
			once.Do(func() { close(race.second) })
			errs <- err
		}()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Logf("a completion returned %v (its request would be redelivered)", err)
		}
	}
	// The queued request (and any redelivery) finds nothing left to do.
	run(t, s, sqlDir)
	checkCompleted(t, s, sixDays, sixDaysID, before)
}

// pausedCreate holds a scanner right after it created a backfill's ledger
// record, before it claims the start.
type pausedCreate struct {
	pipeline.Ledger
	created chan struct{} // closed once the record exists
	release chan struct{} // the creator goes on when this is closed
	once    sync.Once
}

func (l *pausedCreate) Create(ctx context.Context, b *ledger.Backfill) error {
	err := l.Ledger.Create(ctx, b)
	if err == nil {
		l.once.Do(func() { close(l.created) })
		<-l.release
	}
	return err
}

// TestScannerSeesAFreshRecord: a scanner that reads a record another
// scanner has just created (pending) leaves the start to its creator; the
// creator starts it. (Before, the reader took the start over and reported
// "resumed", and the creator reported "started" having done nothing.)
func TestScannerSeesAFreshRecord(t *testing.T) {
	pause := &pausedCreate{created: make(chan struct{}), release: make(chan struct{})}
	s := openStack(t, Options{Ledger: func(l pipeline.Ledger) pipeline.Ledger {
		pause.Ledger = l
		return pause
	}})
	loadWarehouse(t, s)
	sqlDir := writeTree(t, sixDays.table, sixDays.entry)
	ctx := context.Background()
	if _, err := s.Sync(ctx, sqlDir); err != nil {
		t.Fatal(err)
	}
	type scan struct {
		did []string
		err error
	}
	first := make(chan scan, 1)
	go func() {
		actions, err := s.Scanner.Scan(ctx)
		first <- scan{did(actions), err}
	}()
	waitFor(t, "the first scanner to create the record", func() (bool, error) {
		select {
		case <-pause.created:
			return true, nil
		default:
			return false, nil
		}
	})
	actions, err := s.Scanner.Scan(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := did(actions); len(got) != 0 {
		t.Errorf("the second scanner did %q, want nothing", got)
	}
	close(pause.release)
	r := <-first
	if r.err != nil {
		t.Fatal(r.err)
	}
	if want := []string{"started " + sixDaysID}; !slices.Equal(r.did, want) {
		t.Errorf("the first scanner did %q, want %q", r.did, want)
	}
	settle(t, s)
	checkProcessed(t, s, sixDays, sixDaysID)
}
