package local

// End-to-end tests of the seed document's special cases in local mode
// (special_*_test.go): depends_on_past chains, query.py scripts, --target,
// permission mirroring, and the rejected configurations. Each runs the whole
// stack on the fixture warehouse of testdata/special/warehouse.sql and a
// tree built from testdata/special/sql, and checks the exact contents of
// staging, production and the backup, the ledger, and — through a
// recording warehouse wrapper — every write the pipeline made.
//
// This file holds the harness they share and the depends_on_past and
// permission-mirroring tests.

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bqbackfill/bqbackfill/shared/ledger"
	"github.com/bqbackfill/bqbackfill/shared/pipeline"
	"github.com/bqbackfill/bqbackfill/shared/treescan"
	"github.com/bqbackfill/bqbackfill/shared/warehouse"
)

// The fixture tables of testdata/special.
var (
	visitsTable        = warehouse.TableRef{Project: testProject, Dataset: "special_derived", Table: "visits_v1"}
	runningTable       = warehouse.TableRef{Project: testProject, Dataset: "special_derived", Table: "running_visits_v1"}
	scriptTable        = warehouse.TableRef{Project: testProject, Dataset: "special_derived", Table: "script_visits_v1"}
	monthlyVisitsTable = warehouse.TableRef{Project: testProject, Dataset: "special_derived", Table: "monthly_visits_v1"}
)

// recordedWrite is one warehouse call that changes something, as the
// writeRecorder saw it.
type recordedWrite struct {
	op string // query, copy, backup, create, create-like, delete, set-iam, ensure-dataset
	// table is what the call writes (for ensure-dataset only Project and
	// Dataset are set); zero for a query without a destination.
	table warehouse.TableRef
	// text describes the call, e.g. "copy p.d.t$20240301 -> q.e.u$20240301".
	text string
	// billing is the billing project of a query or copy job.
	billing string
}

// writeRecorder wraps the stack's warehouse and records every call that writes,
// in the order they start, and how many queries into a table ran at once at
// most.
type writeRecorder struct {
	warehouse.Warehouse

	// own, when set, is granted on every table the pipeline creates (staging
	// and the backup) as soon as it exists, as BigQuery gives a new table
	// its creator's grants: mirroring must keep them.
	own []warehouse.Binding

	mu         sync.Mutex
	writes     []recordedWrite
	running    int
	maxRunning int
}

func (r *writeRecorder) record(w recordedWrite) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.writes = append(r.writes, w)
}

// texts returns the writes recorded so far, as their text.
func (r *writeRecorder) texts() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := []string{}
	for _, w := range r.writes {
		out = append(out, w.text)
	}
	return out
}

func (r *writeRecorder) all() []recordedWrite {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.writes)
}

// concurrency is the most queries into a table that ran at once.
func (r *writeRecorder) concurrency() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.maxRunning
}

// reset forgets what was recorded (between the phases of a test).
func (r *writeRecorder) reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.writes, r.maxRunning = nil, 0
}

func decoratedTable(t warehouse.TableRef, partition string) string {
	if partition == "" {
		return t.String()
	}
	return t.String() + "$" + partition
}

func (r *writeRecorder) Query(ctx context.Context, job warehouse.QueryJob) (warehouse.JobResult, error) {
	if job.DryRun { // the start's cost estimate writes nothing
		return r.Warehouse.Query(ctx, job)
	}
	w := recordedWrite{op: "query", billing: job.BillingProject, text: "query without destination: " + job.SQL}
	if job.Destination != nil {
		w.table = *job.Destination
		w.text = "query " + decoratedTable(*job.Destination, job.Partition)
		r.mu.Lock()
		r.running++
		r.maxRunning = max(r.maxRunning, r.running)
		r.mu.Unlock()
		defer func() {
			r.mu.Lock()
			r.running--
			r.mu.Unlock()
		}()
	}
	r.record(w)
	return r.Warehouse.Query(ctx, job)
}

