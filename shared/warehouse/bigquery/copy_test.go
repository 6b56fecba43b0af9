package bigquery_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	bq "google.golang.org/api/bigquery/v2"

	"github.com/bqbackfill/bqbackfill/shared/warehouse"
	"github.com/bqbackfill/bqbackfill/shared/warehouse/bqfake"
)

func TestCopyJobConfiguration(t *testing.T) {
	tests := []struct {
		name       string
		job        warehouse.CopyJob
		jobProject string
		want       bq.JobConfigurationTableCopy
		labels     map[string]string
		jobPrefix  string
		wantRows   map[string]int64 // destination partitions afterwards
		rowsAfter  int64
	}{
		{
			name: "partition to partition, truncate, billed elsewhere",
			job: warehouse.CopyJob{
				Source: staging, SourcePartition: "20240102", Dest: prod, DestPartition: "20240102",
				Write: warehouse.WriteTruncate, BillingProject: "backfill-slots", Labels: map[string]string{"backfill_id": "b1"}, JobID: "swap-b1-20240102",
			},
			jobProject: "backfill-slots",
			want: bq.JobConfigurationTableCopy{
				SourceTables: []*bq.TableReference{tref(staging, "20240102")}, DestinationTable: tref(prod, "20240102"),
				WriteDisposition: "WRITE_TRUNCATE", CreateDisposition: "CREATE_NEVER",
			},
			labels:    map[string]string{"backfill_id": "b1"},
			jobPrefix: "swap-b1-20240102-",
			wantRows:  map[string]int64{"20240101": 10, "20240102": 4},
			rowsAfter: 4,
		},
		{
			name:       "seed: previous production partition into staging, job in staging's project",
			job:        warehouse.CopyJob{Source: prod, SourcePartition: "20240101", Dest: staging, DestPartition: "20240101", Write: warehouse.WriteTruncate},
			jobProject: defaultProject,
			want: bq.JobConfigurationTableCopy{
				SourceTables: []*bq.TableReference{tref(prod, "20240101")}, DestinationTable: tref(staging, "20240101"),
				WriteDisposition: "WRITE_TRUNCATE", CreateDisposition: "CREATE_NEVER",
			},
			rowsAfter: 10,
		},
		{
			name:       "whole table, default write disposition is WRITE_EMPTY",
			job:        warehouse.CopyJob{Source: staging, Dest: warehouse.TableRef{Project: "prod-proj", Dataset: "derived", Table: "fresh"}},
			jobProject: "prod-proj",
			want: bq.JobConfigurationTableCopy{
				SourceTables: []*bq.TableReference{tref(staging, "")}, DestinationTable: &bq.TableReference{ProjectId: "prod-proj", DatasetId: "derived", TableId: "fresh"},
				WriteDisposition: "WRITE_EMPTY", CreateDisposition: "CREATE_IF_NEEDED",
			},
			rowsAfter: 4 + 6,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			e.setRows(staging, "20240102", 4)
			e.setRows(staging, "20240103", 6)
			e.setRows(prod, "20240101", 10)
			e.setRows(prod, "20240102", 99)
			res, err := e.w.Copy(e.ctx, tt.job)
			if err != nil {
				t.Fatalf("Copy: %v", err)
			}
			req, job := e.onlyInsert()
			if want := "/projects/" + tt.jobProject + "/jobs"; req.Path != want {
				t.Errorf("jobs.insert path = %s, want %s", req.Path, want)
			}
			if tt.jobPrefix != "" && !hasPrefix(job.JobReference.JobId, tt.jobPrefix) {
				t.Errorf("jobId = %q, want prefix %q", job.JobReference.JobId, tt.jobPrefix)
			}
			if job.Configuration.Query != nil || job.Configuration.DryRun {
				t.Error("copy sent a query or dry-run configuration")
			}
			jsonEqual(t, "configuration.copy", job.Configuration.Copy, tt.want)
			jsonEqual(t, "configuration.labels", job.Configuration.Labels, tt.labels)
			if tt.wantRows != nil {
				jsonEqual(t, "destination partitions", e.fake.PartitionRows(tt.job.Dest), tt.wantRows)
			}
			if res.RowsWritten != tt.rowsAfter {
				t.Errorf("RowsWritten = %d, want %d", res.RowsWritten, tt.rowsAfter)
			}
		})
	}
}

