package warehousetest

import (
	"fmt"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bqbackfill/bqbackfill/shared/warehouse"
)

// cases lists every conformance case. Names are stable: implementations
// may refer to them in -run filters.
func cases() []testCase {
	return append([]testCase{
		{name: "EnsureDatasetIsIdempotent", run: testEnsureDataset},
		{name: "CreateTableMetadataRoundTrip", run: testCreateTableRoundTrip},
		{name: "CreateTableExistingOrMissingDataset", run: testCreateTableErrors},
		{name: "CreateTableLike", run: testCreateTableLike},
		{name: "PartitionReplacement", needs: realData, run: testPartitionReplacement},
		{name: "PartitionRejectsRowsOutside", needs: realData, run: testRowsOutsidePartition},
		{name: "PartitionIDMustMatchTable", needs: realData, run: testPartitionIDMismatch},
		{name: "MonthPartitions", needs: realData, run: testMonthPartitions},
		{name: "WholeTableTruncate", needs: realData, run: testWholeTableTruncate},
		{name: "Append", needs: realData, run: testAppend},
		{name: "WriteEmpty", needs: realData, run: testWriteEmpty},
		{name: "QueryIntoMissingPartitionedTable", run: testQueryIntoMissing},
		{name: "CopyPartition", needs: realData, run: testCopyPartition},
		{name: "CopyWholeTable", needs: realData, run: testCopyWholeTable},
		{name: "CopyIncompatibleSchema", needs: realData, run: testCopyIncompatible},
		{name: "CopyFromMissing", run: testCopyFromMissing},
		{name: "BackupWithExpiration", needs: realData, run: testBackup},
		{name: "BackupExpires", needs: realData, run: testBackupExpires},
		{name: "TableIAM", run: testTableIAM},
		{name: "DatasetAccess", run: testDatasetAccess},
		{name: "DryRun", needs: realData, run: testDryRun},
		{name: "DryRunBytes", needs: func(c Capabilities) bool { return c.RealData && c.DryRunBytes }, run: testDryRunBytes},
		{name: "NotFound", run: testNotFound},
		{name: "Partitions", needs: realData, run: testPartitions},
		{name: "ReadWithParams", needs: realData, run: testReadWithParams},
		{name: "Delete", run: testDelete},
		{name: "DeletePartitions", run: testDeletePartitions},
		{name: "CopyFromEmptyPartition", run: testCopyFromEmptyPartition},
		{name: "ConcurrentPartitionWrites", needs: realData, run: testConcurrentWrites},
		{name: "BadSQL", run: testBadSQL},
	}, checkCases()...)
}

func testEnsureDataset(t *testing.T, f *fixture) {
	for i := 0; i < 2; i++ {
		if err := f.w.EnsureDataset(f.ctx, f.project, f.dataset, 0); err != nil {
			t.Fatalf("EnsureDataset on an existing dataset (call %d): %v", i+1, err)
		}
	}
	if err := f.w.EnsureDataset(f.ctx, f.project, "second", 24*time.Hour); err != nil {
		t.Fatalf("EnsureDataset(second): %v", err)
	}
	if _, err := f.w.DatasetAccess(f.ctx, f.project, "second"); err != nil {
		t.Errorf("DatasetAccess on a dataset EnsureDataset created: %v", err)
	}
	// A table created in a dataset with a default expiration inherits it.
	ref := warehouse.TableRef{Project: f.project, Dataset: "second", Table: "t"}
	if err := f.w.CreateTable(f.ctx, warehouse.TableMetadata{Ref: ref, Schema: dailySchema}); err != nil {
		t.Fatalf("CreateTable(%s): %v", ref, err)
	}
	md, err := f.w.Table(f.ctx, ref)
	if err != nil {
		t.Fatalf("Table(%s): %v", ref, err)
	}
	if md.Expiration.IsZero() || md.Expiration.Sub(md.Created) < 23*time.Hour || md.Expiration.Sub(md.Created) > 25*time.Hour {
		t.Errorf("table in a dataset with a 24h default expiration: created %v, expiration %v", md.Created, md.Expiration)
	}
}

// normalizeSchema maps types to their canonical names and "" modes to
// NULLABLE, so schemas from different implementations compare equal.
func normalizeSchema(s warehouse.Schema) warehouse.Schema {
	out := make(warehouse.Schema, len(s))
	for i, f := range s {
		f.Type = warehouse.CanonicalType(f.Type)
		if f.Mode == "" {
			f.Mode = "NULLABLE"
		}
		f.Fields = normalizeSchema(f.Fields)
		if len(f.Fields) == 0 {
			f.Fields = nil
		}
		out[i] = f
	}
	return out
}

func sameSchema(t *testing.T, what string, got, want warehouse.Schema) {
	t.Helper()
	if g, w := normalizeSchema(got), normalizeSchema(want); !reflect.DeepEqual(g, w) {
		t.Errorf("%s schema:\n got %+v\nwant %+v", what, g, w)
	}
}

