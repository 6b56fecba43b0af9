package duckdb

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/bqbackfill/bqbackfill/shared/warehouse"
	"github.com/bqbackfill/bqbackfill/shared/warehouse/duckdb/internal/bqsql"
)

// stageTable is the per-connection temporary table a job's rows are staged
// in when its query reads its own destination: the query must see the
// destination as it was before the job. (Temporary tables do not count
// against DuckDB's one-written-database-per-transaction rule.)
const stageTable = `temp.main."_bqbackfill_stage"`

// queryInto runs one SELECT into a destination table or partition, as one
// transaction.
// lockTable serialises writes to one table within this process and
// returns the unlock function.
func (w *Warehouse) lockTable(ref warehouse.TableRef) func() {
	key := strings.ToLower(ref.String())
	v, _ := w.tableLocks.LoadOrStore(key, &sync.Mutex{})
	mu := v.(*sync.Mutex)
	mu.Lock()
	return mu.Unlock
}

func (w *Warehouse) queryInto(ctx context.Context, op string, job warehouse.QueryJob, stmts []bqsql.Statement) (rows, bytes int64, err error) {
	if len(stmts) != 1 || stmts[0].Kind != bqsql.Query {
		return -1, 0, warehouse.Errorf(warehouse.InvalidArgument, op, "a query job with a destination table runs exactly one SELECT statement, got %d statement(s)", len(stmts))
	}
	st := stmts[0]
	dest := *job.Destination
	if err := validRef(op, dest); err != nil {
		return -1, 0, err
	}
	if !w.attached(dest.Project) {
		return -1, 0, warehouse.Errorf(warehouse.NotFound, op, "destination %s not found (no project %s)", dest, dest.Project)
	}
	write := job.Write
	if write == "" {
		write = warehouse.WriteTruncate
	}
	// Stage the result only when the query may read the destination.
	stage := false
	for _, p := range st.Reads {
		ref, err := resolveTable(op, p, job)
		if err != nil || strings.EqualFold(ref.String(), dest.String()) {
			stage = true
		}
	}
	var written *tableRecord
	// Writers of one table take turns: DuckDB would let concurrent writes
	// to one table conflict and retry with backoff, which under many
	// workers costs far more than waiting in line.
	err = w.writeTx(ctx, &dest, job.DefaultProject, job.DefaultDataset, func(tx *sql.Tx) error {
		from := "(" + st.SQL + ")"
		if stage {
			if _, err := tx.ExecContext(ctx, "CREATE OR REPLACE TEMP TABLE "+stageTable+" AS "+st.SQL); err != nil {
				return classify(op, err)
			}
			from = stageTable
		}
		r, err := w.lookupTable(ctx, op, dest)
		switch {
		case warehouse.IsNotFound(err) && job.Partition != "":
			return warehouse.Errorf(warehouse.NotFound, op, "destination table %s not found: create it before writing partition %s", dest, job.Partition)
		case warehouse.IsNotFound(err):
			schema, err := describe(ctx, tx, op+": result schema", "DESCRIBE SELECT * FROM "+from, nil)
			if err != nil {
				return err
			}
			if r, err = w.createTable(ctx, tx, op, warehouse.TableMetadata{Ref: dest, Schema: schema}); err != nil {
				return createdConcurrently(op, err)
			}
		case err != nil:
			return err
		}
		if rows, _, err = w.writeRows(ctx, tx, op, r, from, job.Partition, write, true); err != nil {
			return err
		}
		if stage {
			if _, err := tx.ExecContext(ctx, "DROP TABLE "+stageTable); err != nil {
				return classify(op+": drop staging table", err)
			}
		}
		bytes, err = w.estimateReads(ctx, tx, op, job, st.Reads)
		written = r
		return err
	})
	if err != nil {
		return -1, 0, err
	}
	w.touch(written)
	return rows, bytes, nil
}

// createdConcurrently turns AlreadyExists from creating a missing
// destination into a transaction conflict: another job created it after
// this one looked, and a retry will find it.
func createdConcurrently(op string, err error) error {
	if warehouse.IsAlreadyExists(err) {
		return warehouse.Errorf(warehouse.Transient, op, "conflict: the destination was created concurrently: %v", err)
	}
	return err
}

// partitionCond returns the SQL condition selecting partition id of r, and
// checks the id's granularity against the table's.
func partitionCond(op string, r *tableRecord, id string) (string, error) {
	if !r.partitioned() {
		return "", warehouse.Errorf(warehouse.InvalidArgument, op, "table %s is not partitioned: it has no partition %s", r.ref, id)
	}
	rs, err := warehouse.PartitionRanges(r.meta.PartitionType, []string{id})
	if err != nil {
		return "", warehouse.Errorf(warehouse.InvalidArgument, op, "table %s: %v", r.ref, err)
	}
	f := bqsql.QuoteIdent(r.meta.PartitionField)
	return fmt.Sprintf("%s >= DATE '%s' AND %s < DATE '%s'", f, rs[0].Start, f, rs[0].End), nil
}

