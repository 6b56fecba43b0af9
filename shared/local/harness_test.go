package local

// The harness of the end-to-end and fault tests: a stack on a temporary
// state directory with a fixed clock, the fixture warehouse
// (testdata/warehouse.sql), trees built from testdata/sql with a
// backfill.yaml written per test, and readers of the resulting state.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/api/iterator"

	"github.com/bqbackfill/bqbackfill/shared/ledger"
	"github.com/bqbackfill/bqbackfill/shared/pipeline"
	"github.com/bqbackfill/bqbackfill/shared/warehouse"
)

// testNow is the fixed clock of every test: entries are dated testToday.
var testNow = time.Date(2024, 3, 20, 12, 0, 0, 0, time.UTC)

const testToday = "2024-03-20"

const testProject = "moz-fx-data-shared-prod"

// The fixture tables (testdata/warehouse.sql, testdata/sql).
var (
	dauTable     = warehouse.TableRef{Project: testProject, Dataset: "test_derived", Table: "dau_v1"}
	monthlyTable = warehouse.TableRef{Project: testProject, Dataset: "test_derived", Table: "monthly_events_v1"}
	countryTable = warehouse.TableRef{Project: testProject, Dataset: "test_derived", Table: "country_events_v1"}
)

// stagingOf and backupOf are the names bqetl gives (reference §4).
func stagingOf(t warehouse.TableRef, entry string) warehouse.TableRef {
	return warehouse.TableRef{Project: testProject, Dataset: "backfills_staging_derived",
		Table: t.Dataset + "__" + t.Table + "_" + strings.ReplaceAll(entry, "-", "_")}
}

func backupOf(t warehouse.TableRef, entry string) warehouse.TableRef {
	return warehouse.TableRef{Project: testProject, Dataset: "backfills_staging_derived",
		Table: t.Dataset + "__" + t.Table + "_backup_" + strings.ReplaceAll(entry, "-", "_")}
}

// syncBuffer is a goroutine-safe log sink, printed when a test fails.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// testOptions fills in what every test stack uses: a fixed clock, short
// idle timeouts and retry backoffs, and logs kept for a failure report.
func testOptions(t *testing.T, o Options) (Options, *syncBuffer) {
	t.Helper()
	if o.StateDir == "" {
		o.StateDir = t.TempDir()
	}
	if o.Now == nil {
		o.Now = func() time.Time { return testNow }
	}
	if o.Parallelism == 0 {
		o.Parallelism = 4
	}
	if o.IdleTimeout == 0 {
		o.IdleTimeout = 150 * time.Millisecond
	}
	if o.Retry == (pipeline.Retry{}) {
		o.Retry = pipeline.Retry{Attempts: 4, Initial: time.Millisecond, Max: 5 * time.Millisecond}
	}
	logs := &syncBuffer{}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	if o.Events == nil {
		o.Events = logs
	}
	return o, logs
}

// openStack opens a stack that the test's cleanup closes.
func openStack(t *testing.T, o Options) *Stack {
	t.Helper()
	s, closeFn := openStackManual(t, o)
	t.Cleanup(func() { closeFn() })
	return s
}

// openStackManual opens a stack the test closes itself with the returned
// function (safe to call more than once), as a process that dies does.
func openStackManual(t *testing.T, o Options) (*Stack, func()) {
	t.Helper()
	o, logs := testOptions(t, o)
	s, err := Open(context.Background(), o)
	if err != nil {
		t.Fatalf("open stack: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("logs and events of the stack on %s:\n%s", o.StateDir, logs.String())
		}
	})
	var once sync.Once
	return s, func() {
		once.Do(func() {
			if err := s.Close(); err != nil {
				t.Errorf("close stack: %v", err)
			}
		})
	}
}