func testCreateTableRoundTrip(t *testing.T, f *fixture) {
	exp := time.Now().Add(48 * time.Hour).Truncate(time.Millisecond).UTC()
	want := warehouse.TableMetadata{
		Ref: f.ref("round_trip"),
		Schema: warehouse.Schema{
			{Name: "submission_date", Type: "DATE", Mode: "REQUIRED", Description: "partition day"},
			{Name: "client_id", Type: "STRING", Description: "who"},
			{Name: "count", Type: "INT64"},
			{Name: "ratio", Type: "FLOAT64"},
			{Name: "amount", Type: "NUMERIC"},
			{Name: "active", Type: "BOOL"},
			{Name: "seen_at", Type: "TIMESTAMP"},
			{Name: "local_at", Type: "DATETIME"},
			{Name: "tags", Type: "STRING", Mode: "REPEATED"},
			{Name: "payload", Type: "RECORD", Fields: []warehouse.Field{
				{Name: "a", Type: "INT64"},
				{Name: "b", Type: "RECORD", Mode: "REPEATED", Fields: []warehouse.Field{{Name: "c", Type: "DATE"}}},
			}},
		},
		PartitionType:          warehouse.Day,
		PartitionField:         "submission_date",
		PartitionExpiration:    90 * 24 * time.Hour,
		RequirePartitionFilter: true,
		Clustering:             []string{"client_id", "count"},
		Labels:                 map[string]string{"owner": "conformance", "tier": "gold"},
		Expiration:             exp,
		Description:            "round trip",
		FriendlyName:           "Round Trip",
	}
	before := time.Now().Add(-time.Minute)
	if err := f.w.CreateTable(f.ctx, want); err != nil {
		t.Fatalf("CreateTable: %v", err)
	}
	got, err := f.w.Table(f.ctx, want.Ref)
	if err != nil {
		t.Fatalf("Table: %v", err)
	}
	if got.Ref != want.Ref {
		t.Errorf("Ref = %v, want %v", got.Ref, want.Ref)
	}
	sameSchema(t, "round trip", got.Schema, want.Schema)
	if got.PartitionType != want.PartitionType || got.PartitionField != want.PartitionField ||
		got.PartitionExpiration != want.PartitionExpiration || got.RequirePartitionFilter != want.RequirePartitionFilter {
		t.Errorf("partitioning = %s %q %v %v, want %s %q %v %v", got.PartitionType, got.PartitionField, got.PartitionExpiration,
			got.RequirePartitionFilter, want.PartitionType, want.PartitionField, want.PartitionExpiration, want.RequirePartitionFilter)
	}
	if !reflect.DeepEqual(got.Clustering, want.Clustering) {
		t.Errorf("Clustering = %q, want %q", got.Clustering, want.Clustering)
	}
	if !reflect.DeepEqual(got.Labels, want.Labels) {
		t.Errorf("Labels = %v, want %v", got.Labels, want.Labels)
	}
	if !got.Expiration.Equal(want.Expiration) {
		t.Errorf("Expiration = %v, want %v", got.Expiration, want.Expiration)
	}
	if got.Description != want.Description || got.FriendlyName != want.FriendlyName {
		t.Errorf("Description, FriendlyName = %q, %q; want %q, %q", got.Description, got.FriendlyName, want.Description, want.FriendlyName)
	}
	if got.NumRows != 0 {
		t.Errorf("NumRows = %d, want 0", got.NumRows)
	}
	if got.Created.Before(before) || got.Modified.Before(before) {
		t.Errorf("Created, Modified = %v, %v; want about now", got.Created, got.Modified)
	}
	// An unpartitioned table without options round-trips too.
	plain := f.createPlain("plain", warehouse.Schema{{Name: "x", Type: "STRING"}, {Name: "a", Type: "INT64"}})
	md, err := f.w.Table(f.ctx, plain)
	if err != nil {
		t.Fatalf("Table(%s): %v", plain, err)
	}
	if md.PartitionType != warehouse.Unpartitioned || md.PartitionField != "" || len(md.Clustering) != 0 || !md.Expiration.IsZero() {
		t.Errorf("plain table metadata: %+v", md)
	}
	sameSchema(t, "plain", md.Schema, warehouse.Schema{{Name: "x", Type: "STRING"}, {Name: "a", Type: "INT64"}})
}

func testCreateTableErrors(t *testing.T, f *fixture) {
	ref := f.createDaily("exists")
	err := f.w.CreateTable(f.ctx, warehouse.TableMetadata{Ref: ref, Schema: dailySchema})
	wantCode(t, "CreateTable on an existing table", err, warehouse.AlreadyExists)
	err = f.w.CreateTable(f.ctx, warehouse.TableMetadata{Ref: warehouse.TableRef{Project: f.project, Dataset: "no_such_dataset", Table: "t"}, Schema: dailySchema})
	wantCode(t, "CreateTable in a missing dataset", err, warehouse.NotFound)
	// The failed create changed nothing.
	md, err := f.w.Table(f.ctx, ref)
	if err != nil {
		t.Fatalf("Table: %v", err)
	}
	if md.PartitionField != "submission_date" || !reflect.DeepEqual(md.Labels, map[string]string{"owner": "conformance"}) {
		t.Errorf("existing table changed: %+v", md)
	}
}

func testCreateTableLike(t *testing.T, f *fixture) {
	src := f.createDaily("like_src")
	if err := f.w.SetTableIAM(f.ctx, src, warehouse.Policy{Bindings: []warehouse.Binding{{Role: "roles/bigquery.dataViewer", Members: []string{"user:a@example.com"}}}}); err != nil {
		t.Fatalf("SetTableIAM: %v", err)
	}
	dst := f.ref("like_dst")
	exp := time.Now().Add(30 * 24 * time.Hour).Truncate(time.Millisecond).UTC()
	err := f.w.CreateTableLike(f.ctx, src, dst, warehouse.CreateLikeOptions{Expiration: exp, Labels: map[string]string{"backfill": "yes"}})
	if err != nil {
		t.Fatalf("CreateTableLike: %v", err)
	}
	md, err := f.w.Table(f.ctx, dst)
	if err != nil {
		t.Fatalf("Table(%s): %v", dst, err)
	}
	sameSchema(t, "like", md.Schema, dailySchema)
	if md.PartitionType != warehouse.Day || md.PartitionField != "submission_date" || !reflect.DeepEqual(md.Clustering, []string{"client"}) {
		t.Errorf("partitioning/clustering = %s %q %q", md.PartitionType, md.PartitionField, md.Clustering)
	}
	if want := map[string]string{"owner": "conformance", "backfill": "yes"}; !reflect.DeepEqual(md.Labels, want) {
		t.Errorf("Labels = %v, want %v", md.Labels, want)
	}
	if !md.Expiration.Equal(exp) {
		t.Errorf("Expiration = %v, want %v", md.Expiration, exp)
	}
	wantCode(t, "CreateTableLike onto an existing table", f.w.CreateTableLike(f.ctx, src, dst, warehouse.CreateLikeOptions{}), warehouse.AlreadyExists)
	wantCode(t, "CreateTableLike from a missing table", f.w.CreateTableLike(f.ctx, f.ref("missing"), f.ref("x"), warehouse.CreateLikeOptions{}), warehouse.NotFound)
	if _, err := f.w.Table(f.ctx, f.ref("x")); warehouse.Code(err) != warehouse.NotFound {
		t.Errorf("failed CreateTableLike left a table behind: %v", err)
	}
}

// partitionJob writes rows into ref$partition with the given disposition.
func partitionJob(ref warehouse.TableRef, partition string, write warehouse.WriteDisposition, rows ...row) warehouse.QueryJob {
	return warehouse.QueryJob{SQL: selectRows(rows), Destination: &ref, Partition: partition, Write: write}
}

var threeDays = []row{
	{"2024-01-01", "a", 1}, {"2024-01-01", "b", 2},
	{"2024-01-02", "a", 3}, {"2024-01-02", "b", 4},
	{"2024-01-03", "a", 5}, {"2024-01-03", "b", 6},
}

