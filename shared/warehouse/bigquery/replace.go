package bigquery

import (
	"context"
	"fmt"

	"github.com/bqbackfill/bqbackfill/shared/warehouse"
)

// ReplacePartitions runs the atomic promotion as one multi-statement
// query job (see warehouse.ReplaceJob):
//
//	BEGIN TRANSACTION;
//	DELETE FROM dest WHERE <the partitions>;
//	INSERT INTO dest SELECT * FROM source WHERE <the partitions>;
//	COMMIT TRANSACTION;
//
// The filter (warehouse.PartitionFilter) names only the partitioning
// column with whole-partition bounds, merged into contiguous ranges, so
// the DELETE is free and the INSERT reads only the staged partitions
// (spec/gcp-limits.md §3). A
// failed statement rolls the transaction back. BytesProcessed is the
// script's bytes processed.
func (w *Warehouse) ReplacePartitions(ctx context.Context, job warehouse.ReplaceJob) (warehouse.JobResult, error) {
	const op = "replace partitions"
	if len(job.Partitions) > warehouse.MaxReplacePartitions {
		return warehouse.JobResult{RowsWritten: -1}, warehouse.Errorf(warehouse.InvalidArgument, op, "too many partitions: %d, at most %d per statement", len(job.Partitions), warehouse.MaxReplacePartitions)
	}
	where := "TRUE"
	if len(job.Partitions) > 0 {
		md, err := w.Table(ctx, job.Dest)
		if err != nil {
			return warehouse.JobResult{RowsWritten: -1}, err
		}
		if where, err = warehouse.PartitionFilter(md, job.Partitions); err != nil {
			return warehouse.JobResult{RowsWritten: -1}, warehouse.Errorf(warehouse.InvalidArgument, op, "%v", err)
		}
	}
	script := ReplaceScript(job.Source, job.Dest, where)
	res, err := w.Query(ctx, warehouse.QueryJob{SQL: script, BillingProject: job.BillingProject, Labels: job.Labels, JobID: job.JobID})
	if err != nil {
		return res, fmt.Errorf("%s %s from %s: %w", op, job.Dest, job.Source, err)
	}
	return res, nil
}

// ReplaceScript is the transaction ReplacePartitions submits.
func ReplaceScript(src, dst warehouse.TableRef, where string) string {
	return fmt.Sprintf("BEGIN TRANSACTION;\nDELETE FROM `%s` WHERE %s;\nINSERT INTO `%s` SELECT * FROM `%s` WHERE %s;\nCOMMIT TRANSACTION;\n",
		dst, where, dst, src, where)
}

// DeletePartitions empties partitions as one DML query job (see
// warehouse.DeleteJob):
//
//	DELETE FROM dest WHERE <the partitions>
//
// with the filter ReplacePartitions uses (the partitioning column only,
// whole-partition bounds: no bytes scanned or billed), or
// TRUNCATE TABLE dest when no partitions are named. The table is read
// first, for its partitioning and so that a missing one is NotFound.
func (w *Warehouse) DeletePartitions(ctx context.Context, job warehouse.DeleteJob) (warehouse.JobResult, error) {
	const op = "delete partitions"
	if len(job.Partitions) > warehouse.MaxReplacePartitions {
		return warehouse.JobResult{RowsWritten: -1}, warehouse.Errorf(warehouse.InvalidArgument, op, "too many partitions: %d, at most %d per statement", len(job.Partitions), warehouse.MaxReplacePartitions)
	}
	md, err := w.Table(ctx, job.Table)
	if err != nil {
		return warehouse.JobResult{RowsWritten: -1}, err
	}
	stmt := fmt.Sprintf("TRUNCATE TABLE `%s`", job.Table)
	if len(job.Partitions) > 0 {
		where, err := warehouse.PartitionFilter(md, job.Partitions)
		if err != nil {
			return warehouse.JobResult{RowsWritten: -1}, warehouse.Errorf(warehouse.InvalidArgument, op, "%v", err)
		}
		stmt = DeleteStatement(job.Table, where)
	}
	res, err := w.Query(ctx, warehouse.QueryJob{SQL: stmt, BillingProject: job.BillingProject, Labels: job.Labels, JobID: job.JobID})
	if err != nil {
		return res, fmt.Errorf("%s of %s: %w", op, job.Table, err)
	}
	res.RowsWritten = 0
	return res, nil
}

// DeleteStatement is the DML DeletePartitions submits for partitions.
func DeleteStatement(t warehouse.TableRef, where string) string {
	return fmt.Sprintf("DELETE FROM `%s` WHERE %s", t, where)
}