// writeRows writes the rows of from (a parenthesised query or a table)
// into r, or into its partition, with the given disposition, inside tx,
// and returns the rows in the destination partition (or
// table) afterwards and the rows inserted. byName matches columns by name (query results),
// otherwise by position (copies between compatible schemas).
//
// Rows outside the partition are detected by counting: the partition holds
// exactly the rows it held before (none after a truncate) plus the rows
// inserted, unless some landed outside it — then the write fails with
// InvalidArgument and the caller's transaction rolls everything back.
func (w *Warehouse) writeRows(ctx context.Context, tx *sql.Tx, op string, r *tableRecord, from, partition string, write warehouse.WriteDisposition, byName bool) (int64, int64, error) {
	target := tableSQL(r.ref)
	where := ""
	name := r.ref.String()
	if partition != "" {
		cond, err := partitionCond(op, r, partition)
		if err != nil {
			return 0, 0, err
		}
		where = " WHERE " + cond
		name += "$" + partition
	}
	var before int64
	switch write {
	case warehouse.WriteTruncate:
		if _, err := tx.ExecContext(ctx, "DELETE FROM "+target+where); err != nil {
			return 0, 0, classify(op+": truncate "+name, err)
		}
	case warehouse.WriteEmpty, warehouse.WriteAppend:
		if write == warehouse.WriteAppend && partition == "" {
			break
		}
		if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM "+target+where).Scan(&before); err != nil {
			return 0, 0, classify(op+": count rows of "+name, err)
		}
		if write == warehouse.WriteEmpty && before > 0 {
			return 0, 0, warehouse.Errorf(warehouse.AlreadyExists, op, "%s already has %d rows (WRITE_EMPTY)", name, before)
		}
	default:
		return 0, 0, warehouse.Errorf(warehouse.InvalidArgument, op, "unknown write disposition %q", write)
	}
	insert := "INSERT INTO " + target + " SELECT * FROM " + from
	if byName {
		insert = "INSERT INTO " + target + " BY NAME SELECT * FROM " + from
	}
	res, err := tx.ExecContext(ctx, insert)
	if err != nil {
		return 0, 0, classify(op+": write "+name, err)
	}
	inserted, err := res.RowsAffected()
	if err != nil {
		return 0, 0, classify(op+": write "+name, err)
	}
	var rows int64
	if partition == "" && write != warehouse.WriteAppend {
		rows = inserted
	} else if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM "+target+where).Scan(&rows); err != nil {
		return 0, 0, classify(op+": count rows of "+name, err)
	}
	if partition != "" && rows != before+inserted {
		_, lo, hi, _ := warehouse.ParsePartitionID(partition)
		return 0, 0, warehouse.Errorf(warehouse.InvalidArgument, op,
			"%d of %d rows fall outside partition %s (%s must be >= %s and < %s, and not NULL); nothing was written",
			before+inserted-rows, inserted, name, r.meta.PartitionField, lo, hi)
	}
	return rows, inserted, nil
}