func testPartitionReplacement(t *testing.T, f *fixture) {
	ref := f.createDaily("daily")
	f.seed(ref, threeDays...)
	// The query reads the table it writes: it must see the partition as it
	// was before the job.
	job := warehouse.QueryJob{
		SQL: "SELECT submission_date, CONCAT(client, '2') AS client, n * 10 AS n FROM `" + ref.String() + "` WHERE submission_date = @day " +
			"UNION ALL SELECT @day AS submission_date, 'c' AS client, 70 AS n",
		Params:      []warehouse.Param{{Name: "day", Type: "DATE", Value: "2024-01-02"}},
		Destination: &ref, Partition: "20240102", Write: warehouse.WriteTruncate,
	}
	want := []row{
		{"2024-01-01", "a", 1}, {"2024-01-01", "b", 2},
		{"2024-01-02", "a2", 30}, {"2024-01-02", "b2", 40}, {"2024-01-02", "c", 70},
		{"2024-01-03", "a", 5}, {"2024-01-03", "b", 6},
	}
	res, err := f.w.Query(f.ctx, job)
	if err != nil {
		t.Fatalf("Query into %s$20240102: %v", ref, err)
	}
	if res.RowsWritten != 3 {
		t.Errorf("RowsWritten = %d, want 3", res.RowsWritten)
	}
	if res.JobID == "" {
		t.Error("JobID is empty")
	}
	if got := f.rows(ref); !reflect.DeepEqual(got, want) {
		t.Errorf("after one write:\n got %v\nwant %v", got, want)
	}
	// Idempotence: the same job with fixed rows leaves the same data.
	fixed := partitionJob(ref, "20240102", warehouse.WriteTruncate, row{"2024-01-02", "z", 9})
	for i := 0; i < 2; i++ {
		if _, err := f.w.Query(f.ctx, fixed); err != nil {
			t.Fatalf("rewrite %d: %v", i+1, err)
		}
	}
	want = []row{
		{"2024-01-01", "a", 1}, {"2024-01-01", "b", 2},
		{"2024-01-02", "z", 9},
		{"2024-01-03", "a", 5}, {"2024-01-03", "b", 6},
	}
	if got := f.rows(ref); !reflect.DeepEqual(got, want) {
		t.Errorf("after rewriting twice:\n got %v\nwant %v", got, want)
	}
	if got, want := f.partitions(ref), map[string]int64{"20240101": 2, "20240102": 1, "20240103": 2}; !reflect.DeepEqual(got, want) {
		t.Errorf("Partitions = %v, want %v", got, want)
	}
	// Writing an empty result truncates the partition.
	empty := warehouse.QueryJob{SQL: "SELECT * FROM `" + ref.String() + "` WHERE FALSE", Destination: &ref, Partition: "20240103"}
	if res, err := f.w.Query(f.ctx, empty); err != nil || res.RowsWritten != 0 {
		t.Fatalf("empty result into %s$20240103: rows %d, %v", ref, res.RowsWritten, err)
	}
	if got, want := f.partitions(ref), map[string]int64{"20240101": 2, "20240102": 1}; !reflect.DeepEqual(got, want) {
		t.Errorf("Partitions after an empty write = %v, want %v", got, want)
	}
}

func testRowsOutsidePartition(t *testing.T, f *fixture) {
	ref := f.createDaily("daily")
	f.seed(ref, threeDays...)
	before := f.rows(ref)
	for _, write := range []warehouse.WriteDisposition{warehouse.WriteTruncate, warehouse.WriteAppend} {
		_, err := f.w.Query(f.ctx, partitionJob(ref, "20240102", write, row{"2024-01-02", "ok", 1}, row{"2024-01-03", "outside", 2}))
		wantCode(t, fmt.Sprintf("%s with a row outside the partition", write), err, warehouse.InvalidArgument)
	}
	if got := f.rows(ref); !reflect.DeepEqual(got, before) {
		t.Errorf("a rejected write changed the table:\n got %v\nwant %v", got, before)
	}
}

func testPartitionIDMismatch(t *testing.T, f *fixture) {
	daily := f.createDaily("daily")
	plain := f.createPlain("plain", dailySchema)
	_, err := f.w.Query(f.ctx, partitionJob(daily, "202401", warehouse.WriteTruncate, row{"2024-01-02", "a", 1}))
	wantCode(t, "month decorator on a day-partitioned table", err, warehouse.InvalidArgument)
	_, err = f.w.Query(f.ctx, partitionJob(plain, "20240102", warehouse.WriteTruncate, row{"2024-01-02", "a", 1}))
	wantCode(t, "partition decorator on an unpartitioned table", err, warehouse.InvalidArgument)
	_, err = f.w.Query(f.ctx, partitionJob(daily, "2024010", warehouse.WriteTruncate, row{"2024-01-02", "a", 1}))
	wantCode(t, "malformed partition decorator", err, warehouse.InvalidArgument)
	if got := f.partitions(daily); len(got) != 0 {
		t.Errorf("rejected writes left partitions %v", got)
	}
}

func testMonthPartitions(t *testing.T, f *fixture) {
	ref := f.createMonthly("monthly")
	f.seed(ref, row{"2024-01-05", "a", 1}, row{"2024-02-01", "b", 2}, row{"2024-02-29", "c", 3})
	if got, want := f.partitions(ref), map[string]int64{"202401": 1, "202402": 2}; !reflect.DeepEqual(got, want) {
		t.Errorf("Partitions = %v, want %v", got, want)
	}
	res, err := f.w.Query(f.ctx, partitionJob(ref, "202401", warehouse.WriteTruncate, row{"2024-01-01", "x", 10}, row{"2024-01-31", "y", 20}))
	if err != nil {
		t.Fatalf("Query into %s$202401: %v", ref, err)
	}
	if res.RowsWritten != 2 {
		t.Errorf("RowsWritten = %d, want 2", res.RowsWritten)
	}
	want := []row{{"2024-01-01", "x", 10}, {"2024-01-31", "y", 20}, {"2024-02-01", "b", 2}, {"2024-02-29", "c", 3}}
	if got := f.rows(ref); !reflect.DeepEqual(got, want) {
		t.Errorf("rows:\n got %v\nwant %v", got, want)
	}
	_, err = f.w.Query(f.ctx, partitionJob(ref, "202401", warehouse.WriteTruncate, row{"2024-02-01", "z", 1}))
	wantCode(t, "row outside the month", err, warehouse.InvalidArgument)
	_, err = f.w.Query(f.ctx, partitionJob(ref, "20240101", warehouse.WriteTruncate, row{"2024-01-01", "z", 1}))
	wantCode(t, "day decorator on a month-partitioned table", err, warehouse.InvalidArgument)
	if got := f.rows(ref); !reflect.DeepEqual(got, want) {
		t.Errorf("rejected writes changed rows:\n got %v\nwant %v", got, want)
	}
}

