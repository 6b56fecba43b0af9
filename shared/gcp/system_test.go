package gcp_test

// System test: one small backfill through the deployed components (the
// scanner fired by the tree sync, the worker job, the completion
// function), in the style of golang-samples' system tests. Skipped unless
// these name a deployment (terraform outputs) the caller's Application
// Default Credentials may use:
//
//	BQBACKFILL_SYSTEM_PROJECT        a production_datasets project
//	BQBACKFILL_SYSTEM_DATASET        one of the deployment's production_datasets there
//	BQBACKFILL_SYSTEM_SQL_BUCKET     the deployment's sql bucket (output sql_bucket)
//	BQBACKFILL_SYSTEM_LEDGER_BUCKET  its ledger bucket (output ledger_bucket)
//
//	go test ./shared/gcp/ -run System -v -timeout 60m
//
// It creates a table <dataset>.bqbackfill_system_<time>_v1 with two days,
// syncs a tree whose backfill.yaml initiates a backfill of them, waits for
// the ledger to say processed, flips the entry to Complete, waits for
// completed and checks production's rows. The sync replaces the bucket's
// manifest: use a deployment of its own, not a shared one.

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"cloud.google.com/go/bigquery"
	"cloud.google.com/go/storage"

	"github.com/bqbackfill/bqbackfill/shared/ledger"
	"github.com/bqbackfill/bqbackfill/shared/pipeline"
	"github.com/bqbackfill/bqbackfill/shared/treestore"
	"github.com/bqbackfill/bqbackfill/shared/warehouse"
)

func systemEnv(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, k := range []string{"BQBACKFILL_SYSTEM_PROJECT", "BQBACKFILL_SYSTEM_DATASET", "BQBACKFILL_SYSTEM_SQL_BUCKET", "BQBACKFILL_SYSTEM_LEDGER_BUCKET"} {
		v := os.Getenv(k)
		if v == "" {
			t.Skipf("system test: set %s (and the other BQBACKFILL_SYSTEM_* variables) to run it against a deployment", k)
		}
		out[k] = v
	}
	return out
}

func TestSystemDeployedBackfill(t *testing.T) {
	env := systemEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 55*time.Minute)
	defer cancel()
	project, ds := env["BQBACKFILL_SYSTEM_PROJECT"], env["BQBACKFILL_SYSTEM_DATASET"]
	table := warehouse.TableRef{Project: project, Dataset: ds, Table: fmt.Sprintf("bqbackfill_system_%d_v1", time.Now().Unix())}

	bq, err := bigquery.NewClient(ctx, project)
	if err != nil {
		t.Fatal(err)
	}
	defer bq.Close()
	run := func(sql string) {
		t.Helper()
		q := bq.Query(sql)
		j, err := q.Run(ctx)
		if err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
		st, err := j.Wait(ctx)
		if err == nil {
			err = st.Err()
		}
		if err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	run(fmt.Sprintf("CREATE TABLE `%s` (submission_date DATE, n INT64) PARTITION BY submission_date AS SELECT d AS submission_date, 1 AS n FROM UNNEST([DATE '2024-01-01', DATE '2024-01-02']) AS d", table))
	t.Cleanup(func() { _ = bq.DatasetInProject(project, ds).Table(table.Table).Delete(context.Background()) })

	gcs, err := storage.NewClient(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer gcs.Close()
	dir := t.TempDir()
	tdir := filepath.Join(dir, "sql", project, ds, table.Table)
	if err := os.MkdirAll(tdir, 0o755); err != nil {
		t.Fatal(err)
	}
	entry := time.Now().UTC().Format("2006-01-02")
	write := func(name, text string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(tdir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("metadata.yaml", "friendly_name: bqbackfill system test\ndescription: Deleted after the test.\nowners:\n  - bqbackfill-system-test@example.com\nbigquery:\n  time_partitioning:\n    type: day\n    field: submission_date\n")
	write("query.sql", "SELECT @submission_date AS submission_date, 2 AS n\n")
	backfill := func(status string) string {
		return entry + ":\n  start_date: 2024-01-01\n  end_date: 2024-01-02\n  reason: bqbackfill system test.\n  watchers:\n  - bqbackfill-system-test@example.com\n  status: " + status + "\n"
	}
	led := ledger.New(gcs, env["BQBACKFILL_SYSTEM_LEDGER_BUCKET"])
	id := pipeline.BackfillID(table, entry)
	waitFor := func(want ledger.State) {
		t.Helper()
		for {
			b, err := led.Get(ctx, id)
			if err == nil && b.State == want {
				return
			}
			if err == nil && (b.State == ledger.StateFailed || b.State == ledger.StateRejected) {
				t.Fatalf("backfill %s is %s: %s", id, b.State, b.LastError)
			}
			select {
			case <-ctx.Done():
				t.Fatalf("backfill %s never became %s (last: %+v, %v)", id, want, b, err)
			case <-time.After(15 * time.Second):
			}
		}
	}
	write("backfill.yaml", backfill("Initiate"))
	if _, err := treestore.Sync(ctx, gcs, env["BQBACKFILL_SYSTEM_SQL_BUCKET"], filepath.Join(dir, "sql"), "system-test", time.Now()); err != nil {
		t.Fatalf("sync the tree: %v", err)
	}
	waitFor(ledger.StateProcessed)
	write("backfill.yaml", backfill("Complete"))
	if _, err := treestore.Sync(ctx, gcs, env["BQBACKFILL_SYSTEM_SQL_BUCKET"], filepath.Join(dir, "sql"), "system-test", time.Now()); err != nil {
		t.Fatalf("sync the tree: %v", err)
	}
	waitFor(ledger.StateCompleted)

	it, err := bq.Query(fmt.Sprintf("SELECT SUM(n) FROM `%s`", table)).Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var row []bigquery.Value
	if err := it.Next(&row); err != nil {
		t.Fatal(err)
	}
	if got, _ := row[0].(int64); got != 4 {
		t.Errorf("production's SUM(n) after the backfill = %v, want 4 (two days of n = 2)", row[0])
	}
}