func (r *writeRecorder) Copy(ctx context.Context, job warehouse.CopyJob) (warehouse.JobResult, error) {
	r.record(recordedWrite{op: "copy", table: job.Dest, billing: job.BillingProject,
		text: fmt.Sprintf("copy %s -> %s %s", decoratedTable(job.Source, job.SourcePartition), decoratedTable(job.Dest, job.DestPartition), job.Write)})
	return r.Warehouse.Copy(ctx, job)
}

func (r *writeRecorder) ReplacePartitions(ctx context.Context, job warehouse.ReplaceJob) (warehouse.JobResult, error) {
	r.record(recordedWrite{op: "replace", table: job.Dest, billing: job.BillingProject,
		text: fmt.Sprintf("replace %s from %s, partitions %v", job.Dest, job.Source, job.Partitions)})
	return r.Warehouse.(interface {
		ReplacePartitions(context.Context, warehouse.ReplaceJob) (warehouse.JobResult, error)
	}).ReplacePartitions(ctx, job)
}

func (r *writeRecorder) Backup(ctx context.Context, src, dst warehouse.TableRef, expiration time.Time, labels map[string]string) (warehouse.JobResult, error) {
	r.record(recordedWrite{op: "backup", table: dst, text: fmt.Sprintf("backup %s -> %s", src, dst)})
	res, err := r.Warehouse.Backup(ctx, src, dst, expiration, labels)
	if err == nil {
		err = r.grantOwn(ctx, dst)
	}
	return res, err
}

func (r *writeRecorder) CreateTable(ctx context.Context, md warehouse.TableMetadata) error {
	r.record(recordedWrite{op: "create", table: md.Ref, text: "create " + md.Ref.String()})
	return r.Warehouse.CreateTable(ctx, md)
}

func (r *writeRecorder) CreateTableLike(ctx context.Context, src, dst warehouse.TableRef, opts warehouse.CreateLikeOptions) error {
	r.record(recordedWrite{op: "create-like", table: dst, text: fmt.Sprintf("create %s like %s", dst, src)})
	err := r.Warehouse.CreateTableLike(ctx, src, dst, opts)
	if err == nil {
		err = r.grantOwn(ctx, dst)
	}
	return err
}

func (r *writeRecorder) grantOwn(ctx context.Context, t warehouse.TableRef) error {
	if len(r.own) == 0 {
		return nil
	}
	return r.Warehouse.SetTableIAM(ctx, t, warehouse.Policy{Bindings: r.own})
}

func (r *writeRecorder) Delete(ctx context.Context, ref warehouse.TableRef) error {
	r.record(recordedWrite{op: "delete", table: ref, text: "delete " + ref.String()})
	return r.Warehouse.Delete(ctx, ref)
}

func (r *writeRecorder) SetTableIAM(ctx context.Context, ref warehouse.TableRef, p warehouse.Policy) error {
	r.record(recordedWrite{op: "set-iam", table: ref, text: "set IAM policy of " + ref.String()})
	return r.Warehouse.SetTableIAM(ctx, ref, p)
}

func (r *writeRecorder) EnsureDataset(ctx context.Context, project, dataset string, exp time.Duration) error {
	r.record(recordedWrite{op: "ensure-dataset", table: warehouse.TableRef{Project: project, Dataset: dataset},
		text: "ensure dataset " + project + "." + dataset})
	return r.Warehouse.EnsureDataset(ctx, project, dataset, exp)
}

// specialStack opens a stack whose warehouse is wrapped by a recorder
// (granting own on the tables the pipeline creates) and loads the fixture
// warehouse of testdata/special. The fixture is loaded directly, so the
// recorder starts empty.
func specialStack(t *testing.T, own ...warehouse.Binding) (*Stack, *writeRecorder) {
	t.Helper()
	return specialStackWith(t, Options{}, own...)
}