func testWholeTableTruncate(t *testing.T, f *fixture) {
	ref := f.createPlain("plain", dailySchema)
	f.seed(ref, threeDays...)
	res, err := f.w.Query(f.ctx, warehouse.QueryJob{SQL: selectRows([]row{{"2024-02-01", "only", 1}}), Destination: &ref, Write: warehouse.WriteTruncate})
	if err != nil {
		t.Fatalf("WRITE_TRUNCATE of %s: %v", ref, err)
	}
	if res.RowsWritten != 1 {
		t.Errorf("RowsWritten = %d, want 1", res.RowsWritten)
	}
	if got, want := f.rows(ref), []row{{"2024-02-01", "only", 1}}; !reflect.DeepEqual(got, want) {
		t.Errorf("rows = %v, want %v", got, want)
	}
	md, err := f.w.Table(f.ctx, ref)
	if err != nil {
		t.Fatalf("Table: %v", err)
	}
	if md.Description != "plain table" || md.NumRows != 1 {
		t.Errorf("truncate changed metadata or NumRows: description %q, rows %d", md.Description, md.NumRows)
	}
	// The default disposition with a destination is WRITE_TRUNCATE.
	if _, err := f.w.Query(f.ctx, warehouse.QueryJob{SQL: selectRows([]row{{"2024-03-01", "d", 2}}), Destination: &ref}); err != nil {
		t.Fatalf("Query with the default disposition: %v", err)
	}
	if got, want := f.rows(ref), []row{{"2024-03-01", "d", 2}}; !reflect.DeepEqual(got, want) {
		t.Errorf("after a default-disposition write: rows = %v, want %v", got, want)
	}
	// A partitioned table truncated without a decorator loses every partition.
	daily := f.createDaily("daily")
	f.seed(daily, threeDays...)
	if _, err := f.w.Query(f.ctx, warehouse.QueryJob{SQL: selectRows([]row{{"2024-05-05", "e", 5}}), Destination: &daily}); err != nil {
		t.Fatalf("whole-table truncate of %s: %v", daily, err)
	}
	if got, want := f.partitions(daily), map[string]int64{"20240505": 1}; !reflect.DeepEqual(got, want) {
		t.Errorf("Partitions = %v, want %v", got, want)
	}
}

func testAppend(t *testing.T, f *fixture) {
	ref := f.createDaily("daily")
	f.seed(ref, threeDays[:2]...)
	res, err := f.w.Query(f.ctx, partitionJob(ref, "20240101", warehouse.WriteAppend, row{"2024-01-01", "c", 7}))
	if err != nil {
		t.Fatalf("append to a partition: %v", err)
	}
	if res.RowsWritten != 3 {
		t.Errorf("RowsWritten = %d, want 3 (rows in the partition afterwards)", res.RowsWritten)
	}
	f.seed(ref, threeDays[:2]...)
	if got, want := f.partitions(ref), map[string]int64{"20240101": 5}; !reflect.DeepEqual(got, want) {
		t.Errorf("Partitions = %v, want %v", got, want)
	}
}

func testWriteEmpty(t *testing.T, f *fixture) {
	ref := f.createDaily("daily")
	if _, err := f.w.Query(f.ctx, partitionJob(ref, "20240101", warehouse.WriteEmpty, row{"2024-01-01", "a", 1})); err != nil {
		t.Fatalf("WRITE_EMPTY into an empty partition: %v", err)
	}
	if _, err := f.w.Query(f.ctx, partitionJob(ref, "20240102", warehouse.WriteEmpty, row{"2024-01-02", "b", 2})); err != nil {
		t.Fatalf("WRITE_EMPTY into another empty partition: %v", err)
	}
	_, err := f.w.Query(f.ctx, partitionJob(ref, "20240101", warehouse.WriteEmpty, row{"2024-01-01", "c", 3}))
	wantCode(t, "WRITE_EMPTY into a non-empty partition", err, warehouse.AlreadyExists)
	_, err = f.w.Query(f.ctx, warehouse.QueryJob{SQL: selectRows([]row{{"2024-01-05", "d", 4}}), Destination: &ref, Write: warehouse.WriteEmpty})
	wantCode(t, "WRITE_EMPTY into a non-empty table", err, warehouse.AlreadyExists)
	if got, want := f.rows(ref), []row{{"2024-01-01", "a", 1}, {"2024-01-02", "b", 2}}; !reflect.DeepEqual(got, want) {
		t.Errorf("rows = %v, want %v", got, want)
	}
}

func testQueryIntoMissing(t *testing.T, f *fixture) {
	ref := f.ref("missing")
	_, err := f.w.Query(f.ctx, partitionJob(ref, "20240101", warehouse.WriteTruncate, row{"2024-01-01", "a", 1}))
	wantCode(t, "query into a partition of a missing table", err, warehouse.NotFound)
	if _, err := f.w.Table(f.ctx, ref); warehouse.Code(err) != warehouse.NotFound {
		t.Errorf("a failed query created %s: %v", ref, err)
	}
}

func testCopyPartition(t *testing.T, f *fixture) {
	src := f.createDaily("staging")
	dst := f.createDaily("prod")
	f.seed(src, row{"2024-01-02", "new", 100}, row{"2024-01-02", "new2", 200}, row{"2024-01-03", "other", 300})
	f.seed(dst, threeDays...)
	job := warehouse.CopyJob{Source: src, SourcePartition: "20240102", Dest: dst, DestPartition: "20240102", Write: warehouse.WriteTruncate}
	for i := 0; i < 2; i++ {
		res, err := f.w.Copy(f.ctx, job)
		if err != nil {
			t.Fatalf("Copy %s$20240102 -> %s$20240102 (run %d): %v", src, dst, i+1, err)
		}
		if res.RowsWritten != 2 {
			t.Errorf("RowsWritten = %d, want 2", res.RowsWritten)
		}
	}
	want := []row{
		{"2024-01-01", "a", 1}, {"2024-01-01", "b", 2},
		{"2024-01-02", "new", 100}, {"2024-01-02", "new2", 200},
		{"2024-01-03", "a", 5}, {"2024-01-03", "b", 6},
	}
	if got := f.rows(dst); !reflect.DeepEqual(got, want) {
		t.Errorf("destination after copying one partition:\n got %v\nwant %v", got, want)
	}
	// Copying a partition into a different day's partition puts rows outside it.
	_, err := f.w.Copy(f.ctx, warehouse.CopyJob{Source: src, SourcePartition: "20240102", Dest: dst, DestPartition: "20240101", Write: warehouse.WriteTruncate})
	wantCode(t, "copy into a partition its rows do not belong to", err, warehouse.InvalidArgument)
	if got := f.rows(dst); !reflect.DeepEqual(got, want) {
		t.Errorf("rejected copy changed the destination:\n got %v\nwant %v", got, want)
	}
}

