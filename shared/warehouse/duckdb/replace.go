package duckdb

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/bqbackfill/bqbackfill/shared/warehouse"
	"github.com/bqbackfill/bqbackfill/shared/warehouse/duckdb/internal/bqsql"
)

// rangesTable holds the partition ranges of one ReplacePartitions call.
const rangesTable = `temp.main."_bqbackfill_ranges"`

// ReplacePartitions replaces partitions of job.Dest with those of
// job.Source in one DuckDB transaction (see warehouse.ReplaceJob): readers
// on other connections see the old rows until the commit and the new rows
// after it. The schemas must be compatible (FailedPrecondition otherwise);
// Dest keeps its own. BytesProcessed is the estimated bytes read from
// Source.
func (w *Warehouse) ReplacePartitions(ctx context.Context, job warehouse.ReplaceJob) (warehouse.JobResult, error) {
	const op = "replace partitions"
	start := time.Now()
	res := warehouse.JobResult{JobID: w.jobID(job.JobID), RowsWritten: -1}
	if err := w.checkPartitionsJob(ctx, op, job.Partitions, job.Source, job.Dest); err != nil {
		return res, err
	}
	var rows, bytes int64
	var written *tableRecord
	err := w.writeTx(ctx, &job.Dest, "", "", func(tx *sql.Tx) error {
		sr, err := w.lookupTable(ctx, op, job.Source)
		if err != nil {
			return err
		}
		dr, err := w.lookupTable(ctx, op, job.Dest)
		if err != nil {
			return err
		}
		sschema, err := w.cachedSchema(ctx, op+" "+job.Source.String(), sr)
		if err != nil {
			return err
		}
		dschema, err := w.cachedSchema(ctx, op+" "+job.Dest.String(), dr)
		if err != nil {
			return err
		}
		if err := warehouse.CompatibleSchemas(sschema, dschema); err != nil {
			return warehouse.Errorf(warehouse.FailedPrecondition, op, "cannot replace %s from %s: %v", job.Dest, job.Source, err)
		}
		where := ""
		if len(job.Partitions) > 0 {
			if sr.meta.PartitionType != dr.meta.PartitionType || !strings.EqualFold(sr.meta.PartitionField, dr.meta.PartitionField) {
				return warehouse.Errorf(warehouse.FailedPrecondition, op, "cannot replace partitions of %s (partitioned by %s %q) from %s (partitioned by %s %q)",
					job.Dest, partitionName(dr.meta.PartitionType), dr.meta.PartitionField, job.Source, partitionName(sr.meta.PartitionType), sr.meta.PartitionField)
			}
			if where, err = w.rangeFilter(ctx, tx, op, dr, job.Partitions); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM "+tableSQL(dr.ref)+where); err != nil {
			return classify(op+": delete from "+job.Dest.String(), err)
		}
		r, err := tx.ExecContext(ctx, "INSERT INTO "+tableSQL(dr.ref)+" SELECT * FROM "+tableSQL(sr.ref)+where)
		if err != nil {
			return classify(op+": insert into "+job.Dest.String(), err)
		}
		if rows, err = r.RowsAffected(); err != nil {
			return classify(op+": insert into "+job.Dest.String(), err)
		}
		if where != "" {
			if _, err := tx.ExecContext(ctx, "DROP TABLE "+rangesTable); err != nil {
				return classify(op+": drop partition ranges", err)
			}
		}
		// Bytes read: the Source rows inserted times its row width.
		var total int64
		if total, err = w.tableBytes(ctx, tx, op, sr, sschema); err != nil {
			return err
		}
		var all int64
		if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM "+tableSQL(sr.ref)).Scan(&all); err != nil {
			return classify(op+": count rows of "+job.Source.String(), err)
		}
		if all > 0 {
			bytes = total * rows / all
		}
		written = dr
		return nil
	})
	res.Duration = time.Since(start)
	if err != nil {
		return res, err
	}
	w.touch(written)
	res.RowsWritten, res.BytesProcessed = rows, bytes
	return res, nil
}

// checkPartitionsJob makes the checks a statement over partitions of
// tables starts with: the warehouse is open, at most MaxReplacePartitions
// partitions, valid names of attached projects.
func (w *Warehouse) checkPartitionsJob(ctx context.Context, op string, ids []string, refs ...warehouse.TableRef) error {
	if err := w.begin(ctx); err != nil {
		return err
	}
	if len(ids) > warehouse.MaxReplacePartitions {
		return warehouse.Errorf(warehouse.InvalidArgument, op, "too many partitions: %d, at most %d per statement", len(ids), warehouse.MaxReplacePartitions)
	}
	for _, ref := range refs {
		if err := validRef(op, ref); err != nil {
			return err
		}
		if !w.attached(ref.Project) {
			return warehouse.Errorf(warehouse.NotFound, op, "table %s not found (no project %s)", ref, ref.Project)
		}
	}
	return nil
}

// rangeFilter loads the ranges of the partitions ids of r
// (warehouse.PartitionRanges: contiguous partitions merged) into a temporary
// table and returns the WHERE clause that selects their rows (the same
// column and bounds in Source, whose partitioning was checked to match).
func (w *Warehouse) rangeFilter(ctx context.Context, tx *sql.Tx, op string, r *tableRecord, ids []string) (string, error) {
	if !r.partitioned() {
		return "", warehouse.Errorf(warehouse.InvalidArgument, op, "table %s is not partitioned: name no partitions to act on the whole table", r.ref)
	}
	rs, err := warehouse.PartitionRanges(r.meta.PartitionType, ids)
	if err != nil {
		return "", warehouse.Errorf(warehouse.InvalidArgument, op, "table %s: %v", r.ref, err)
	}
	if _, err := tx.ExecContext(ctx, "CREATE OR REPLACE TEMP TABLE "+rangesTable+" (_bqb_lo DATE, _bqb_hi DATE)"); err != nil {
		return "", classify(op+": partition ranges", err)
	}
	var vals []string
	for _, pr := range rs {
		vals = append(vals, fmt.Sprintf("(DATE '%s', DATE '%s')", pr.Start, pr.End))
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO "+rangesTable+" VALUES "+strings.Join(vals, ", ")); err != nil {
		return "", classify(op+": partition ranges", err)
	}
	f := bqsql.QuoteIdent(r.meta.PartitionField)
	return fmt.Sprintf(" WHERE EXISTS (SELECT 1 FROM %s AS r WHERE %s >= r._bqb_lo AND %s < r._bqb_hi)", rangesTable, f, f), nil
}
