package local

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/bqbackfill/bqbackfill/shared/ledger"
	"github.com/bqbackfill/bqbackfill/shared/pipeline"
	"github.com/bqbackfill/bqbackfill/shared/warehouse"
)

var (
	usageV1 = warehouse.TableRef{Project: testProject, Dataset: "test_derived", Table: "usage_v1"}
	usageV2 = warehouse.TableRef{Project: testProject, Dataset: "test_derived", Table: "usage_v2"}
)

// shredderTree copies testdata/shredder/sql (usage_v1 and usage_v2) into a
// new tree and writes usage_v2's backfill.yaml with one entry.
func shredderTree(t *testing.T, status string) string {
	t.Helper()
	sqlDir := filepath.Join(t.TempDir(), "sql")
	src := filepath.Join("testdata", "shredder", "sql")
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		dst := filepath.Join(sqlDir, rel)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		return os.WriteFile(dst, data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	writeShredderEntry(t, sqlDir, status)
	return sqlDir
}

func writeShredderEntry(t *testing.T, sqlDir, status string) {
	t.Helper()
	yaml := fmt.Sprintf("%s:\n  start_date: 2024-03-01\n  end_date: 2024-03-03\n  reason: New version by os (TEST-2).\n  watchers:\n  - test@example.com\n  status: %s\n  shredder_mitigation: true\n", testToday, status)
	writeTreeFile(t, filepath.Join(tableDir(sqlDir, usageV2), "backfill.yaml"), yaml)
}

// query runs a read-only query on the stack's warehouse and returns its
// rows as in rows().
func query(t *testing.T, s *Stack, sql string, params ...warehouse.Param) []string {
	t.Helper()
	res, err := s.DuckDB.Read(context.Background(), warehouse.QueryJob{SQL: sql, Params: params})
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return formatRows(res)
}

// TestShredderMitigation: usage_v2 adds the dimension os to usage_v1, and
// deletion requests have since removed clients from the source (a NULL
// channel among them, and every client of beta on 2024-03-01). Backfilled
// with shredder mitigation from Initiate to Complete, usage_v2's dau and
// clicks summed over (submission_date, channel) equal usage_v1's in every
// partition of the range; the rows the new query computes are in usage_v2
// unchanged, the shredded rows carry os NULL and sessions 0, and the day
// outside the range is untouched.
func TestShredderMitigation(t *testing.T) {
	s := openStack(t, Options{})
	script, err := os.ReadFile(filepath.Join("testdata", "shredder", "warehouse.sql"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.DuckDB.Query(context.Background(), warehouse.QueryJob{SQL: string(script)}); err != nil {
		t.Fatal(err)
	}
	id := pipeline.BackfillID(usageV2, testToday)
	sqlDir := shredderTree(t, "Initiate")
	if got := did(run(t, s, sqlDir).Actions); !slices.Contains(got, "started "+id) {
		t.Fatalf("Initiate: actions %q, want %q", got, "started "+id)
	}
	if b := record(t, s, id); b.State != ledger.StateProcessed {
		t.Fatalf("after Initiate: state %s (%s), want processed", b.State, b.LastError)
	}
	if got, want := partitionStates(t, s, id), allDone("20240301", "20240302", "20240303"); !mapsEqual(got, want) {
		t.Errorf("partition records %v, want %v", got, want)
	}

	writeShredderEntry(t, sqlDir, "Complete")
	run(t, s, sqlDir)
	if b := record(t, s, id); b.State != ledger.StateCompleted {
		t.Fatalf("after Complete: state %s (%s), want completed", b.State, b.LastError)
	}

	const v1Sums = "SELECT submission_date, channel, SUM(dau), SUM(clicks) FROM `%s` WHERE submission_date BETWEEN '2024-03-01' AND '2024-03-03' GROUP BY 1, 2 ORDER BY 1, 2"
	want := query(t, s, fmt.Sprintf(v1Sums, usageV1))
	if got := query(t, s, fmt.Sprintf(v1Sums, usageV2)); !slices.Equal(got, want) {
		t.Errorf("usage_v2 summed over the common dimensions:\n got %q\nwant %q (usage_v1)", got, want)
	}
	if !slices.Contains(want, "2024-03-01 beta 2 2") || !slices.Contains(want, "2024-03-02 <nil> 1 1") {
		t.Fatalf("fixture: usage_v1 lacks the fully deleted groups: %q", want)
	}

	// The new query's own rows are there unchanged (os is never NULL in the
	// source), and the shredded rows are the differences.
	newQuery, err := os.ReadFile(filepath.Join(tableDir(sqlDir, usageV2), "query.sql"))
	if err != nil {
		t.Fatal(err)
	}
	for _, day := range []string{"2024-03-01", "2024-03-02", "2024-03-03"} {
		computed := query(t, s, "SELECT * FROM ("+strings.TrimSuffix(strings.TrimSpace(string(newQuery)), ";")+") ORDER BY 1, 2, 3",
			warehouse.Param{Name: "submission_date", Type: "DATE", Value: day})
		own := query(t, s, fmt.Sprintf("SELECT * FROM `%s` WHERE submission_date = '%s' AND os IS NOT NULL ORDER BY 1, 2, 3", usageV2, day))
		if !slices.Equal(own, computed) {
			t.Errorf("%s: usage_v2's own rows\n got %q\nwant %q (the new query)", day, own, computed)
		}
	}
	shredded := query(t, s, fmt.Sprintf("SELECT * FROM `%s` WHERE os IS NULL", usageV2))
	slices.Sort(shredded)
	wantShredded := []string{
		"2024-03-01 <nil> <nil> 1 2 0",
		"2024-03-01 beta <nil> 2 2 0",
		"2024-03-01 release <nil> 2 4 0",
		"2024-03-02 <nil> <nil> 1 1 0",
		"2024-03-02 nightly <nil> 1 3 0",
		"2024-03-03 esr <nil> 1 0 0",
	}
	if !slices.Equal(shredded, wantShredded) {
		t.Errorf("shredded rows\n got %q\nwant %q", shredded, wantShredded)
	}
	if got := query(t, s, fmt.Sprintf("SELECT * FROM `%s` WHERE submission_date = '2024-03-04'", usageV2)); !slices.Equal(got, []string{"2024-03-04 release Mac 1 9 9"}) {
		t.Errorf("outside the range: %q", got)
	}
}