func TestCopyFailures(t *testing.T) {
	other := warehouse.TableRef{Project: "prod-proj", Dataset: "derived", Table: "other_schema"}
	tests := []struct {
		name    string
		job     warehouse.CopyJob
		want    warehouse.ErrorCode
		inserts int
	}{
		{"missing source", warehouse.CopyJob{Source: warehouse.TableRef{Project: "p", Dataset: "d", Table: "gone"}, Dest: prod, Write: warehouse.WriteTruncate},
			warehouse.NotFound, 0},
		{"schema mismatch onto an existing partition", warehouse.CopyJob{Source: staging, SourcePartition: "20240102", Dest: other, DestPartition: "20240102", Write: warehouse.WriteTruncate},
			warehouse.FailedPrecondition, 0},
		{"schema mismatch onto an existing table, even truncating", warehouse.CopyJob{Source: staging, Dest: other, Write: warehouse.WriteTruncate},
			warehouse.FailedPrecondition, 0},
		{"partitioning mismatch", warehouse.CopyJob{Source: staging, Dest: monthly, Write: warehouse.WriteTruncate},
			warehouse.FailedPrecondition, 0},
		{"rows outside the destination partition", warehouse.CopyJob{Source: staging, SourcePartition: "20240102", Dest: prod, DestPartition: "20240101", Write: warehouse.WriteTruncate},
			warehouse.InvalidArgument, 1},
		{"write empty onto data", warehouse.CopyJob{Source: staging, Dest: prod, Write: warehouse.WriteEmpty},
			warehouse.AlreadyExists, 1},
		{"missing destination partition table", warehouse.CopyJob{Source: staging, SourcePartition: "20240102", Dest: warehouse.TableRef{Project: "prod-proj", Dataset: "derived", Table: "nope"}, DestPartition: "20240102", Write: warehouse.WriteTruncate},
			warehouse.NotFound, 1},
		{"malformed partition", warehouse.CopyJob{Source: staging, SourcePartition: "x", Dest: prod, DestPartition: "x"},
			warehouse.InvalidArgument, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			e.fake.PutTable(&bq.Table{
				TableReference:   &bq.TableReference{ProjectId: other.Project, DatasetId: other.Dataset, TableId: other.Table},
				Schema:           &bq.TableSchema{Fields: []*bq.TableFieldSchema{{Name: "submission_date", Type: "DATE"}, {Name: "n", Type: "INTEGER"}}},
				TimePartitioning: &bq.TimePartitioning{Type: "DAY", Field: "submission_date"},
			})
			e.setRows(staging, "20240102", 4)
			e.setRows(prod, "20240101", 1)
			_, err := e.w.Copy(e.ctx, tt.job)
			wantCode(t, "Copy", err, tt.want)
			if n := len(e.fake.RequestsFor("jobs.insert")); n != tt.inserts {
				t.Errorf("%d jobs.insert, want %d", n, tt.inserts)
			}
			if got := e.fake.PartitionRows(prod); len(got) != 1 || got["20240101"] != 1 {
				t.Errorf("a failed copy changed production: %v", got)
			}
		})
	}
}