// specialStackWith is specialStack with more options.
func specialStackWith(t *testing.T, o Options, own ...warehouse.Binding) (*Stack, *writeRecorder) {
	t.Helper()
	rec := &writeRecorder{own: own}
	o.Warehouse = func(w warehouse.Warehouse) warehouse.Warehouse {
		rec.Warehouse = w
		return rec
	}
	s := openStack(t, o)
	script, err := os.ReadFile(filepath.Join("testdata", "special", "warehouse.sql"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.DuckDB.Query(context.Background(), warehouse.QueryJob{SQL: string(script)}); err != nil {
		t.Fatalf("load the fixture warehouse: %v", err)
	}
	return s, rec
}

// specialEntry is one backfill.yaml entry; fields are extra lines of the
// entry, written indented under it ("override_retention_limit: true",
// "query_script_args:", "- --x=y").
type specialEntry struct {
	date, start, end string
	status           string // "" for Initiate
	watcher          string // "" for test@example.com
	fields           []string
}

func (e specialEntry) yaml() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s:\n  start_date: %s\n  end_date: %s\n", e.date, e.start, e.end)
	w, st := e.watcher, e.status
	if w == "" {
		w = "test@example.com"
	}
	if st == "" {
		st = "Initiate"
	}
	fmt.Fprintf(&b, "  reason: Drop bot traffic (TEST-2).\n  watchers:\n  - %s\n  status: %s\n", w, st)
	for _, f := range e.fields {
		b.WriteString("  " + f + "\n")
	}
	return b.String()
}

// withStatus returns e with another status.
func (e specialEntry) withStatus(status string) specialEntry {
	e.status = status
	return e
}

// specialTree builds a sql/ tree under a new temporary directory holding
// table's files from testdata/special/sql and a backfill.yaml of entries
// (newest first). It returns the sql/ directory.
func specialTree(t *testing.T, table warehouse.TableRef, entries ...specialEntry) string {
	t.Helper()
	sqlDir := filepath.Join(t.TempDir(), "sql")
	src := os.DirFS(tableDir(filepath.Join("testdata", "special", "sql"), table))
	dst := tableDir(sqlDir, table)
	if err := os.MkdirAll(dst, 0o755); err != nil {
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
		return os.WriteFile(filepath.Join(dst, p), data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	writeSpecialEntries(t, sqlDir, table, entries...)
	return sqlDir
}

// writeSpecialEntries (re)writes table's backfill.yaml.
func writeSpecialEntries(t *testing.T, sqlDir string, table warehouse.TableRef, entries ...specialEntry) {
	t.Helper()
	var b strings.Builder
	for _, e := range entries {
		b.WriteString(e.yaml())
	}
	writeTreeFile(t, filepath.Join(tableDir(sqlDir, table), "backfill.yaml"), b.String())
}

func writeTreeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// runSpecial runs the stack on sqlDir restricted by filter and fails the test
// on an error.
func runSpecial(t *testing.T, s *Stack, sqlDir string, filter treescan.Options) Result {
	t.Helper()
	res, err := s.RunFiltered(context.Background(), sqlDir, filter)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	return res
}

// requireSpecialState fails the test unless the backfill is in state want.
func requireSpecialState(t *testing.T, s *Stack, id string, want ledger.State) *ledger.Backfill {
	t.Helper()
	b := record(t, s, id)
	if b.State != want {
		t.Fatalf("%s: state %s (last error %q), want %s", id, b.State, b.LastError, want)
	}
	return b
}

func checkSpecialRows(t *testing.T, s *Stack, what string, table warehouse.TableRef, want []string) {
	t.Helper()
	if got := rows(t, s, table); !slices.Equal(got, want) {
		t.Errorf("%s %s:\n got %q\nwant %q", what, table, got, want)
	}
}

func checkSpecialWrites(t *testing.T, phase string, rec *writeRecorder, want []string) {
	t.Helper()
	if got := rec.texts(); !slices.Equal(got, want) {
		t.Errorf("%s: warehouse writes\n got %q\nwant %q", phase, got, want)
	}
}

// checkSpecialWritesGrouped checks the recorded writes against groups that follow
// one another, the writes inside a group in any order (concurrent ones: the
// partitions of a backfill, the copies of a swap).
func checkSpecialWritesGrouped(t *testing.T, phase string, rec *writeRecorder, groups ...[]string) {
	t.Helper()
	got := rec.texts()
	var want []string
	ok := true
	rest := got
	for _, g := range groups {
		want = append(want, g...)
		if len(rest) < len(g) {
			ok = false
			break
		}
		if !slices.Equal(slices.Sorted(slices.Values(rest[:len(g)])), slices.Sorted(slices.Values(g))) {
			ok = false
		}
		rest = rest[len(g):]
	}
	if !ok || len(rest) > 0 {
		t.Errorf("%s: warehouse writes\n got %q\nwant %q (in groups %q, each in any order)", phase, got, want, groups)
	}
}

// swapStepDone reports whether a backfill's swap step name is recorded done.
func swapStepDone(t *testing.T, s *Stack, id, name string) bool {
	t.Helper()
	st, err := s.Ledger.GetSwapStep(context.Background(), id, name)
	if errors.Is(err, ledger.ErrNotFound) {
		return false
	}
	if err != nil {
		t.Fatalf("swap step %s of %s: %v", name, id, err)
	}
	return st.Done
}

// runningDays are the days of the depends_on_past test's entry, and
// humanVisits the source's human visits on them (testdata/special/warehouse.sql).
var (
	runningDays = []string{"2024-03-02", "2024-03-03", "2024-03-04"}
	humanVisits = map[string]map[string]int64{
		"2024-03-02": {"DE": 2, "US": 5},
		"2024-03-03": {"DE": 3, "US": 1},
		"2024-03-04": {"DE": 1, "US": 4},
	}
)

// runningTotals computes the running_visits_v1 rows for runningDays one day
// after the other, as the query does: each day's total is what yesterday
// returns for the previous day plus the day's human visits. yesterday gets
// the previous day and the totals computed so far in this run.
func runningTotals(yesterday func(day string, computed map[string]map[string]int64) map[string]int64) []string {
	computed := map[string]map[string]int64{}
	var out []string
	for _, day := range runningDays {
		d, _ := time.Parse(time.DateOnly, day)
		prev := yesterday(d.AddDate(0, 0, -1).Format(time.DateOnly), computed)
		computed[day] = map[string]int64{}
		for _, c := range []string{"DE", "US"} {
			v := humanVisits[day][c]
			computed[day][c] = prev[c] + v
			out = append(out, fmt.Sprintf("%s %s %d %d", day, c, v, prev[c]+v))
		}
	}
	return out
}

// runningTotalsOf parses running_visits_v1 rows ("date country visits total") into
// totals by day and country.
func runningTotalsOf(t *testing.T, rows []string) map[string]map[string]int64 {
	t.Helper()
	out := map[string]map[string]int64{}
	for _, r := range rows {
		var day, country string
		var visits, total int64
		if _, err := fmt.Sscanf(r, "%s %s %d %d", &day, &country, &visits, &total); err != nil {
			t.Fatalf("row %q: %v", r, err)
		}
		if out[day] == nil {
			out[day] = map[string]int64{}
		}
		out[day][country] = total
	}
	return out
}

// TestSpecialDependsOnPast: a depends_on_past table whose query reads its
// own previous partition (a running total) runs one partition at a time in
// date order, from the previous partition seeded from production into
// staging, with the query rewritten to read staging; the results are the
// ones computed sequentially from the seed and differ from those of a run
// without the seed or without the rewrite.
func TestSpecialDependsOnPast(t *testing.T) {
	s, rec := specialStack(t)
	// V7: the end date must be the entry date (override not set).
	e := specialEntry{date: "2024-03-04", start: "2024-03-02", end: "2024-03-04"}
	id := pipeline.BackfillID(runningTable, e.date)
	staging := stagingOf(runningTable, e.date)
	backup := backupOf(runningTable, e.date)
	before := rows(t, s, runningTable)
	prodTotals := runningTotalsOf(t, before)

	// What the run must produce, and what it would produce if either
	// special step were missing; they must differ, or the test proves
	// nothing.
	want := runningTotals(func(day string, computed map[string]map[string]int64) map[string]int64 {
		if c, ok := computed[day]; ok {
			return c
		}
		return prodTotals[day] // the seeded partition, copied from production
	})
	noSeed := runningTotals(func(day string, computed map[string]map[string]int64) map[string]int64 {
		return computed[day] // staging has nothing before the first day
	})
	noRewrite := runningTotals(func(day string, _ map[string]map[string]int64) map[string]int64 {
		return prodTotals[day] // production's old totals, every day
	})
	if literal := []string{
		"2024-03-02 DE 2 102", "2024-03-02 US 5 205",
		"2024-03-03 DE 3 105", "2024-03-03 US 1 206",
		"2024-03-04 DE 1 106", "2024-03-04 US 4 210",
	}; !slices.Equal(want, literal) {
		t.Fatalf("expected totals %q, want %q (fixture changed?)", want, literal)
	}
	if slices.Equal(noSeed, want) || slices.Equal(noRewrite, want) {
		t.Fatalf("the fixture does not tell a missing seed (%q) or rewrite (%q) from the right result %q", noSeed, noRewrite, want)
	}
	seed := []string{"2024-03-01 DE 4 100", "2024-03-01 US 7 200"} // production's 2024-03-01

	// Initiate.
	sqlDir := specialTree(t, runningTable, e)
	res := runSpecial(t, s, sqlDir, treescan.Options{})
	if got := did(res.Actions); count(got, "started "+id) != 1 {
		t.Fatalf("Initiate: actions %q, want one %q", got, "started "+id)
	}
	requireSpecialState(t, s, id, ledger.StateProcessed)
	checkSpecialRows(t, s, "staging", staging, append(slices.Clone(seed), want...))
	checkSpecialRows(t, s, "production after Initiate", runningTable, before)
	// The seed copy comes before the first query, and the partitions were
	// queried one at a time, in date order.
	checkSpecialWrites(t, "Initiate", rec, []string{
		"ensure dataset moz-fx-data-shared-prod.backfills_staging_derived",
		"create " + staging.String() + " like " + runningTable.String(),
		"copy " + runningTable.String() + "$20240301 -> " + staging.String() + "$20240301 WRITE_TRUNCATE",
		"query " + staging.String() + "$20240302",
		"query " + staging.String() + "$20240303",
		"query " + staging.String() + "$20240304",
	})
	if n := rec.concurrency(); n != 1 {
		t.Errorf("up to %d partitions of the chain ran at once, want 1", n)
	}
	if got, wantIDs := partitionStates(t, s, id), allDone("20240302", "20240303", "20240304"); !mapsEqual(got, wantIDs) {
		t.Errorf("partition records %v, want %v", got, wantIDs)
	}

	// Complete.
	rec.reset()
	writeSpecialEntries(t, sqlDir, runningTable, e.withStatus("Complete"))
	runSpecial(t, s, sqlDir, treescan.Options{})
	requireSpecialState(t, s, id, ledger.StateCompleted)
	checkSpecialRows(t, s, "production after Complete", runningTable, append(slices.Clone(seed), want...))
	checkSpecialRows(t, s, "backup", backup, before)
	if exists(t, s, staging) {
		t.Errorf("staging %s still exists after Complete", staging)
	}
	checkSpecialWritesGrouped(t, "Complete", rec,
		[]string{"backup " + runningTable.String() + " -> " + backup.String()},
		[]string{
			"copy " + staging.String() + "$20240302 -> " + runningTable.String() + "$20240302 WRITE_TRUNCATE",
			"copy " + staging.String() + "$20240303 -> " + runningTable.String() + "$20240303 WRITE_TRUNCATE",
			"copy " + staging.String() + "$20240304 -> " + runningTable.String() + "$20240304 WRITE_TRUNCATE",
		},
		[]string{"delete " + staging.String()})
}

// TestSpecialDependsOnPastEndDate: on a depends_on_past table an end date
// before the entry date is rejected (V7) with nothing written, unless the
// entry sets override_depends_on_past_end_date.
func TestSpecialDependsOnPastEndDate(t *testing.T) {
	e := specialEntry{date: "2024-03-06", start: "2024-03-02", end: "2024-03-03"}
	id := pipeline.BackfillID(runningTable, e.date)

	t.Run("rejected without the override", func(t *testing.T) {
		s, rec := specialStack(t)
		res := runSpecial(t, s, specialTree(t, runningTable, e), treescan.Options{})
		if got, want := did(res.Actions), []string{"rejected " + id}; !slices.Equal(got, want) {
			t.Fatalf("actions %q, want %q", got, want)
		}
		b := requireSpecialState(t, s, id, ledger.StateRejected)
		if !strings.HasPrefix(b.LastError, "V7: ") || !strings.Contains(b.LastError, "override_depends_on_past_end_date") {
			t.Errorf("last error %q, want V7 naming its override", b.LastError)
		}
		checkSpecialWrites(t, "rejected entry", rec, []string{})
		if exists(t, s, stagingOf(runningTable, e.date)) {
			t.Errorf("a rejected entry created staging")
		}
	})

	t.Run("runs with the override", func(t *testing.T) {
		s, _ := specialStack(t)
		ov := e
		ov.fields = []string{"override_depends_on_past_end_date: true"}
		runSpecial(t, s, specialTree(t, runningTable, ov), treescan.Options{})
		requireSpecialState(t, s, id, ledger.StateProcessed)
		checkSpecialRows(t, s, "staging", stagingOf(runningTable, e.date), []string{
			"2024-03-01 DE 4 100", "2024-03-01 US 7 200",
			"2024-03-02 DE 2 102", "2024-03-02 US 5 205",
			"2024-03-03 DE 3 105", "2024-03-03 US 1 206",
		})
	})
}

// TestSpecialMirroredPermissions: a workgroup-restricted table's staging
// and backup get its IAM bindings plus its dataset's access entries turned
// into bindings (reference §5.4), merged with the grants they already have.
func TestSpecialMirroredPermissions(t *testing.T) {
	// What BigQuery grants the creator of a new table; mirroring keeps it,
	// and a member it shares with production is not listed twice.
	own := []warehouse.Binding{
		{Role: "roles/bigquery.dataOwner", Members: []string{"serviceAccount:bqbackfill-scanner@bqbackfill-prod.iam.gserviceaccount.com"}},
		{Role: "roles/bigquery.dataViewer", Members: []string{"group:restricted-readers@example.com"}},
	}
	s, rec := specialStack(t, own...)
	ctx := context.Background()
	prodPolicy := warehouse.Policy{Bindings: []warehouse.Binding{
		{Role: "roles/bigquery.dataEditor", Members: []string{"serviceAccount:etl@moz-fx-data-shared-prod.iam.gserviceaccount.com"}},
		{Role: "roles/bigquery.dataViewer", Members: []string{"deleted:user:gone@example.com?uid=1", "group:restricted-readers@example.com"}},
	}}
	if err := s.DuckDB.SetTableIAM(ctx, visitsTable, prodPolicy); err != nil {
		t.Fatal(err)
	}
	access := []warehouse.AccessEntry{
		{Role: "READER", EntityType: "userByEmail", Entity: "alice@example.com"},
		{Role: "WRITER", EntityType: "userByEmail", Entity: "loader@moz-fx-data-shared-prod.iam.gserviceaccount.com"},
		{Role: "OWNER", EntityType: "groupByEmail", Entity: "data-owners@example.com"},
		{Role: "READER", EntityType: "domain", Entity: "example.com"},
		{Role: "roles/bigquery.dataViewer", EntityType: "iamMember", Entity: "group:workgroup-restricted@example.com"},
		{Role: "READER", EntityType: "specialGroup", Entity: "projectReaders"},
		{Role: "READER", EntityType: "view", Entity: "moz-fx-data-shared-prod.special.visits"},
	}
	if err := s.DuckDB.SetDatasetAccess(ctx, visitsTable.Project, visitsTable.Dataset, access); err != nil {
		t.Fatal(err)
	}
	// The union, grouped by role, sorted: production's table bindings (but
	// the deleted principal), the dataset entries (legacy roles mapped,
	// members prefixed by entity type; specialGroup and view skipped), and
	// the table's own grants.
	want := []warehouse.Binding{
		{Role: "roles/bigquery.dataEditor", Members: []string{
			"serviceAccount:etl@moz-fx-data-shared-prod.iam.gserviceaccount.com",
			"serviceAccount:loader@moz-fx-data-shared-prod.iam.gserviceaccount.com",
		}},
		{Role: "roles/bigquery.dataOwner", Members: []string{
			"group:data-owners@example.com",
			"serviceAccount:bqbackfill-scanner@bqbackfill-prod.iam.gserviceaccount.com",
		}},
		{Role: "roles/bigquery.dataViewer", Members: []string{
			"domain:example.com",
			"group:restricted-readers@example.com",
			"group:workgroup-restricted@example.com",
			"user:alice@example.com",
		}},
	}
	policy := func(table warehouse.TableRef) []warehouse.Binding {
		t.Helper()
		p, err := s.DuckDB.TableIAM(ctx, table)
		if err != nil {
			t.Fatalf("IAM policy of %s: %v", table, err)
		}
		return p.Bindings
	}

	e := specialEntry{date: testToday, start: "2024-03-02", end: "2024-03-03"}
	id := pipeline.BackfillID(visitsTable, e.date)
	staging, backup := stagingOf(visitsTable, e.date), backupOf(visitsTable, e.date)
	sqlDir := specialTree(t, visitsTable, e)
	runSpecial(t, s, sqlDir, treescan.Options{})
	requireSpecialState(t, s, id, ledger.StateProcessed)
	if got := policy(staging); !reflect.DeepEqual(got, want) {
		t.Errorf("staging IAM bindings:\n got %+v\nwant %+v", got, want)
	}
	if n := count(rec.texts(), "set IAM policy of "+staging.String()); n != 1 {
		t.Errorf("staging's policy was written %d times, want once", n)
	}

	writeSpecialEntries(t, sqlDir, visitsTable, e.withStatus("Complete"))
	runSpecial(t, s, sqlDir, treescan.Options{})
	requireSpecialState(t, s, id, ledger.StateCompleted)
	if got := policy(backup); !reflect.DeepEqual(got, want) {
		t.Errorf("backup IAM bindings:\n got %+v\nwant %+v", got, want)
	}
	if got := policy(visitsTable); !reflect.DeepEqual(got, prodPolicy.Bindings) {
		t.Errorf("production's IAM bindings changed:\n got %+v\nwant %+v", got, prodPolicy.Bindings)
	}
	if !swapStepDone(t, s, id, "backup-iam") {
		t.Errorf("the backup's permissions are not recorded as a swap step")
	}
	checkSpecialRows(t, s, "production after Complete", visitsTable, []string{
		"2024-03-01 DE 14", "2024-03-01 US 27",
		"2024-03-02 DE 2", "2024-03-02 US 5",
		"2024-03-03 DE 3", "2024-03-03 US 1",
		"2024-03-04 DE 11", "2024-03-04 US 24",
	})
}