func testCopyWholeTable(t *testing.T, f *fixture) {
	src := f.createDaily("src")
	f.seed(src, threeDays...)
	fresh := f.ref("fresh_copy")
	res, err := f.w.Copy(f.ctx, warehouse.CopyJob{Source: src, Dest: fresh, Write: warehouse.WriteTruncate})
	if err != nil {
		t.Fatalf("Copy to a new table: %v", err)
	}
	if res.RowsWritten != int64(len(threeDays)) {
		t.Errorf("RowsWritten = %d, want %d", res.RowsWritten, len(threeDays))
	}
	md, err := f.w.Table(f.ctx, fresh)
	if err != nil {
		t.Fatalf("Table(%s): %v", fresh, err)
	}
	sameSchema(t, "copy", md.Schema, dailySchema)
	if md.PartitionType != warehouse.Day || md.PartitionField != "submission_date" {
		t.Errorf("copy partitioning = %s %q, want DAY submission_date", md.PartitionType, md.PartitionField)
	}
	if got := f.rows(fresh); !reflect.DeepEqual(got, f.rows(src)) {
		t.Errorf("copy rows = %v, want %v", got, f.rows(src))
	}
	// Onto an existing compatible table with WRITE_TRUNCATE: replaced.
	existing := f.createDaily("existing")
	f.seed(existing, row{"2023-12-31", "old", 0})
	if _, err := f.w.Copy(f.ctx, warehouse.CopyJob{Source: src, Dest: existing, Write: warehouse.WriteTruncate}); err != nil {
		t.Fatalf("Copy onto an existing table: %v", err)
	}
	if got := f.rows(existing); !reflect.DeepEqual(got, f.rows(src)) {
		t.Errorf("truncating copy rows = %v, want %v", got, f.rows(src))
	}
	// WRITE_EMPTY onto a non-empty table fails and changes nothing.
	_, err = f.w.Copy(f.ctx, warehouse.CopyJob{Source: src, Dest: existing, Write: warehouse.WriteEmpty})
	wantCode(t, "WRITE_EMPTY copy onto a non-empty table", err, warehouse.AlreadyExists)
	// WRITE_APPEND adds.
	if _, err := f.w.Copy(f.ctx, warehouse.CopyJob{Source: src, Dest: existing, Write: warehouse.WriteAppend}); err != nil {
		t.Fatalf("appending copy: %v", err)
	}
	if got := f.partitions(existing); !reflect.DeepEqual(got, map[string]int64{"20240101": 4, "20240102": 4, "20240103": 4}) {
		t.Errorf("Partitions after an appending copy = %v", got)
	}
}

func testCopyIncompatible(t *testing.T, f *fixture) {
	src := f.createDaily("src")
	f.seed(src, threeDays...)
	reordered := f.ref("reordered")
	schema := warehouse.Schema{dailySchema[0], dailySchema[2], dailySchema[1]}
	if err := f.w.CreateTable(f.ctx, warehouse.TableMetadata{Ref: reordered, Schema: schema, PartitionType: warehouse.Day, PartitionField: "submission_date"}); err != nil {
		t.Fatalf("CreateTable: %v", err)
	}
	retyped := f.ref("retyped")
	schema = warehouse.Schema{dailySchema[0], dailySchema[1], {Name: "n", Type: "FLOAT64"}}
	if err := f.w.CreateTable(f.ctx, warehouse.TableMetadata{Ref: retyped, Schema: schema, PartitionType: warehouse.Day, PartitionField: "submission_date"}); err != nil {
		t.Fatalf("CreateTable: %v", err)
	}
	renamed := f.ref("renamed")
	schema = warehouse.Schema{dailySchema[0], dailySchema[1], {Name: "m", Type: "INT64"}}
	if err := f.w.CreateTable(f.ctx, warehouse.TableMetadata{Ref: renamed, Schema: schema, PartitionType: warehouse.Day, PartitionField: "submission_date"}); err != nil {
		t.Fatalf("CreateTable: %v", err)
	}
	for _, dst := range []warehouse.TableRef{reordered, retyped, renamed} {
		seed := warehouse.QueryJob{SQL: "SELECT DATE '2024-01-02' AS submission_date, 'keep' AS client, 1 AS " + lastColumn(dst, renamed),
			Destination: &dst, Write: warehouse.WriteAppend}
		if _, err := f.w.Query(f.ctx, seed); err != nil {
			t.Fatalf("seed %s: %v", dst, err)
		}
		_, err := f.w.Copy(f.ctx, warehouse.CopyJob{Source: src, SourcePartition: "20240102", Dest: dst, DestPartition: "20240102", Write: warehouse.WriteTruncate})
		wantCode(t, "copy onto "+dst.Table, err, warehouse.FailedPrecondition)
		if got, want := f.partitions(dst), map[string]int64{"20240102": 1}; !reflect.DeepEqual(got, want) {
			t.Errorf("%s after a refused copy: partitions %v, want %v", dst, got, want)
		}
	}
}

// lastColumn is the name of the integer column of the copy targets.
func lastColumn(dst, renamed warehouse.TableRef) string {
	if dst == renamed {
		return "m"
	}
	return "n"
}

func testCopyFromMissing(t *testing.T, f *fixture) {
	dst := f.createDaily("dst")
	_, err := f.w.Copy(f.ctx, warehouse.CopyJob{Source: f.ref("missing"), Dest: dst, Write: warehouse.WriteTruncate})
	wantCode(t, "copy from a missing table", err, warehouse.NotFound)
	_, err = f.w.Copy(f.ctx, warehouse.CopyJob{Source: f.ref("missing"), SourcePartition: "20240101", Dest: dst, DestPartition: "20240101", Write: warehouse.WriteTruncate})
	wantCode(t, "copy from a partition of a missing table", err, warehouse.NotFound)
	// A partition destination must exist.
	_, err = f.w.Copy(f.ctx, warehouse.CopyJob{Source: dst, SourcePartition: "20240101", Dest: f.ref("missing"), DestPartition: "20240101", Write: warehouse.WriteTruncate})
	wantCode(t, "copy into a partition of a missing table", err, warehouse.NotFound)
	if _, err := f.w.Table(f.ctx, f.ref("missing")); warehouse.Code(err) != warehouse.NotFound {
		t.Errorf("a failed copy created the destination: %v", err)
	}
}