// Copy copies a table or one partition onto another, as one transaction.
// A missing destination is created with the source's schema, partitioning
// and clustering when the copy is to the whole table (a partition
// destination must exist: NotFound otherwise); an existing one must have a compatible schema
// (warehouse.CompatibleSchemas) and the same partitioning, else
// FailedPrecondition. With DestPartition, every copied row must fall
// inside it (InvalidArgument otherwise) and the disposition applies to
// that partition only. Write "" means WriteEmpty, BigQuery's default for
// copy jobs. NotFound if the source (or the destination's dataset) is
// missing. A copy from an empty source partition is InvalidArgument, as
// in the BigQuery fake: what BigQuery does with one is undocumented.
func (w *Warehouse) Copy(ctx context.Context, job warehouse.CopyJob) (warehouse.JobResult, error) {
	const op = "copy"
	start := time.Now()
	res := warehouse.JobResult{JobID: w.jobID(job.JobID), RowsWritten: -1}
	if err := w.begin(ctx); err != nil {
		return res, err
	}
	for _, ref := range []warehouse.TableRef{job.Source, job.Dest} {
		if err := validRef(op, ref); err != nil {
			return res, err
		}
	}
	if !w.attached(job.Source.Project) {
		return res, warehouse.Errorf(warehouse.NotFound, op, "source table %s not found (no project %s)", job.Source, job.Source.Project)
	}
	if !w.attached(job.Dest.Project) {
		return res, warehouse.Errorf(warehouse.NotFound, op, "dataset %s.%s not found (no project %s)", job.Dest.Project, job.Dest.Dataset, job.Dest.Project)
	}
	write := job.Write
	if write == "" {
		write = warehouse.WriteEmpty
	}
	var rows, bytes int64
	var written *tableRecord
	err := w.writeTx(ctx, &job.Dest, "", "", func(tx *sql.Tx) error {
		sr, err := w.lookupTable(ctx, op, job.Source)
		if err != nil {
			return err
		}
		sschema, err := w.cachedSchema(ctx, op+" "+job.Source.String(), sr)
		if err != nil {
			return err
		}
		from := "(SELECT * FROM " + tableSQL(sr.ref)
		srcCond := ""
		if job.SourcePartition != "" {
			cond, err := partitionCond(op, sr, job.SourcePartition)
			if err != nil {
				return err
			}
			srcCond = cond
			from += " WHERE " + cond
		}
		from += ")"
		stage := strings.EqualFold(job.Source.String(), job.Dest.String())
		if stage {
			// A table copied onto itself is read before it is truncated.
			if _, err := tx.ExecContext(ctx, "CREATE OR REPLACE TEMP TABLE "+stageTable+" AS SELECT * FROM "+from); err != nil {
				return classify(op+": read "+job.Source.String(), err)
			}
			from = stageTable
		}
		dr, err := w.lookupTable(ctx, op, job.Dest)
		switch {
		case warehouse.IsNotFound(err) && job.DestPartition != "":
			return warehouse.Errorf(warehouse.NotFound, op, "destination table %s not found: create it before copying into partition %s", job.Dest, job.DestPartition)
		case warehouse.IsNotFound(err):
			if dr, err = w.createTable(ctx, tx, op, sr.likeMetadata(job.Dest, sschema)); err != nil {
				return createdConcurrently(op, err)
			}
		case err != nil:
			return err
		default:
			dschema, err := w.cachedSchema(ctx, op+" "+job.Dest.String(), dr)
			if err != nil {
				return err
			}
			if err := warehouse.CompatibleSchemas(sschema, dschema); err != nil {
				return warehouse.Errorf(warehouse.FailedPrecondition, op, "cannot copy %s onto %s: %v", job.Source, job.Dest, err)
			}
			if sr.meta.PartitionType != dr.meta.PartitionType || !strings.EqualFold(sr.meta.PartitionField, dr.meta.PartitionField) {
				return warehouse.Errorf(warehouse.FailedPrecondition, op, "cannot copy %s (partitioned by %s %q) onto %s (partitioned by %s %q)",
					job.Source, partitionName(sr.meta.PartitionType), sr.meta.PartitionField, job.Dest, partitionName(dr.meta.PartitionType), dr.meta.PartitionField)
			}
		}
		// What BigQuery does with a copy from an empty partition is
		// undocumented (an error, a no-op or a truncation): like the
		// BigQuery fake, refuse it, so that no caller depends on one answer
		// (DeletePartitions empties a partition explicitly). With
		// WRITE_TRUNCATE into a valid destination nothing refuses the copy
		// before its INSERT, whose row count is the source partition's, so
		// the emptiness is read from it (the transaction is rolled back all
		// the same): one count less per copy of a swap.
		countAfter := false
		if srcCond != "" && write == warehouse.WriteTruncate {
			countAfter = job.DestPartition == ""
			if !countAfter {
				_, err := partitionCond(op, dr, job.DestPartition)
				countAfter = err == nil
			}
		}
		if srcCond != "" && !countAfter {
			var n int64
			if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM "+tableSQL(sr.ref)+" WHERE "+srcCond).Scan(&n); err != nil {
				return classify(op+": count rows of "+job.Source.String()+"$"+job.SourcePartition, err)
			}
			if n == 0 {
				return emptySource(op, job)
			}
		}
		var inserted int64
		if rows, inserted, err = w.writeRows(ctx, tx, op, dr, from, job.DestPartition, write, false); err != nil {
			return err
		}
		if countAfter && inserted == 0 {
			return emptySource(op, job)
		}
		if stage {
			if _, err := tx.ExecContext(ctx, "DROP TABLE "+stageTable); err != nil {
				return classify(op+": drop staging table", err)
			}
		}
		bytes, err = w.tableBytes(ctx, tx, op, sr, sschema)
		written = dr
		return err
	})
	res.Duration = time.Since(start)
	if err != nil {
		return res, err
	}
	w.touch(written)
	res.RowsWritten, res.BytesProcessed = rows, bytes
	return res, nil
}

// emptySource refuses a copy from an empty source partition (see Copy).
func emptySource(op string, job warehouse.CopyJob) error {
	return warehouse.Errorf(warehouse.InvalidArgument, op, "copy from the empty partition %s$%s: what BigQuery does with it is undocumented; empty the destination partition explicitly (DeletePartitions)", job.Source, job.SourcePartition)
}

func partitionName(t warehouse.PartitionType) string {
	if t == warehouse.Unpartitioned {
		return "nothing"
	}
	return string(t)
}