// loadWarehouse creates the fixture tables (testdata/warehouse.sql).
func loadWarehouse(t *testing.T, s *Stack) {
	t.Helper()
	script, err := os.ReadFile(filepath.Join("testdata", "warehouse.sql"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.DuckDB.Query(context.Background(), warehouse.QueryJob{SQL: string(script)}); err != nil {
		t.Fatalf("load the fixture warehouse: %v", err)
	}
}

// entry is one backfill.yaml entry.
type entry struct {
	date, start, end string
	excluded         []string
	watcher          string // "" for test@example.com
	status           string
}

func (e entry) yaml() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s:\n  start_date: %s\n  end_date: %s\n", e.date, e.start, e.end)
	if len(e.excluded) > 0 {
		b.WriteString("  excluded_dates:\n")
		for _, d := range e.excluded {
			fmt.Fprintf(&b, "  - %s\n", d)
		}
	}
	w := e.watcher
	if w == "" {
		w = "test@example.com"
	}
	fmt.Fprintf(&b, "  reason: Drop bot traffic (TEST-1).\n  watchers:\n  - %s\n  status: %s\n", w, e.status)
	b.WriteString("  shredder_mitigation: false\n  override_retention_limit: false\n  override_depends_on_past_end_date: false\n  ignore_date_partition_offset: false\n")
	return b.String()
}

// tableDir is the directory of table under a tree's sql/ directory.
func tableDir(sqlDir string, table warehouse.TableRef) string {
	return filepath.Join(sqlDir, table.Project, table.Dataset, table.Table)
}

// writeTree builds a sql/ tree under a new temporary directory with the
// files of table from testdata/sql and a backfill.yaml of the entries
// (newest first); it returns the sql/ directory.
func writeTree(t *testing.T, table warehouse.TableRef, entries ...entry) string {
	t.Helper()
	sqlDir := filepath.Join(t.TempDir(), "sql")
	copyTableFiles(t, table, sqlDir)
	writeEntries(t, sqlDir, table, entries...)
	return sqlDir
}

// copyTableFiles copies table's metadata.yaml and query.sql from
// testdata/sql into sqlDir.
func copyTableFiles(t *testing.T, table warehouse.TableRef, sqlDir string) {
	t.Helper()
	src := os.DirFS(tableDir(filepath.Join("testdata", "sql"), table))
	if err := os.MkdirAll(tableDir(sqlDir, table), 0o755); err != nil {
		t.Fatal(err)
	}
	err := fs.WalkDir(src, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := fs.ReadFile(src, p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(tableDir(sqlDir, table), p), data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// writeEntries (re)writes table's backfill.yaml, as a pull request does.
func writeEntries(t *testing.T, sqlDir string, table warehouse.TableRef, entries ...entry) {
	t.Helper()
	var b strings.Builder
	for _, e := range entries {
		b.WriteString(e.yaml())
	}
	if err := os.MkdirAll(tableDir(sqlDir, table), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(tableDir(sqlDir, table), "backfill.yaml"), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

// run is Stack.Run that fails the test on an error.
func run(t *testing.T, s *Stack, sqlDir string) Result {
	t.Helper()
	res, err := s.Run(context.Background(), sqlDir)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	return res
}

// did lists what the actions did, as "<did> <backfill id>" (errors as "error …").
func did(actions []pipeline.Action) []string {
	var out []string
	for _, a := range actions {
		switch {
		case a.Err != nil:
			out = append(out, fmt.Sprintf("error %s: %v", a.BackfillID, a.Err))
		case a.Did != "":
			out = append(out, string(a.Did)+" "+a.BackfillID)
		}
	}
	return out
}

// rows returns every row of table, ordered by all its columns, each as its
// values separated by spaces (dates as YYYY-MM-DD, NULL as <nil>).
func rows(t *testing.T, s *Stack, table warehouse.TableRef) []string {
	t.Helper()
	out, err := readRows(context.Background(), s.DuckDB, table)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// readRows is rows on any warehouse.
func readRows(ctx context.Context, w warehouse.Warehouse, table warehouse.TableRef) ([]string, error) {
	md, err := w.Table(ctx, table)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", table, err)
	}
	var order []string
	for i := range md.Schema {
		order = append(order, fmt.Sprint(i+1))
	}
	res, err := w.Read(ctx, warehouse.QueryJob{SQL: fmt.Sprintf("SELECT * FROM `%s` ORDER BY %s", table, strings.Join(order, ", "))})
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", table, err)
	}
	return formatRows(res), nil
}

// formatRows renders each row as its values separated by spaces.
func formatRows(res *warehouse.Rows) []string {
	out := []string{}
	for _, r := range res.Rows {
		var vals []string
		for _, v := range r {
			vals = append(vals, fmt.Sprint(v))
		}
		out = append(out, strings.Join(vals, " "))
	}
	return out
}

// exists reports whether table exists in the warehouse.
func exists(t *testing.T, s *Stack, table warehouse.TableRef) bool {
	t.Helper()
	_, err := s.DuckDB.Table(context.Background(), table)
	if warehouse.IsNotFound(err) {
		return false
	}
	if err != nil {
		t.Fatalf("read %s: %v", table, err)
	}
	return true
}

// replaced is before with the rows of the given partitions replaced by
// the rows of staged in them. A row's partition is its first key
// characters: 10 for a day, 7 for a month, 0 for the whole table. The
// result is sorted as rows sorts.
func replaced(before, staged []string, key int, partitions ...string) []string {
	swap := map[string]bool{}
	for _, p := range partitions {
		swap[p] = true
	}
	out := []string{}
	for _, r := range before {
		if !swap[r[:key]] {
			out = append(out, r)
		}
	}
	for _, r := range staged {
		if swap[r[:key]] {
			out = append(out, r)
		}
	}
	slices.Sort(out)
	return out
}

// record reads a backfill's ledger record.
func record(t *testing.T, s *Stack, id string) *ledger.Backfill {
	t.Helper()
	b, err := s.Ledger.Get(context.Background(), id)
	if err != nil {
		t.Fatalf("ledger record %s: %v", id, err)
	}
	return b
}

// partitionStates maps each partition id of a backfill to its state.
func partitionStates(t *testing.T, s *Stack, id string) map[string]ledger.PartitionState {
	t.Helper()
	recs, err := s.Ledger.ListPartitions(context.Background(), id)
	if err != nil {
		t.Fatalf("partitions of %s: %v", id, err)
	}
	out := map[string]ledger.PartitionState{}
	for _, r := range recs {
		out[r.ID] = r.State
	}
	return out
}

// swapSteps lists the done data steps of a backfill's swap, sorted:
// "backup", "copy" (the partition copies, however the ledger groups them
// into steps) and "delete-staging".
func swapSteps(t *testing.T, s *Stack, id string) []string {
	t.Helper()
	steps, err := s.Ledger.ListSwapSteps(context.Background(), id)
	if err != nil {
		t.Fatalf("swap steps of %s: %v", id, err)
	}
	out := []string{}
	for _, st := range steps {
		name := st.Name
		if strings.HasPrefix(name, "copy-") {
			name = "copy"
		}
		if strings.HasPrefix(name, "atomic-") {
			name = "atomic"
		}
		if st.Done && (name == "backup" || name == "copy" || name == "atomic" || name == "delete-staging") && !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// allDone is the partition map of ids, every one done.
func allDone(ids ...string) map[string]ledger.PartitionState {
	out := map[string]ledger.PartitionState{}
	for _, id := range ids {
		out[id] = ledger.PartitionDone
	}
	return out
}

// ledgerSnapshot is every object of the ledger with its generation: equal
// snapshots mean nothing was written in between.
func ledgerSnapshot(t *testing.T, s *Stack) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	it := s.GCS.Client.Bucket(LedgerBucket).Objects(context.Background(), nil)
	for {
		a, err := it.Next()
		if err != nil {
			if errors.Is(err, iterator.Done) {
				break
			}
			t.Fatalf("list the ledger bucket: %v", err)
		}
		out[a.Name] = a.Generation
	}
	return out
}

// waitFor polls cond until it holds; it fails the test if cond returns an
// error or the test's deadline (less a margin) comes first.
func waitFor(t *testing.T, what string, cond func() (bool, error)) {
	t.Helper()
	limit := time.Now().Add(2 * time.Minute)
	if d, ok := t.Deadline(); ok && d.Add(-10*time.Second).Before(limit) {
		limit = d.Add(-10 * time.Second)
	}
	for {
		ok, err := cond()
		if err != nil {
			t.Fatalf("waiting for %s: %v", what, err)
		}
		if ok {
			return
		}
		if time.Now().After(limit) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