func testBackup(t *testing.T, f *fixture) {
	src := f.createDaily("prod")
	f.seed(src, threeDays...)
	backup := f.ref("prod_backup_2024_01_01")
	exp := time.Now().Add(30 * 24 * time.Hour).Truncate(time.Millisecond).UTC()
	res, err := f.w.Backup(f.ctx, src, backup, exp, map[string]string{"backfill": "b1"})
	if err != nil {
		t.Fatalf("Backup: %v", err)
	}
	if res.RowsWritten != int64(len(threeDays)) {
		t.Errorf("RowsWritten = %d, want %d", res.RowsWritten, len(threeDays))
	}
	md, err := f.w.Table(f.ctx, backup)
	if err != nil {
		t.Fatalf("Table(%s): %v", backup, err)
	}
	sameSchema(t, "backup", md.Schema, dailySchema)
	if md.PartitionType != warehouse.Day || md.PartitionField != "submission_date" || !reflect.DeepEqual(md.Clustering, []string{"client"}) {
		t.Errorf("backup partitioning/clustering = %s %q %q", md.PartitionType, md.PartitionField, md.Clustering)
	}
	if !md.Expiration.Equal(exp) {
		t.Errorf("backup Expiration = %v, want %v", md.Expiration, exp)
	}
	if want := map[string]string{"owner": "conformance", "backfill": "b1"}; !reflect.DeepEqual(md.Labels, want) {
		t.Errorf("backup Labels = %v, want %v", md.Labels, want)
	}
	if got, want := f.rows(backup), f.rows(src); !reflect.DeepEqual(got, want) {
		t.Errorf("backup rows = %v, want %v", got, want)
	}
	if got, want := f.partitions(backup), f.partitions(src); !reflect.DeepEqual(got, want) {
		t.Errorf("backup partitions = %v, want %v", got, want)
	}
	_, err = f.w.Backup(f.ctx, src, backup, exp, nil)
	wantCode(t, "backup onto an existing table", err, warehouse.AlreadyExists)
	_, err = f.w.Backup(f.ctx, f.ref("missing"), f.ref("missing_backup"), exp, nil)
	wantCode(t, "backup of a missing table", err, warehouse.NotFound)
	// The backup is independent of its source.
	if _, err := f.w.Query(f.ctx, partitionJob(src, "20240101", warehouse.WriteTruncate)); err != nil {
		t.Fatalf("truncate a source partition: %v", err)
	}
	if got := f.partitions(backup); got["20240101"] != 2 {
		t.Errorf("backup changed with its source: %v", got)
	}
}

func testBackupExpires(t *testing.T, f *fixture) {
	clock, ok := f.h.(Clock)
	if !ok {
		t.Skip("harness cannot move the warehouse clock")
	}
	src := f.createDaily("prod")
	f.seed(src, threeDays...)
	backup := f.ref("prod_backup")
	if _, err := f.w.Backup(f.ctx, src, backup, time.Now().Add(time.Hour), nil); err != nil {
		t.Fatalf("Backup: %v", err)
	}
	keep := f.ref("prod_backup_long")
	if _, err := f.w.Backup(f.ctx, src, keep, time.Now().Add(72*time.Hour), nil); err != nil {
		t.Fatalf("Backup: %v", err)
	}
	clock.Advance(2 * time.Hour)
	_, err := f.w.Table(f.ctx, backup)
	wantCode(t, "Table of an expired backup", err, warehouse.NotFound)
	_, err = f.w.Read(f.ctx, warehouse.QueryJob{SQL: "SELECT COUNT(*) FROM `" + backup.String() + "`"})
	wantCode(t, "reading an expired backup", err, warehouse.NotFound)
	if _, err := f.w.Table(f.ctx, keep); err != nil {
		t.Errorf("a backup that has not expired is gone: %v", err)
	}
	if _, err := f.w.Table(f.ctx, src); err != nil {
		t.Errorf("the backup's source is gone: %v", err)
	}
	// The name can be used again.
	if _, err := f.w.Backup(f.ctx, src, backup, time.Time{}, nil); err != nil {
		t.Errorf("Backup onto the expired name: %v", err)
	}
}

func testTableIAM(t *testing.T, f *fixture) {
	ref := f.createDaily("t")
	p, err := f.w.TableIAM(f.ctx, ref)
	if err != nil {
		t.Fatalf("TableIAM: %v", err)
	}
	if len(p.Bindings) != 0 {
		t.Errorf("new table has bindings %v", p.Bindings)
	}
	want := []warehouse.Binding{
		{Role: "roles/bigquery.dataViewer", Members: []string{"group:readers@example.com", "user:a@example.com"}},
		{Role: "roles/bigquery.dataEditor", Members: []string{"serviceAccount:etl@p.iam.gserviceaccount.com"}},
	}
	if err := f.w.SetTableIAM(f.ctx, ref, warehouse.Policy{Bindings: want, ETag: p.ETag}); err != nil {
		t.Fatalf("SetTableIAM with the current etag: %v", err)
	}
	got, err := f.w.TableIAM(f.ctx, ref)
	if err != nil {
		t.Fatalf("TableIAM: %v", err)
	}
	if !reflect.DeepEqual(sortedBindings(got.Bindings), sortedBindings(want)) {
		t.Errorf("bindings = %v, want %v", got.Bindings, want)
	}
	if got.ETag == p.ETag {
		t.Errorf("etag did not change after a write: %q", got.ETag)
	}
	err = f.w.SetTableIAM(f.ctx, ref, warehouse.Policy{Bindings: nil, ETag: p.ETag})
	wantCode(t, "SetTableIAM with a stale etag", err, warehouse.FailedPrecondition)
	if again, _ := f.w.TableIAM(f.ctx, ref); !reflect.DeepEqual(sortedBindings(again.Bindings), sortedBindings(want)) {
		t.Errorf("a refused SetTableIAM changed the policy to %v", again.Bindings)
	}
	// Without an etag the write is unconditional.
	if err := f.w.SetTableIAM(f.ctx, ref, warehouse.Policy{Bindings: want[:1]}); err != nil {
		t.Fatalf("SetTableIAM without an etag: %v", err)
	}
	if got, _ := f.w.TableIAM(f.ctx, ref); !reflect.DeepEqual(sortedBindings(got.Bindings), sortedBindings(want[:1])) {
		t.Errorf("bindings = %v, want %v", got.Bindings, want[:1])
	}
}

func sortedBindings(b []warehouse.Binding) []warehouse.Binding {
	out := make([]warehouse.Binding, len(b))
	for i, x := range b {
		m := append([]string(nil), x.Members...)
		sort.Strings(m)
		out[i] = warehouse.Binding{Role: x.Role, Members: m}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Role < out[j].Role })
	return out
}

