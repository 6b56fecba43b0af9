package bqfake_test

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"cloud.google.com/go/bigquery"
	"cloud.google.com/go/civil"
	bq "google.golang.org/api/bigquery/v2"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/iterator"

	"github.com/bqbackfill/bqbackfill/shared/warehouse"
	"github.com/bqbackfill/bqbackfill/shared/warehouse/bqfake"
)

var daily = warehouse.TableRef{Project: "p", Dataset: "d", Table: "daily"}

func setup(t *testing.T) (*bqfake.Server, *bigquery.Client) {
	t.Helper()
	s := bqfake.New()
	t.Cleanup(s.Close)
	c, err := bigquery.NewClient(context.Background(), "p", s.ClientOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	s.PutTable(&bq.Table{
		TableReference:   &bq.TableReference{ProjectId: "p", DatasetId: "d", TableId: "daily"},
		Schema:           &bq.TableSchema{Fields: []*bq.TableFieldSchema{bqfake.Column("day", "DATE"), bqfake.Column("n", "INTEGER")}},
		TimePartitioning: &bq.TimePartitioning{Type: "DAY", Field: "day"},
	})
	s.OnQuery(func(q *bqfake.Query) (*bqfake.Result, error) {
		if q.SQL != "rows" {
			return nil, nil
		}
		return &bqfake.Result{
			Schema: []*bq.TableFieldSchema{bqfake.Column("day", "DATE"), bqfake.Column("n", "INTEGER")},
			Rows: [][]any{
				{civil.Date{Year: 2024, Month: 1, Day: 1}, int64(1)},
				{"2024-01-02", int64(2)},
				{civil.Date{Year: 2024, Month: 1, Day: 2}, int64(3)},
				{nil, int64(4)},
			},
		}, nil
	})
	return s, c
}

// run runs a query job into dst and returns the job's error.
func run(t *testing.T, c *bigquery.Client, sql, dst string, wd bigquery.TableWriteDisposition) error {
	t.Helper()
	ctx := context.Background()
	q := c.Query(sql)
	q.Dst = c.Dataset("d").Table(dst)
	q.WriteDisposition = wd
	q.CreateDisposition = bigquery.CreateNever
	j, err := q.Run(ctx)
	if err != nil {
		return err
	}
	st, err := j.Status(ctx)
	if err != nil {
		return err
	}
	return st.Err()
}

func reason(err error) string {
	var be *bigquery.Error
	if errors.As(err, &be) {
		return be.Reason
	}
	var ge *googleapi.Error
	if errors.As(err, &ge) && len(ge.Errors) > 0 {
		return ge.Errors[0].Reason
	}
	return ""
}

func TestQueryWritesPartitions(t *testing.T) {
	s, c := setup(t)
	if err := run(t, c, "rows", "daily", bigquery.WriteTruncate); err != nil {
		t.Fatalf("whole-table write: %v", err)
	}
	want := map[string]int64{"20240101": 1, "20240102": 2, "__NULL__": 1}
	if got := s.PartitionRows(daily); !reflect.DeepEqual(got, want) {
		t.Errorf("partitions = %v, want %v", got, want)
	}
	if md := s.Table(daily); md.NumRows != 4 {
		t.Errorf("numRows = %d, want 4", md.NumRows)
	}
	// Rows outside a decorated partition fail the job and change nothing.
	if err := run(t, c, "rows", "daily$20240101", bigquery.WriteTruncate); reason(err) != "invalid" {
		t.Errorf("write with rows outside the partition: %v, want reason invalid", err)
	}
	// WRITE_EMPTY onto a partition with rows is a duplicate.
	if err := run(t, c, "SELECT nothing", "daily$20240102", bigquery.WriteEmpty); reason(err) != "duplicate" {
		t.Errorf("WRITE_EMPTY onto data: %v, want reason duplicate", err)
	}
	// An empty WRITE_TRUNCATE result empties the partition.
	if err := run(t, c, "SELECT nothing", "daily$20240102", bigquery.WriteTruncate); err != nil {
		t.Fatal(err)
	}
	want = map[string]int64{"20240101": 1, "__NULL__": 1}
	if got := s.PartitionRows(daily); !reflect.DeepEqual(got, want) {
		t.Errorf("partitions = %v, want %v", got, want)
	}
	// CREATE_NEVER into a missing table fails notFound.
	if err := run(t, c, "rows", "missing$20240101", bigquery.WriteTruncate); reason(err) != "notFound" {
		t.Errorf("write into a missing table: %v, want reason notFound", err)
	}
	if n := len(s.Jobs()); n != 5 {
		t.Errorf("%d stored jobs, want 5", n)
	}
}

func TestDecoratedTableCalls(t *testing.T) {
	s, c := setup(t)
	ctx := context.Background()
	if err := s.SetPartitionRows(daily, "20240101", 3); err != nil {
		t.Fatal(err)
	}
	if err := s.SetPartitionRows(daily, "20240102", 4); err != nil {
		t.Fatal(err)
	}
	md, err := c.Dataset("d").Table("daily$20240101").Metadata(ctx)
	if err != nil || md.NumRows != 3 {
		t.Errorf("partition metadata: %v rows, %v", md, err)
	}
	if err := c.Dataset("d").Table("daily$20240101").Delete(ctx); err != nil {
		t.Fatal(err)
	}
	if got := s.PartitionRows(daily); !reflect.DeepEqual(got, map[string]int64{"20240102": 4}) {
		t.Errorf("after deleting a partition: %v", got)
	}
}

func TestExpiration(t *testing.T) {
	s, c := setup(t)
	now := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	s.SetClock(func() time.Time { return now })
	ctx := context.Background()
	if _, err := c.Dataset("d").Table("daily").Update(ctx, bigquery.TableMetadataToUpdate{ExpirationTime: now.Add(time.Hour)}, ""); err != nil {
		t.Fatal(err)
	}
	if s.Table(daily) == nil {
		t.Fatal("table gone before it expired")
	}
	now = now.Add(2 * time.Hour)
	if s.Table(daily) != nil {
		t.Error("table still there after it expired")
	}
	if _, err := c.Dataset("d").Table("daily").Metadata(ctx); reason(err) != "notFound" {
		t.Errorf("tables.get of an expired table: %v", err)
	}
}

func TestFaults(t *testing.T) {
	s, c := setup(t)
	ctx := context.Background()
	s.InjectFault(bqfake.Fault{Op: "tables.get", Resource: "tables/other", Status: 403, Reason: "accessDenied"})
	s.InjectFault(bqfake.Fault{Op: "tables.get", Status: 400, Reason: "invalid", Times: 1})
	if _, err := c.Dataset("d").Table("daily").Metadata(ctx); reason(err) != "invalid" {
		t.Errorf("first call: %v, want the one-shot fault", err)
	}
	if _, err := c.Dataset("d").Table("daily").Metadata(ctx); err != nil {
		t.Errorf("second call: %v, want success (fault used up, resource fault does not match)", err)
	}
	if _, err := c.Dataset("d").Table("other").Metadata(ctx); reason(err) != "accessDenied" {
		t.Errorf("call on the faulty resource: %v", err)
	}
	s.ClearFaults()
	if _, err := c.Dataset("d").Table("other").Metadata(ctx); reason(err) != "notFound" {
		t.Errorf("after ClearFaults: %v, want notFound", err)
	}
}

// A failed query job reports DONE with errorResult on jobs.get and
// answers getQueryResults with the error, as BigQuery does.
func TestFailedQueryJob(t *testing.T) {
	s, c := setup(t)
	ctx := context.Background()
	s.FailJobs(bqfake.JobFault{Type: "QUERY", Reason: "invalidQuery", Message: "Syntax error", Times: 1})
	q := c.Query("SELECT 1")
	q.JobID = "j1"
	j, err := q.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	st, err := j.Status(ctx)
	if err != nil || !st.Done() || reason(st.Err()) != "invalidQuery" {
		t.Errorf("status = %+v, %v", st, err)
	}
	if _, err := j.Read(ctx); reason(err) != "invalidQuery" {
		t.Errorf("reading a failed job: %v", err)
	}
	if got := s.Job("p", "j1"); got == nil || got.Status.ErrorResult == nil {
		t.Errorf("stored job = %+v", got)
	}
	// The fault was used once: the same query now succeeds.
	q.JobID = "j2"
	if j, err = q.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if st, err := j.Wait(ctx); err != nil || st.Err() != nil {
		t.Errorf("second job: %v, %v", st, err)
	}
}

// getQueryResults pages with maxResults and pageToken.
func TestPaging(t *testing.T) {
	_, c := setup(t)
	ctx := context.Background()
	q := c.Query("rows")
	q.JobID = "paged"
	j, err := q.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	it, err := j.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	it.PageInfo().MaxSize = 3
	var ns []int64
	for {
		var row []bigquery.Value
		err := it.Next(&row)
		if errors.Is(err, iterator.Done) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		ns = append(ns, row[1].(int64))
	}
	if !reflect.DeepEqual(ns, []int64{1, 2, 3, 4}) {
		t.Errorf("rows = %v", ns)
	}
}

func TestPartitionsViewNeedsTableName(t *testing.T) {
	_, c := setup(t)
	q := c.Query("SELECT * FROM `p.d.INFORMATION_SCHEMA.PARTITIONS`")
	_, err := q.Read(context.Background())
	if reason(err) != "invalidQuery" {
		t.Errorf("query without @table_name: %v, want invalidQuery", err)
	}
}

func TestIAMEtag(t *testing.T) {
	s, c := setup(t)
	ctx := context.Background()
	h := c.Dataset("d").Table("daily").IAM()
	p, err := h.Policy(ctx)
	if err != nil {
		t.Fatal(err)
	}
	p.Add("user:a@example.com", "roles/bigquery.dataViewer")
	if err := h.SetPolicy(ctx, p); err != nil {
		t.Fatalf("SetPolicy with the current etag: %v", err)
	}
	if err := h.SetPolicy(ctx, p); reason(err) != "aborted" {
		t.Errorf("SetPolicy with a stale etag: %v, want aborted", err)
	}
	if got := s.TableIAM(daily); len(got.Bindings) != 1 || got.Bindings[0].Members[0] != "user:a@example.com" {
		t.Errorf("policy = %+v", got)
	}
}

// datasets.patch honours If-Match and replaces the access list, as the
// client's read-modify-write of dataset access does.
func TestDatasetPatch(t *testing.T) {
	s, c := setup(t)
	ctx := context.Background()
	ds := c.Dataset("d")
	md, err := ds.Metadata(ctx)
	if err != nil {
		t.Fatal(err)
	}
	access := append(md.Access, &bigquery.AccessEntry{Role: bigquery.ReaderRole, EntityType: bigquery.GroupEmailEntity, Entity: "g@example.com"})
	if _, err := ds.Update(ctx, bigquery.DatasetMetadataToUpdate{Access: access}, md.ETag); err != nil {
		t.Fatalf("Update with the current etag: %v", err)
	}
	if _, err := ds.Update(ctx, bigquery.DatasetMetadataToUpdate{Access: access}, md.ETag); reason(err) != "failedPrecondition" {
		t.Errorf("Update with a stale etag: %v, want failedPrecondition", err)
	}
	got := s.Dataset("p", "d")
	if len(got.Access) != 1 || got.Access[0].GroupByEmail != "g@example.com" || got.Access[0].Role != "READER" {
		t.Errorf("access = %+v", got.Access)
	}
	reqs := s.RequestsFor("datasets.patch")
	if len(reqs) != 2 || reqs[0].Header.Get("If-Match") != md.ETag {
		t.Errorf("patch requests: %d, If-Match %q", len(reqs), reqs[0].Header.Get("If-Match"))
	}
}
