// Package warehousetest is the conformance suite every warehouse.Warehouse
// implementation runs. An implementation joins with a small harness in its
// own conformance_test.go:
//
//	func TestConformance(t *testing.T) {
//		warehousetest.Run(t, func(t *testing.T) warehousetest.Harness { … })
//	}
//
// Each case gets a fresh harness (and so a fresh, empty warehouse). Cases
// that need more than the harness offers are skipped on its Capabilities,
// never on the implementation's name. The suite checks resulting state —
// rows, partitions, metadata — and the error code of every documented
// failure, never how an implementation got there.
package warehousetest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"cloud.google.com/go/civil"

	"github.com/bqbackfill/bqbackfill/shared/warehouse"
)

// Harness gives the suite one implementation under test.
type Harness interface {
	// Warehouse returns the implementation under test. Every HarnessMaker
	// call returns a harness whose warehouse is fresh and empty; the
	// harness cleans up with t.Cleanup.
	Warehouse() warehouse.Warehouse
	// Project is the project the suite creates its datasets in.
	Project() string
	// SetDatasetAccess seeds a dataset's access entries, as BigQuery would
	// have them, so DatasetAccess can be checked.
	SetDatasetAccess(ctx context.Context, project, dataset string, entries []warehouse.AccessEntry) error
	// Capabilities reports what the implementation can be held to.
	Capabilities() Capabilities
}

// Capabilities select the cases a harness can run.
type Capabilities struct {
	// RealData: queries compute their results from stored rows, so the
	// suite seeds data with queries and checks rows, counts and partition
	// semantics (replacement, rejection of rows outside a partition,
	// copies, backups). An implementation tested against a fake that
	// cannot evaluate SQL leaves it false.
	RealData bool
	// DryRunBytes: a dry run of a query over a non-empty table reports a
	// positive byte estimate.
	DryRunBytes bool
}

// Clock is implemented by harnesses that can move the warehouse's clock
// forward; the suite then checks that tables expire.
type Clock interface {
	Advance(d time.Duration)
}

// HarnessMaker makes a fresh harness for one test case.
type HarnessMaker func(t *testing.T) Harness

// testCase is one conformance case.
type testCase struct {
	name string
	// needs names the capability the case needs ("" = none); the case is
	// skipped when the harness lacks it.
	needs func(Capabilities) bool
	run   func(t *testing.T, f *fixture)
}

func realData(c Capabilities) bool { return c.RealData }

// Run runs every conformance case, each as a subtest with a fresh harness.
func Run(t *testing.T, newHarness HarnessMaker) {
	for _, tc := range cases() {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			if tc.needs != nil && !tc.needs(h.Capabilities()) {
				t.Skipf("harness lacks the capability %s needs", tc.name)
			}
			tc.run(t, newFixture(t, h))
		})
	}
}

// fixture holds what every case works with: the harness, its warehouse
// and one dataset created for the case.
type fixture struct {
	t       *testing.T
	h       Harness
	w       warehouse.Warehouse
	ctx     context.Context
	project string
	dataset string
}

func newFixture(t *testing.T, h Harness) *fixture {
	t.Helper()
	f := &fixture{t: t, h: h, w: h.Warehouse(), ctx: context.Background(), project: h.Project(), dataset: "conformance"}
	if err := f.w.EnsureDataset(f.ctx, f.project, f.dataset, 0); err != nil {
		t.Fatalf("EnsureDataset(%s, %s): %v", f.project, f.dataset, err)
	}
	return f
}

func (f *fixture) ref(table string) warehouse.TableRef {
	return warehouse.TableRef{Project: f.project, Dataset: f.dataset, Table: table}
}

// dailySchema is the schema of the suite's day-partitioned tables.
var dailySchema = warehouse.Schema{
	{Name: "submission_date", Type: "DATE", Mode: "REQUIRED", Description: "the day"},
	{Name: "client", Type: "STRING"},
	{Name: "n", Type: "INT64"},
}

// createDaily creates a table partitioned by day on submission_date.
func (f *fixture) createDaily(table string) warehouse.TableRef {
	f.t.Helper()
	ref := f.ref(table)
	md := warehouse.TableMetadata{Ref: ref, Schema: dailySchema, PartitionType: warehouse.Day, PartitionField: "submission_date",
		Clustering: []string{"client"}, Labels: map[string]string{"owner": "conformance"}}
	if err := f.w.CreateTable(f.ctx, md); err != nil {
		f.t.Fatalf("CreateTable(%s): %v", ref, err)
	}
	return ref
}