func testDatasetAccess(t *testing.T, f *fixture) {
	want := []warehouse.AccessEntry{
		{Role: "OWNER", EntityType: "specialGroup", Entity: "projectOwners"},
		{Role: "READER", EntityType: "groupByEmail", Entity: "readers@example.com"},
		{Role: "roles/bigquery.dataViewer", EntityType: "iamMember", Entity: "serviceAccount:etl@p.iam.gserviceaccount.com"},
	}
	if err := f.h.SetDatasetAccess(f.ctx, f.project, f.dataset, want); err != nil {
		t.Fatalf("seed dataset access: %v", err)
	}
	got, err := f.w.DatasetAccess(f.ctx, f.project, f.dataset)
	if err != nil {
		t.Fatalf("DatasetAccess: %v", err)
	}
	key := func(e []warehouse.AccessEntry) []string {
		var s []string
		for _, x := range e {
			s = append(s, x.Role+"|"+x.EntityType+"|"+x.Entity)
		}
		sort.Strings(s)
		return s
	}
	if !reflect.DeepEqual(key(got), key(want)) {
		t.Errorf("DatasetAccess = %v, want %v", got, want)
	}
}

func testDryRun(t *testing.T, f *fixture) {
	ref := f.createDaily("daily")
	f.seed(ref, threeDays...)
	before := f.rows(ref)
	job := partitionJob(ref, "20240102", warehouse.WriteTruncate, row{"2024-01-02", "dry", 1})
	job.SQL = "SELECT submission_date, client, n FROM `" + ref.String() + "` WHERE submission_date = @day"
	job.Params = []warehouse.Param{{Name: "day", Type: "DATE", Value: "2024-01-01"}}
	job.DryRun = true
	res, err := f.w.Query(f.ctx, job)
	if err != nil {
		t.Fatalf("dry run: %v", err)
	}
	if res.BytesProcessed < 0 {
		t.Errorf("BytesProcessed = %d, want >= 0", res.BytesProcessed)
	}
	if got := f.rows(ref); !reflect.DeepEqual(got, before) {
		t.Errorf("a dry run changed the table:\n got %v\nwant %v", got, before)
	}
	_, err = f.w.Query(f.ctx, warehouse.QueryJob{SQL: "SELEC 1 FROM", DryRun: true})
	wantCode(t, "dry run of bad SQL", err, warehouse.InvalidArgument)
	_, err = f.w.Query(f.ctx, warehouse.QueryJob{SQL: "SELECT no_such_column FROM `" + ref.String() + "`", DryRun: true})
	wantCode(t, "dry run with an unknown column", err, warehouse.InvalidArgument)
	_, err = f.w.Query(f.ctx, warehouse.QueryJob{SQL: "SELECT 1 FROM `" + f.ref("missing").String() + "`", DryRun: true})
	wantCode(t, "dry run over a missing table", err, warehouse.NotFound)
}

func testDryRunBytes(t *testing.T, f *fixture) {
	ref := f.createDaily("daily")
	f.seed(ref, threeDays...)
	res, err := f.w.Query(f.ctx, warehouse.QueryJob{SQL: "SELECT COUNT(*) FROM `" + ref.String() + "`", DryRun: true})
	if err != nil {
		t.Fatalf("dry run: %v", err)
	}
	if res.BytesProcessed <= 0 {
		t.Errorf("BytesProcessed = %d for a non-empty table, want > 0", res.BytesProcessed)
	}
}

func testNotFound(t *testing.T, f *fixture) {
	existing := f.createDaily("existing")
	missing := f.ref("missing")
	noDataset := warehouse.TableRef{Project: f.project, Dataset: "no_such_dataset", Table: "t"}
	noProject := warehouse.TableRef{Project: "no-such-project-x", Dataset: "d", Table: "t"}
	for _, ref := range []warehouse.TableRef{missing, noDataset, noProject} {
		name := ref.String()
		_, err := f.w.Table(f.ctx, ref)
		wantCode(t, "Table "+name, err, warehouse.NotFound)
		_, err = f.w.Partitions(f.ctx, ref)
		wantCode(t, "Partitions "+name, err, warehouse.NotFound)
		err = f.w.CreateTableLike(f.ctx, ref, f.ref("like_"+ref.Dataset), warehouse.CreateLikeOptions{})
		wantCode(t, "CreateTableLike from "+name, err, warehouse.NotFound)
		_, err = f.w.Copy(f.ctx, warehouse.CopyJob{Source: ref, Dest: existing, Write: warehouse.WriteTruncate})
		wantCode(t, "Copy from "+name, err, warehouse.NotFound)
		_, err = f.w.Backup(f.ctx, ref, f.ref("backup_"+ref.Dataset), time.Time{}, nil)
		wantCode(t, "Backup of "+name, err, warehouse.NotFound)
		err = f.w.Delete(f.ctx, ref)
		wantCode(t, "Delete "+name, err, warehouse.NotFound)
		_, err = f.w.TableIAM(f.ctx, ref)
		wantCode(t, "TableIAM "+name, err, warehouse.NotFound)
		err = f.w.SetTableIAM(f.ctx, ref, warehouse.Policy{})
		wantCode(t, "SetTableIAM "+name, err, warehouse.NotFound)
		_, err = f.w.Query(f.ctx, warehouse.QueryJob{SQL: "SELECT DATE '2024-01-01' AS submission_date", Destination: &ref, Partition: "20240101"})
		wantCode(t, "Query into a partition of "+name, err, warehouse.NotFound)
		if f.h.Capabilities().RealData {
			_, err = f.w.Read(f.ctx, warehouse.QueryJob{SQL: "SELECT * FROM `" + name + "`"})
			wantCode(t, "Read from "+name, err, warehouse.NotFound)
			_, err = f.w.Query(f.ctx, warehouse.QueryJob{SQL: "SELECT * FROM `" + name + "`", Destination: &existing})
			wantCode(t, "Query reading "+name, err, warehouse.NotFound)
		}
	}
	_, err := f.w.Copy(f.ctx, warehouse.CopyJob{Source: existing, Dest: noDataset, Write: warehouse.WriteTruncate})
	wantCode(t, "Copy into a missing dataset", err, warehouse.NotFound)
	_, err = f.w.Backup(f.ctx, existing, noDataset, time.Time{}, nil)
	wantCode(t, "Backup into a missing dataset", err, warehouse.NotFound)
	err = f.w.CreateTableLike(f.ctx, existing, noDataset, warehouse.CreateLikeOptions{})
	wantCode(t, "CreateTableLike into a missing dataset", err, warehouse.NotFound)
	_, err = f.w.DatasetAccess(f.ctx, f.project, "no_such_dataset")
	wantCode(t, "DatasetAccess of a missing dataset", err, warehouse.NotFound)
	_, err = f.w.DatasetAccess(f.ctx, "no-such-project-x", "d")
	wantCode(t, "DatasetAccess in a missing project", err, warehouse.NotFound)
}

