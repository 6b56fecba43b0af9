package bigquery_test

// System tests: the adapter's contract against a real BigQuery project, in
// the style of golang-samples' system tests. They are skipped unless
// BQBACKFILL_SYSTEM_PROJECT names a project the caller's Application
// Default Credentials may create datasets and run jobs in:
//
//	BQBACKFILL_SYSTEM_PROJECT=my-test-project go test ./shared/warehouse/bigquery/ -run System -v
//
// Each run creates a dataset bqbackfill_system_<time>, works in it and
// deletes it (with its tables) at the end. BQBACKFILL_SYSTEM_LOCATION
// (default US) is where it is created.

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/bigquery"

	"github.com/bqbackfill/bqbackfill/shared/warehouse"
	bqw "github.com/bqbackfill/bqbackfill/shared/warehouse/bigquery"
)

// systemProject skips the test unless a real project is configured.
func systemProject(t *testing.T) string {
	t.Helper()
	p := os.Getenv("BQBACKFILL_SYSTEM_PROJECT")
	if p == "" {
		t.Skip("system test: set BQBACKFILL_SYSTEM_PROJECT to run it against a real project")
	}
	return p
}

func TestSystemAdapterContract(t *testing.T) {
	project := systemProject(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	loc := os.Getenv("BQBACKFILL_SYSTEM_LOCATION")
	if loc == "" {
		loc = "US"
	}
	w, err := bqw.NewWithConfig(ctx, bqw.Config{Project: project, Location: loc})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	ds := fmt.Sprintf("bqbackfill_system_%d", time.Now().UnixNano())
	if err := w.EnsureDataset(ctx, project, ds, 24*time.Hour); err != nil {
		t.Fatalf("EnsureDataset: %v", err)
	}
	t.Cleanup(func() {
		c, err := bigquery.NewClient(context.Background(), project)
		if err != nil {
			t.Errorf("cleanup: %v", err)
			return
		}
		defer c.Close()
		if err := c.Dataset(ds).DeleteWithContents(context.Background()); err != nil {
			t.Errorf("cleanup: delete dataset %s: %v", ds, err)
		}
	})
	ref := func(name string) warehouse.TableRef {
		return warehouse.TableRef{Project: project, Dataset: ds, Table: name}
	}
	prod, staging, backup := ref("prod_v1"), ref("staging_v1"), ref("backup_v1")

	// A production table with what staging must keep: a REQUIRED column and
	// descriptions.
	if err := w.CreateTable(ctx, warehouse.TableMetadata{
		Ref: prod,
		Schema: warehouse.Schema{
			{Name: "submission_date", Type: "DATE", Mode: "REQUIRED", Description: "day"},
			{Name: "n", Type: "INT64", Description: "count"},
		},
		PartitionType: warehouse.Day, PartitionField: "submission_date",
		Labels: map[string]string{"owner": "system-test"},
	}); err != nil {
		t.Fatalf("CreateTable: %v", err)
	}
	rows := func(day string, n int) string {
		return fmt.Sprintf("SELECT DATE '%s' AS submission_date, x AS n FROM UNNEST(GENERATE_ARRAY(1, %d)) AS x", day, n)
	}
	// REQUIRED submission_date: WRITE_TRUNCATE of a partition from a
	// NULLABLE query result is what this checks against the real service.
	if _, err := w.Query(ctx, warehouse.QueryJob{SQL: rows("2024-01-01", 3), Destination: &prod, Partition: "20240101"}); err != nil {
		t.Fatalf("query into a partition of a table with a REQUIRED column: %v", err)
	}
	if err := w.CreateTableLike(ctx, prod, staging, warehouse.CreateLikeOptions{Expiration: time.Now().Add(24 * time.Hour), Labels: map[string]string{"backfill": "system"}}); err != nil {
		t.Fatalf("CreateTableLike: %v", err)
	}
	smd, err := w.Table(ctx, staging)
	if err != nil {
		t.Fatal(err)
	}
	if err := warehouse.CompatibleSchemas(smd.Schema, mustTable(ctx, t, w, prod).Schema); err != nil || smd.Schema[0].Description != "day" {
		t.Errorf("staging schema %+v is not production's: %v", smd.Schema, err)
	}
	res, err := w.Query(ctx, warehouse.QueryJob{SQL: rows("2024-01-01", 5), Destination: &staging, Partition: "20240101"})
	if err != nil || res.RowsWritten != 5 {
		t.Fatalf("query into staging$20240101: %+v, %v", res, err)
	}
	dry, err := w.Query(ctx, warehouse.QueryJob{SQL: "SELECT * FROM `" + staging.String() + "` WHERE submission_date = @d", Params: []warehouse.Param{{Name: "d", Type: "DATE", Value: "2024-01-01"}}, DryRun: true})
	if err != nil || dry.BytesProcessed <= 0 {
		t.Errorf("dry run: %+v, %v", dry, err)
	}
	if _, err := w.Backup(ctx, prod, backup, time.Now().Add(24*time.Hour), map[string]string{"backfill": "system"}); err != nil {
		t.Fatalf("Backup (clone): %v", err)
	}
	cp, err := w.Copy(ctx, warehouse.CopyJob{Source: staging, SourcePartition: "20240101", Dest: prod, DestPartition: "20240101", Write: warehouse.WriteTruncate})
	if err != nil || cp.RowsWritten != 5 {
		t.Fatalf("copy staging$20240101 over production: %+v, %v", cp, err)
	}
	parts, err := w.Partitions(ctx, backup)
	if err != nil || len(parts) != 1 || parts[0].Rows != 3 {
		t.Errorf("backup partitions %+v, %v: want the 3 rows production had", parts, err)
	}
	// Whole-table copy keeps production's schema.
	if _, err := w.Copy(ctx, warehouse.CopyJob{Source: backup, Dest: prod, Write: warehouse.WriteTruncate}); err != nil {
		t.Fatalf("whole-table copy (rollback): %v", err)
	}
	if md := mustTable(ctx, t, w, prod); md.Schema[0].Mode != "REQUIRED" || md.Schema[1].Description != "count" {
		t.Errorf("production's schema after a whole-table copy: %+v", md.Schema)
	}
	// IAM: read (version 3) and write back unchanged (etag compare-and-swap).
	pol, err := w.TableIAM(ctx, staging)
	if err != nil {
		t.Fatalf("TableIAM: %v", err)
	}
	if err := w.SetTableIAM(ctx, staging, pol); err != nil {
		t.Fatalf("SetTableIAM: %v", err)
	}
	if err := w.SetTableIAM(ctx, staging, pol); warehouse.Code(err) != warehouse.FailedPrecondition {
		t.Errorf("SetTableIAM with a stale etag: %v, want FailedPrecondition", err)
	}
	if _, err := w.DatasetAccess(ctx, project, ds); err != nil {
		t.Errorf("DatasetAccess: %v", err)
	}
	if err := w.Delete(ctx, staging); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, err := w.Table(ctx, staging); !warehouse.IsNotFound(err) {
		t.Errorf("staging after Delete: %v, want NotFound", err)
	}
	if _, err := w.Query(ctx, warehouse.QueryJob{SQL: "SELECT * FROM `" + project + "." + ds + ".missing`"}); warehouse.Code(err) != warehouse.NotFound && !strings.Contains(fmt.Sprint(err), "Not found") {
		t.Errorf("query of a missing table: %v, want NotFound", err)
	}
}

func mustTable(ctx context.Context, t *testing.T, w *bqw.Warehouse, ref warehouse.TableRef) *warehouse.TableMetadata {
	t.Helper()
	md, err := w.Table(ctx, ref)
	if err != nil {
		t.Fatalf("Table(%s): %v", ref, err)
	}
	return md
}
