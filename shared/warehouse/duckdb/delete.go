package duckdb

import (
	"context"
	"database/sql"
	"time"

	"github.com/bqbackfill/bqbackfill/shared/warehouse"
)

// DeletePartitions empties whole partitions of job.Table, or the whole
// table when none are named (see warehouse.DeleteJob), in one DuckDB
// transaction. The table keeps its schema and partitioning.
func (w *Warehouse) DeletePartitions(ctx context.Context, job warehouse.DeleteJob) (warehouse.JobResult, error) {
	const op = "delete partitions"
	start := time.Now()
	res := warehouse.JobResult{JobID: w.jobID(job.JobID), RowsWritten: -1}
	if err := w.checkPartitionsJob(ctx, op, job.Partitions, job.Table); err != nil {
		return res, err
	}
	var emptied *tableRecord
	err := w.writeTx(ctx, &job.Table, "", "", func(tx *sql.Tx) error {
		r, err := w.lookupTable(ctx, op, job.Table)
		if err != nil {
			return err
		}
		where := ""
		if len(job.Partitions) > 0 {
			if where, err = w.rangeFilter(ctx, tx, op, r, job.Partitions); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM "+tableSQL(r.ref)+where); err != nil {
			return classify(op+": delete from "+job.Table.String(), err)
		}
		if where != "" {
			if _, err := tx.ExecContext(ctx, "DROP TABLE "+rangesTable); err != nil {
				return classify(op+": drop partition ranges", err)
			}
		}
		emptied = r
		return nil
	})
	res.Duration = time.Since(start)
	if err != nil {
		return res, err
	}
	w.touch(emptied)
	res.RowsWritten = 0
	return res, nil
}