func testPartitions(t *testing.T, f *fixture) {
	ref := f.createDaily("daily")
	if got := f.partitions(ref); len(got) != 0 {
		t.Errorf("empty table partitions = %v", got)
	}
	f.seed(ref, row{"2024-01-10", "a", 1}, row{"2023-12-31", "b", 2}, row{"2024-01-02", "c", 3}, row{"2024-01-10", "d", 4})
	parts, err := f.w.Partitions(f.ctx, ref)
	if err != nil {
		t.Fatalf("Partitions: %v", err)
	}
	want := []warehouse.Partition{{ID: "20231231", Rows: 1}, {ID: "20240102", Rows: 1}, {ID: "20240110", Rows: 2}}
	if !reflect.DeepEqual(parts, want) {
		t.Errorf("Partitions = %v, want %v", parts, want)
	}
	plain := f.createPlain("plain", dailySchema)
	f.seed(plain, threeDays...)
	parts, err = f.w.Partitions(f.ctx, plain)
	if err != nil {
		t.Fatalf("Partitions(%s): %v", plain, err)
	}
	if want := []warehouse.Partition{{ID: "", Rows: int64(len(threeDays))}}; !reflect.DeepEqual(parts, want) {
		t.Errorf("unpartitioned Partitions = %v, want %v", parts, want)
	}
}

func testReadWithParams(t *testing.T, f *fixture) {
	ref := f.createDaily("daily")
	f.seed(ref, threeDays...)
	res, err := f.w.Read(f.ctx, warehouse.QueryJob{
		SQL: "SELECT submission_date, client, n, n * @mult AS scaled FROM `" + ref.String() +
			"` WHERE submission_date >= @since AND client = @client ORDER BY submission_date",
		Params: []warehouse.Param{
			{Name: "since", Type: "DATE", Value: "2024-01-02"},
			{Name: "client", Type: "STRING", Value: "b"},
			{Name: "mult", Type: "INT64", Value: "10"},
		},
	})
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	if want := []string{"submission_date", "client", "n", "scaled"}; !reflect.DeepEqual(res.Columns, want) {
		t.Errorf("Columns = %q, want %q", res.Columns, want)
	}
	var got []string
	for _, r := range res.Rows {
		got = append(got, fmt.Sprintf("%s|%v|%d|%d", dateString(t, r[0]), r[1], asInt64(t, r[2]), asInt64(t, r[3])))
	}
	if want := []string{"2024-01-02|b|4|40", "2024-01-03|b|6|60"}; !reflect.DeepEqual(got, want) {
		t.Errorf("rows = %q, want %q", got, want)
	}
	// Unqualified names resolve with the job's default project and dataset.
	res, err = f.w.Read(f.ctx, warehouse.QueryJob{SQL: "SELECT COUNT(*) AS c FROM daily", DefaultProject: f.project, DefaultDataset: f.dataset})
	if err != nil {
		t.Fatalf("Read with default dataset: %v", err)
	}
	if len(res.Rows) != 1 || asInt64(t, res.Rows[0][0]) != int64(len(threeDays)) {
		t.Errorf("COUNT(*) = %v, want %d", res.Rows, len(threeDays))
	}
	_, err = f.w.Read(f.ctx, warehouse.QueryJob{SQL: "SELECT @missing AS x"})
	wantCode(t, "Read with an unbound parameter", err, warehouse.InvalidArgument)
}

func testDelete(t *testing.T, f *fixture) {
	ref := f.createDaily("doomed")
	if err := f.w.Delete(f.ctx, ref); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	_, err := f.w.Table(f.ctx, ref)
	wantCode(t, "Table after Delete", err, warehouse.NotFound)
	wantCode(t, "second Delete", f.w.Delete(f.ctx, ref), warehouse.NotFound)
	// The name is free again, with no trace of the old table.
	if err := f.w.CreateTable(f.ctx, warehouse.TableMetadata{Ref: ref, Schema: warehouse.Schema{{Name: "x", Type: "STRING"}}}); err != nil {
		t.Fatalf("CreateTable after Delete: %v", err)
	}
	md, err := f.w.Table(f.ctx, ref)
	if err != nil {
		t.Fatalf("Table: %v", err)
	}
	if md.PartitionType != warehouse.Unpartitioned || len(md.Labels) != 0 || len(md.Schema) != 1 {
		t.Errorf("recreated table inherited old metadata: %+v", md)
	}
}

func testConcurrentWrites(t *testing.T, f *fixture) {
	ref := f.createDaily("daily")
	const days = 24
	var wg sync.WaitGroup
	errs := make(chan error, days)
	for i := 0; i < days; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			day := time.Date(2024, 3, 1+i, 0, 0, 0, 0, time.UTC)
			rows := make([]row, i%3+1)
			for k := range rows {
				rows[k] = row{day.Format("2006-01-02"), fmt.Sprintf("c%d", k), int64(i)}
			}
			// Each partition is written twice, as a redelivered message would.
			for rep := 0; rep < 2; rep++ {
				if _, err := f.w.Query(f.ctx, partitionJob(ref, warehouse.PartitionID(warehouse.Day, day), warehouse.WriteTruncate, rows...)); err != nil {
					errs <- fmt.Errorf("day %s: %w", day.Format("2006-01-02"), err)
					return
				}
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	got := f.partitions(ref)
	if len(got) != days {
		t.Errorf("%d partitions, want %d", len(got), days)
	}
	for i := 0; i < days; i++ {
		id := warehouse.PartitionID(warehouse.Day, time.Date(2024, 3, 1+i, 0, 0, 0, 0, time.UTC))
		if got[id] != int64(i%3+1) {
			t.Errorf("partition %s has %d rows, want %d", id, got[id], i%3+1)
		}
	}
}

func testBadSQL(t *testing.T, f *fixture) {
	ref := f.createDaily("daily")
	for _, sql := range []string{"SELEC 1", "SELECT 'unterminated", "SELECT FROM WHERE"} {
		_, err := f.w.Query(f.ctx, warehouse.QueryJob{SQL: sql, Destination: &ref, Partition: "20240101"})
		wantCode(t, fmt.Sprintf("Query(%q)", sql), err, warehouse.InvalidArgument)
		_, err = f.w.Read(f.ctx, warehouse.QueryJob{SQL: sql})
		wantCode(t, fmt.Sprintf("Read(%q)", sql), err, warehouse.InvalidArgument)
	}
	if f.h.Capabilities().RealData {
		if got := f.partitions(ref); len(got) != 0 {
			t.Errorf("bad SQL wrote partitions %v", got)
		}
	}
	if strings.Contains(ref.Project, ".") {
		t.Errorf("project %q contains a dot", ref.Project)
	}
}