// createMonthly creates a table partitioned by month on submission_date.
func (f *fixture) createMonthly(table string) warehouse.TableRef {
	f.t.Helper()
	ref := f.ref(table)
	md := warehouse.TableMetadata{Ref: ref, Schema: dailySchema, PartitionType: warehouse.Month, PartitionField: "submission_date"}
	if err := f.w.CreateTable(f.ctx, md); err != nil {
		f.t.Fatalf("CreateTable(%s): %v", ref, err)
	}
	return ref
}

// createPlain creates an unpartitioned table.
func (f *fixture) createPlain(table string, schema warehouse.Schema) warehouse.TableRef {
	f.t.Helper()
	ref := f.ref(table)
	if err := f.w.CreateTable(f.ctx, warehouse.TableMetadata{Ref: ref, Schema: schema, Description: "plain table"}); err != nil {
		f.t.Fatalf("CreateTable(%s): %v", ref, err)
	}
	return ref
}

// row is one row of a daily table.
type row struct {
	day    string
	client string
	n      int64
}

// selectRows renders rows as a BigQuery SELECT … UNION ALL ….
func selectRows(rows []row) string {
	if len(rows) == 0 {
		return "SELECT * FROM (SELECT DATE '2000-01-01' AS submission_date, '' AS client, 0 AS n) WHERE FALSE"
	}
	s := ""
	for i, r := range rows {
		if i > 0 {
			s += " UNION ALL "
		}
		s += fmt.Sprintf("SELECT DATE '%s' AS submission_date, '%s' AS client, %d AS n", r.day, r.client, r.n)
	}
	return s
}

// seed appends rows to ref with a query job.
func (f *fixture) seed(ref warehouse.TableRef, rows ...row) {
	f.t.Helper()
	_, err := f.w.Query(f.ctx, warehouse.QueryJob{SQL: selectRows(rows), Destination: &ref, Write: warehouse.WriteAppend})
	if err != nil {
		f.t.Fatalf("seed %s: %v", ref, err)
	}
}

// rows reads ref's rows ordered by day, client and n.
func (f *fixture) rows(ref warehouse.TableRef) []row {
	f.t.Helper()
	res, err := f.w.Read(f.ctx, warehouse.QueryJob{SQL: fmt.Sprintf(
		"SELECT submission_date, client, n FROM `%s` ORDER BY submission_date, client, n", ref)})
	if err != nil {
		f.t.Fatalf("read %s: %v", ref, err)
	}
	out := make([]row, len(res.Rows))
	for i, r := range res.Rows {
		out[i] = row{day: dateString(f.t, r[0]), client: fmt.Sprint(r[1]), n: asInt64(f.t, r[2])}
	}
	return out
}

// partitions returns ref's partitions as a map of id to rows.
func (f *fixture) partitions(ref warehouse.TableRef) map[string]int64 {
	f.t.Helper()
	parts, err := f.w.Partitions(f.ctx, ref)
	if err != nil {
		f.t.Fatalf("Partitions(%s): %v", ref, err)
	}
	out := map[string]int64{}
	for i, p := range parts {
		if i > 0 && parts[i-1].ID >= p.ID {
			f.t.Errorf("Partitions(%s) not in ascending order: %q before %q", ref, parts[i-1].ID, p.ID)
		}
		out[p.ID] = p.Rows
	}
	return out
}

// wantCode fails unless err has code want.
func wantCode(t *testing.T, what string, err error, want warehouse.ErrorCode) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: succeeded, want a %s error", what, want)
		return
	}
	if got := warehouse.Code(err); got != want {
		t.Errorf("%s: error code %s, want %s (error: %v)", what, got, want, err)
	}
	var we *warehouse.Error
	if !errors.As(err, &we) {
		t.Errorf("%s: error %v is not a *warehouse.Error", what, err)
	}
}

// dateString renders a DATE value (civil.Date or time.Time) as YYYY-MM-DD.
func dateString(t *testing.T, v any) string {
	t.Helper()
	switch x := v.(type) {
	case civil.Date:
		return x.String()
	case time.Time:
		return x.Format("2006-01-02")
	}
	t.Fatalf("value %v (%T) is not a date", v, v)
	return ""
}

func asInt64(t *testing.T, v any) int64 {
	t.Helper()
	switch x := v.(type) {
	case int64:
		return x
	case int:
		return int64(x)
	case int32:
		return int64(x)
	}
	t.Fatalf("value %v (%T) is not an INT64", v, v)
	return 0
}
