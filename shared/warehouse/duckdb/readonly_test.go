package duckdb_test

import (
	"context"
	"testing"

	"github.com/bqbackfill/bqbackfill/shared/warehouse"
	"github.com/bqbackfill/bqbackfill/shared/warehouse/duckdb"
)

// TestReadOnlyOpen: a read-only open of an existing warehouse reads its
// tables, refuses writes, creates nothing, shares the directory with other
// readers and is excluded by a writer (and excludes one).
func TestReadOnlyOpen(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	w, err := duckdb.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Query(ctx, warehouse.QueryJob{SQL: "CREATE SCHEMA IF NOT EXISTS `p.d`; CREATE TABLE `p.d.t` (n INT64); INSERT INTO `p.d.t` VALUES (1), (2)"}); err != nil {
		t.Fatal(err)
	}
	if _, err := duckdb.Open(dir, &duckdb.Options{ReadOnly: true}); warehouse.Code(err) != warehouse.FailedPrecondition {
		t.Errorf("read-only open beside a writer: %v, want FailedPrecondition (in use)", err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}

	r1, err := duckdb.Open(dir, &duckdb.Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("read-only open: %v", err)
	}
	defer r1.Close()
	rows, err := r1.Read(ctx, warehouse.QueryJob{SQL: "SELECT SUM(n) AS s FROM `p.d.t`"})
	if err != nil || len(rows.Rows) != 1 || rows.Rows[0][0] != int64(3) {
		t.Errorf("read: %+v, %v; want 3", rows, err)
	}
	if _, err := r1.Query(ctx, warehouse.QueryJob{SQL: "INSERT INTO `p.d.t` VALUES (3)"}); err == nil {
		t.Errorf("a write through a read-only open succeeded")
	}
	if _, err := r1.Query(ctx, warehouse.QueryJob{SQL: "CREATE SCHEMA IF NOT EXISTS `q.d`"}); err == nil {
		t.Errorf("a new project through a read-only open succeeded")
	}
	if _, err := duckdb.Open(dir, nil); warehouse.Code(err) != warehouse.FailedPrecondition {
		t.Errorf("writer open beside a reader: %v, want FailedPrecondition (in use)", err)
	}
}