func TestBackup(t *testing.T) {
	backup := warehouse.TableRef{Project: defaultProject, Dataset: "backfills_staging_derived", Table: "derived__daily_v1_backup_2024_01_01"}
	exp := time.Date(2024, 2, 1, 12, 0, 0, 0, time.UTC)
	e := newEnv(t)
	e.fake.SetClock(func() time.Time { return time.Date(2024, 1, 2, 9, 0, 0, 0, time.UTC) })
	e.setRows(prod, "20240101", 3)
	e.setRows(prod, "20240102", 4)
	res, err := e.w.Backup(e.ctx, prod, backup, exp, map[string]string{"backfill_id": "b1"})
	if err != nil {
		t.Fatalf("Backup: %v", err)
	}
	req, job := e.onlyInsert()
	if req.Path != "/projects/"+defaultProject+"/jobs" {
		t.Errorf("clone ran at %s, want the backup's project", req.Path)
	}
	jsonEqual(t, "configuration.copy", job.Configuration.Copy, bq.JobConfigurationTableCopy{
		SourceTables: []*bq.TableReference{tref(prod, "")}, DestinationTable: tref(backup, ""),
		WriteDisposition: "WRITE_EMPTY", OperationType: "CLONE",
	})
	jsonEqual(t, "job labels", job.Configuration.Labels, map[string]string{"backfill_id": "b1"})

	patches := e.fake.RequestsFor("tables.patch")
	if len(patches) != 1 {
		t.Fatalf("%d tables.patch requests, want 1", len(patches))
	}
	if patches[0].Path != "/projects/staging-proj/datasets/backfills_staging_derived/tables/"+backup.Table {
		t.Errorf("patched %s", patches[0].Path)
	}
	var body map[string]any
	if err := patches[0].Decode(&body); err != nil {
		t.Fatal(err)
	}
	jsonEqual(t, "patch body", body, map[string]any{
		"expirationTime": strconv.FormatInt(exp.UnixMilli(), 10),
		"labels":         map[string]any{"backfill_id": "b1"},
	})
	md := e.fake.Table(backup)
	if md == nil {
		t.Fatal("backup table missing")
	}
	if md.ExpirationTime != exp.UnixMilli() || md.CloneDefinition == nil || md.TimePartitioning == nil || md.TimePartitioning.Field != "submission_date" {
		t.Errorf("backup metadata: expiration %d, clone %v, partitioning %v", md.ExpirationTime, md.CloneDefinition, md.TimePartitioning)
	}
	jsonEqual(t, "backup labels", md.Labels, map[string]string{"owner": "tests", "backfill_id": "b1"})
	jsonEqual(t, "backup partitions", e.fake.PartitionRows(backup), map[string]int64{"20240101": 3, "20240102": 4})
	if res.RowsWritten != 7 {
		t.Errorf("RowsWritten = %d, want 7", res.RowsWritten)
	}

	_, err = e.w.Backup(e.ctx, prod, backup, exp, nil)
	wantCode(t, "second Backup", err, warehouse.AlreadyExists)
	_, err = e.w.Backup(e.ctx, warehouse.TableRef{Project: "prod-proj", Dataset: "derived", Table: "gone"}, warehouse.TableRef{Project: defaultProject, Dataset: "backfills_staging_derived", Table: "gone_backup"}, exp, nil)
	wantCode(t, "Backup of a missing table", err, warehouse.NotFound)
}

// Without an expiration the backup never expires, even in a dataset with
// a default table expiration.
func TestBackupWithoutExpiration(t *testing.T) {
	e := newEnv(t)
	e.fake.PutDataset(&bq.Dataset{DatasetReference: &bq.DatasetReference{ProjectId: "prod-proj", DatasetId: "backups"}, DefaultTableExpirationMs: 3600000})
	dst := warehouse.TableRef{Project: "prod-proj", Dataset: "backups", Table: "b"}
	if _, err := e.w.Backup(e.ctx, prod, dst, time.Time{}, nil); err != nil {
		t.Fatalf("Backup: %v", err)
	}
	patches := e.fake.RequestsFor("tables.patch")
	if len(patches) != 1 || strings.TrimSpace(string(patches[0].Body)) != `{"expirationTime":null}` {
		t.Errorf("patch = %v, want one clearing the expiration", patches)
	}
	if md := e.fake.Table(dst); md == nil || md.ExpirationTime != 0 {
		t.Errorf("backup expiration = %v, want none", md)
	}
}

// If the expiration cannot be set, the fresh clone is removed so that a
// retry starts clean.
func TestBackupRemovesCloneWhenExpirationFails(t *testing.T) {
	e := newEnv(t)
	e.fake.InjectFault(bqfake.Fault{Op: "tables.patch", Status: 403, Reason: "accessDenied"})
	dst := warehouse.TableRef{Project: defaultProject, Dataset: "backfills_staging_derived", Table: "b"}
	_, err := e.w.Backup(e.ctx, prod, dst, time.Now().Add(time.Hour), nil)
	wantCode(t, "Backup", err, warehouse.PermissionDenied)
	if e.fake.Table(dst) != nil {
		t.Error("the clone without expiration was left behind")
	}
	if n := len(e.fake.RequestsFor("tables.delete")); n != 1 {
		t.Errorf("%d deletes, want 1", n)
	}
	e.fake.ClearFaults()
	if _, err := e.w.Backup(e.ctx, prod, dst, time.Now().Add(time.Hour), nil); err != nil {
		t.Errorf("retried Backup: %v", err)
	}
}
