package bigquery

import (
	"context"
	"fmt"
	"strings"

	"cloud.google.com/go/civil"

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
// The filter names only the partitioning column with whole-partition
// bounds, merged into contiguous ranges, so the DELETE is free and the
// INSERT reads only the staged partitions (spec/gcp-limits.md §3). A
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
		if where, err = partitionFilter(md, job.Partitions); err != nil {
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

// partitionFilter selects the rows of the partitions ids of a table
// partitioned like md, as ranges of its partitioning column.
func partitionFilter(md *warehouse.TableMetadata, ids []string) (string, error) {
	if md.PartitionType == warehouse.Unpartitioned || md.PartitionField == "" {
		return "", fmt.Errorf("%s is not partitioned by a column: name no partitions to act on the whole table", md.Ref)
	}
	typ := "DATE"
	for _, f := range md.Schema {
		if strings.EqualFold(f.Name, md.PartitionField) {
			typ = warehouse.CanonicalType(f.Type)
		}
	}
	type span struct{ lo, hi civil.Date }
	var spans []span
	for _, id := range ids {
		t, lo, hi, err := warehouse.ParsePartitionID(id)
		if err != nil {
			return "", err
		}
		if t != md.PartitionType {
			return "", fmt.Errorf("partition %s is a %s partition id but %s is partitioned by %s", id, t, md.Ref, md.PartitionType)
		}
		if n := len(spans); n > 0 && spans[n-1].hi == lo {
			spans[n-1].hi = hi
			continue
		}
		spans = append(spans, span{lo, hi})
	}
	f := "`" + md.PartitionField + "`"
	var parts []string
	for _, s := range spans {
		parts = append(parts, fmt.Sprintf("(%s >= %s '%s' AND %s < %s '%s')", f, typ, s.lo, f, typ, s.hi))
	}
	return strings.Join(parts, " OR "), nil
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
		where, err := partitionFilter(md, job.Partitions)
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
