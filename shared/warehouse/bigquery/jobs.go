package bigquery

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"time"

	"cloud.google.com/go/bigquery"
	"google.golang.org/api/iterator"

	"github.com/bqbackfill/bqbackfill/shared/backoff"
	"github.com/bqbackfill/bqbackfill/shared/warehouse"
)

// Query runs a query job and waits for it.
//
// With a Destination the result goes to that table, or with Partition to
// the decorated table "table$<Partition>" (create disposition CREATE_NEVER:
// the table must exist; NotFound otherwise). Write defaults to
// WriteTruncate, which makes the call idempotent: running it twice leaves
// the same data. Without a Destination the statement runs for its effects
// (DDL, DML) and RowsWritten is -1.
//
// The job runs in BillingProject, else the destination's project, else the
// default project; its id is JobID (sanitised) plus a random suffix.
// DefaultProject/DefaultDataset set the job's default dataset
// (DefaultProject alone is InvalidArgument: BigQuery has no default
// project other than the job's). A dry run sends the same configuration
// with dryRun set (so BigQuery also validates the destination), returns
// the estimate in BytesProcessed and RowsWritten -1, and writes nothing.
// Labels are job labels.
//
// RowsWritten is read after the job from
// <project>.<dataset>.INFORMATION_SCHEMA.PARTITIONS for a partition (a
// metadata query billed to the job project) or from the table's numRows
// for a whole table; it is -1 when that lookup fails (the job's success
// stands). Failures: InvalidArgument for bad SQL, bad parameters or rows
// outside the partition; NotFound for a missing table or dataset;
// PermissionDenied; Transient after the retries (a job that failed
// transiently is re-run as a new job).
func (w *Warehouse) Query(ctx context.Context, job warehouse.QueryJob) (warehouse.JobResult, error) {
	const op = "query"
	res := warehouse.JobResult{RowsWritten: -1}
	subject := "query"
	if job.Destination != nil {
		subject = "query into " + decorated(*job.Destination, job.Partition)
	}
	q, c, err := w.buildQuery(job, subject)
	if err != nil {
		return res, err
	}
	if job.DryRun {
		var j *bigquery.Job
		err := w.do(ctx, op, subject+" (dry run)", func(ctx context.Context) error {
			var err error
			j, err = q.Run(ctx)
			return err
		})
		if err != nil {
			return res, err
		}
		res.JobID = j.ID()
		if st := j.LastStatus(); st != nil && st.Statistics != nil {
			res.BytesProcessed = st.Statistics.TotalBytesProcessed
			if qs, ok := st.Statistics.Details.(*bigquery.QueryStatistics); ok && res.BytesProcessed == 0 {
				res.BytesProcessed = qs.TotalBytesProcessed
			}
		}
		return res, nil
	}
	j, st, err := w.runJob(ctx, op, subject, func(ctx context.Context) (*bigquery.Job, error) { return q.Run(ctx) })
	if err != nil {
		return res, err
	}
	fillResult(&res, j, st)
	if job.Destination != nil {
		res.RowsWritten = w.rowsIn(ctx, c, *job.Destination, job.Partition)
	}
	return res, nil
}

// Read runs a read-only query (no Destination, no DryRun: InvalidArgument
// otherwise) and returns all its rows, with the result's column names.
// Values are the client's Go values (string, int64, float64, bool, []byte,
// *big.Rat, civil.Date, civil.DateTime, civil.Time, time.Time, nil); a
// RECORD is a []any of its fields, a REPEATED column a []any. The job runs
// in BillingProject, else the default project. It is retried as a whole on
// transient failures (it writes nothing).
func (w *Warehouse) Read(ctx context.Context, job warehouse.QueryJob) (*warehouse.Rows, error) {
	const op = "read"
	if job.Destination != nil || job.DryRun || job.Partition != "" {
		return nil, warehouse.Errorf(warehouse.InvalidArgument, op, "a read takes no destination, partition or dry run")
	}
	q, _, err := w.buildQuery(job, "read")
	if err != nil {
		return nil, err
	}
	var out *warehouse.Rows
	err = w.do(ctx, op, "read", func(_ context.Context) error {
		// A read may outlast CallTimeout: it waits for the query.
		rows, err := readAll(ctx, q)
		out = rows
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func readAll(ctx context.Context, q *bigquery.Query) (*warehouse.Rows, error) {
	it, err := q.Read(ctx)
	if err != nil {
		return nil, err
	}
	out := &warehouse.Rows{}
	for {
		var vals []bigquery.Value
		err := it.Next(&vals)
		if errors.Is(err, iterator.Done) {
			break
		}
		if err != nil {
			return nil, err
		}
		row := make([]any, len(vals))
		for i, v := range vals {
			row[i] = fromValue(v)
		}
		out.Rows = append(out.Rows, row)
	}
	for _, f := range it.Schema {
		out.Columns = append(out.Columns, f.Name)
	}
	return out, nil
}

// buildQuery validates job and returns the configured query and the client
// of its job project. Validation failures are InvalidArgument.
func (w *Warehouse) buildQuery(job warehouse.QueryJob, subject string) (*bigquery.Query, *bigquery.Client, error) {
	const op = "query"
	invalid := func(format string, args ...any) error {
		return &warehouse.Error{Code: warehouse.InvalidArgument, Op: op, Err: fmt.Errorf("%s: %s", subject, fmt.Sprintf(format, args...))}
	}
	if strings.TrimSpace(job.SQL) == "" {
		return nil, nil, invalid("empty SQL")
	}
	if job.Partition != "" && job.Destination == nil {
		return nil, nil, invalid("partition %q without a destination", job.Partition)
	}
	if job.Partition != "" && !validDecorator(job.Partition) {
		return nil, nil, invalid("partition %q is not a partition id", job.Partition)
	}
	if job.DefaultProject != "" && job.DefaultDataset == "" {
		return nil, nil, invalid("default project %q needs a default dataset", job.DefaultProject)
	}
	if job.Destination != nil && (job.Destination.Project == "" || job.Destination.Dataset == "" || job.Destination.Table == "") {
		return nil, nil, invalid("destination %q is not project.dataset.table", job.Destination.String())
	}
	write := job.Write
	if job.Destination != nil && write == "" {
		write = warehouse.WriteTruncate
	}
	if job.Destination != nil && !validWrite(write) {
		return nil, nil, invalid("unknown write disposition %q", write)
	}
	params, err := queryParams(job.Params)
	if err != nil {
		return nil, nil, invalid("%v", err)
	}
	project := job.BillingProject
	if project == "" && job.Destination != nil {
		project = job.Destination.Project
	}
	c, err := w.client(project)
	if err != nil {
		return nil, nil, &warehouse.Error{Code: warehouse.Unknown, Op: op, Err: err}
	}
	q := c.Query(job.SQL)
	q.Parameters = params
	q.Location = w.cfg.Location
	q.DryRun = job.DryRun
	if len(job.Labels) > 0 {
		q.Labels = job.Labels
	}
	if job.DefaultDataset != "" {
		q.DefaultProjectID = job.DefaultProject
		if q.DefaultProjectID == "" {
			q.DefaultProjectID = c.Project()
		}
		q.DefaultDatasetID = job.DefaultDataset
	}
	if job.JobID != "" {
		q.JobID = jobIDPrefix(job.JobID)
		q.AddJobIDSuffix = true
	}
	if d := job.Destination; d != nil {
		q.Dst = c.DatasetInProject(d.Project, d.Dataset).Table(decoratedID(d.Table, job.Partition))
		q.WriteDisposition = bigquery.TableWriteDisposition(write)
		if write == warehouse.WriteTruncate && job.Partition == "" {
			// A whole-table WRITE_TRUNCATE would replace the table's schema
			// with the result's (losing descriptions, REQUIRED modes and
			// policy tags) and drop its constraints; WRITE_TRUNCATE_DATA
			// replaces the rows only (warehouse.WriteTruncate).
			q.WriteDisposition = bigquery.WriteTruncateData
		}
		q.CreateDisposition = bigquery.CreateIfNeeded
		if job.Partition != "" {
			q.CreateDisposition = bigquery.CreateNever
		}
	}
	return q, c, nil
}

func validWrite(w warehouse.WriteDisposition) bool {
	switch w {
	case warehouse.WriteTruncate, warehouse.WriteAppend, warehouse.WriteEmpty:
		return true
	}
	return false
}

func decoratedID(table, partition string) string {
	if partition == "" {
		return table
	}
	return table + "$" + partition
}

func decorated(ref warehouse.TableRef, partition string) string {
	return ref.Project + "." + ref.Dataset + "." + decoratedID(ref.Table, partition)
}

// Copy copies the table or partition Source[$SourcePartition] onto
// Dest[$DestPartition] with a copy job. Write defaults to WriteEmpty
// (BigQuery's default: never overwrite by omission); with WriteTruncate
// on a partition it replaces exactly that partition, idempotently. A
// partition destination must exist (CREATE_NEVER); a whole-table
// destination is created if missing. The job runs in BillingProject, else
// Dest's project. RowsWritten is counted as for Query. Before the job the
// source and destination metadata are read: NotFound if the source is
// missing; FailedPrecondition if the destination exists with another
// schema or partitioning (checkCopyTarget). The job may fail with AlreadyExists
// (WriteEmpty onto data) or InvalidArgument (mismatched partitioning, rows
// outside the destination partition); Transient after the retries.
func (w *Warehouse) Copy(ctx context.Context, job warehouse.CopyJob) (warehouse.JobResult, error) {
	const op = "copy"
	res := warehouse.JobResult{RowsWritten: -1}
	subject := fmt.Sprintf("copy %s to %s", decorated(job.Source, job.SourcePartition), decorated(job.Dest, job.DestPartition))
	for _, p := range []string{job.SourcePartition, job.DestPartition} {
		if p != "" && !validDecorator(p) {
			return res, warehouse.Errorf(warehouse.InvalidArgument, op, "%s: partition %q is not a partition id", subject, p)
		}
	}
	if job.Source.IsZero() || job.Dest.IsZero() {
		return res, warehouse.Errorf(warehouse.InvalidArgument, op, "%s: source and destination are required", subject)
	}
	write := job.Write
	if write == "" {
		write = warehouse.WriteEmpty
	}
	if !validWrite(write) {
		return res, warehouse.Errorf(warehouse.InvalidArgument, op, "%s: unknown write disposition %q", subject, write)
	}
	project := job.BillingProject
	if project == "" {
		project = job.Dest.Project
	}
	c, err := w.client(project)
	if err != nil {
		return res, &warehouse.Error{Code: warehouse.Unknown, Op: op, Err: err}
	}
	keep, err := w.checkCopyTarget(ctx, job, subject)
	if err != nil {
		return res, err
	}
	src := c.DatasetInProject(job.Source.Project, job.Source.Dataset).Table(decoratedID(job.Source.Table, job.SourcePartition))
	dst := c.DatasetInProject(job.Dest.Project, job.Dest.Dataset).Table(decoratedID(job.Dest.Table, job.DestPartition))
	j, st, err := w.runJob(ctx, op, subject, func(ctx context.Context) (*bigquery.Job, error) {
		cp := dst.CopierFrom(src)
		cp.WriteDisposition = bigquery.TableWriteDisposition(write)
		cp.CreateDisposition = bigquery.CreateIfNeeded
		if job.DestPartition != "" {
			cp.CreateDisposition = bigquery.CreateNever
		}
		if len(job.Labels) > 0 {
			cp.Labels = job.Labels
		}
		cp.Location = w.cfg.Location
		if job.JobID != "" {
			cp.JobID = jobIDPrefix(job.JobID)
			cp.AddJobIDSuffix = true
		}
		return cp.Run(ctx)
	})
	if err != nil {
		return res, err
	}
	fillResult(&res, j, st)
	if keep != nil && write == warehouse.WriteTruncate && job.SourcePartition == "" && job.DestPartition == "" {
		if err := w.restoreSchema(ctx, job.Dest, keep, subject); err != nil {
			return res, err
		}
	}
	res.RowsWritten = w.rowsIn(ctx, c, job.Dest, job.DestPartition)
	return res, nil
}

// restoreSchema puts the destination's schema (descriptions, modes, policy
// tags and other column options) and constraints back after a whole-table
// WRITE_TRUNCATE copy, which gives it the source's: copy jobs offer no
// WRITE_TRUNCATE_DATA. When the source was created like the destination
// (staging is), nothing differs and nothing is written. The schemas were
// checked compatible before the copy, so the patch only relaxes modes and
// resets column options.
func (w *Warehouse) restoreSchema(ctx context.Context, ref warehouse.TableRef, keep *bigquery.TableMetadata, subject string) error {
	const op = "copy"
	c, err := w.defaultClient(op)
	if err != nil {
		return err
	}
	t := w.table(c, ref)
	var now *bigquery.TableMetadata
	if err := w.do(ctx, op, ref.String(), func(ctx context.Context) error {
		var err error
		now, err = t.Metadata(ctx)
		return err
	}); err != nil {
		return err
	}
	if sameSchema(now.Schema, keep.Schema) && reflect.DeepEqual(now.TableConstraints, keep.TableConstraints) {
		return nil
	}
	upd := bigquery.TableMetadataToUpdate{Schema: keep.Schema, TableConstraints: keep.TableConstraints}
	if keep.TableConstraints == nil {
		upd.TableConstraints = &bigquery.TableConstraints{}
	}
	return w.do(ctx, op, subject+": restore the schema of "+ref.String(), func(ctx context.Context) error {
		_, err := t.Update(ctx, upd, now.ETag)
		return err
	})
}

// sameSchema compares two schemas with every column option.
func sameSchema(a, b bigquery.Schema) bool {
	ja, erra := json.Marshal(a)
	jb, errb := json.Marshal(b)
	return erra == nil && errb == nil && string(ja) == string(jb)
}

// checkCopyTarget refuses, with FailedPrecondition, a copy onto an
// existing destination whose schema does not match the source's column
// for column (warehouse.CompatibleSchemas; a copy maps columns by
// position) or whose time partitioning (type and field) differs — as the
// DuckDB warehouse does. This is stricter than BigQuery for a whole-table
// WRITE_TRUNCATE copy, which would replace the destination's schema: a
// backfill never means to change a table's schema by copying. A missing
// source is NotFound; a missing destination is left to the copy job (it
// creates a whole table, and fails NotFound for a partition).
//
// It returns the destination's raw metadata (nil if it does not exist),
// whose schema a whole-table copy keeps (restoreSchema).
func (w *Warehouse) checkCopyTarget(ctx context.Context, job warehouse.CopyJob, subject string) (*bigquery.TableMetadata, error) {
	srcMD, err := w.Table(ctx, job.Source)
	if err != nil {
		return nil, err
	}
	raw, err := w.rawTable(ctx, job.Dest)
	if warehouse.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	dstMD := fromTableMetadata(job.Dest, raw)
	if err := warehouse.CompatibleSchemas(srcMD.Schema, dstMD.Schema); err != nil {
		return nil, warehouse.Errorf(warehouse.FailedPrecondition, "copy", "%s: schemas differ: %v", subject, err)
	}
	if srcMD.PartitionType != dstMD.PartitionType || !strings.EqualFold(srcMD.PartitionField, dstMD.PartitionField) {
		return nil, warehouse.Errorf(warehouse.FailedPrecondition, "copy", "%s: partitioning differs: source %s %q, destination %s %q",
			subject, partitioningName(srcMD.PartitionType), srcMD.PartitionField, partitioningName(dstMD.PartitionType), dstMD.PartitionField)
	}
	return raw, nil
}

func partitioningName(t warehouse.PartitionType) string {
	if t == warehouse.Unpartitioned {
		return "unpartitioned"
	}
	return string(t)
}

// Backup clones src into the new table dst with a CLONE copy job
// (WRITE_EMPTY), run in dst's project with labels as job labels, then sets
// dst's expiration (zero: never, overriding any dataset default) and adds
// labels to dst's labels. The cloud client cannot set the copy job's
// destinationExpirationTime, so the expiration is a second call; if it
// fails, the fresh clone is deleted (best effort) so that a retry starts
// clean and an AlreadyExists always means a finished backup.
// AlreadyExists if dst exists; NotFound if src is missing. RowsWritten is
// dst's numRows.
func (w *Warehouse) Backup(ctx context.Context, src, dst warehouse.TableRef, expiration time.Time, labels map[string]string) (warehouse.JobResult, error) {
	const op = "backup"
	res := warehouse.JobResult{RowsWritten: -1}
	subject := fmt.Sprintf("clone %s to %s", src, dst)
	c, err := w.client(dst.Project)
	if err != nil {
		return res, &warehouse.Error{Code: warehouse.Unknown, Op: op, Err: err}
	}
	srcT := c.DatasetInProject(src.Project, src.Dataset).Table(src.Table)
	dstT := c.DatasetInProject(dst.Project, dst.Dataset).Table(dst.Table)
	j, st, err := w.runJob(ctx, op, subject, func(ctx context.Context) (*bigquery.Job, error) {
		cp := dstT.CopierFrom(srcT)
		cp.OperationType = bigquery.CloneOperation
		cp.WriteDisposition = bigquery.WriteEmpty
		cp.Location = w.cfg.Location
		if len(labels) > 0 {
			cp.Labels = labels
		}
		return cp.Run(ctx)
	})
	if err != nil {
		return res, err
	}
	fillResult(&res, j, st)

	upd := bigquery.TableMetadataToUpdate{ExpirationTime: bigquery.NeverExpire}
	if !expiration.IsZero() {
		upd.ExpirationTime = expiration
	}
	for k, v := range labels {
		upd.SetLabel(k, v)
	}
	var md *bigquery.TableMetadata
	err = w.do(ctx, op, "set expiration of "+dst.String(), func(ctx context.Context) error {
		var err error
		md, err = dstT.Update(ctx, upd, "")
		return err
	})
	if err != nil {
		if derr := w.Delete(ctx, dst); derr != nil && !warehouse.IsNotFound(derr) {
			return res, errors.Join(err, fmt.Errorf("remove the unfinished backup %s: %w", dst, derr))
		}
		return res, err
	}
	res.RowsWritten = int64(md.NumRows)
	return res, nil
}

// fillResult copies a finished job's id, statistics and duration.
func fillResult(res *warehouse.JobResult, j *bigquery.Job, st *bigquery.JobStatus) {
	res.JobID = j.ID()
	if st == nil || st.Statistics == nil {
		return
	}
	res.BytesProcessed = st.Statistics.TotalBytesProcessed
	if s, e := st.Statistics.StartTime, st.Statistics.EndTime; !s.IsZero() && !e.IsZero() && e.After(s) {
		res.Duration = e.Sub(s)
	}
}

// runJob starts a job with start and waits for it. A start that fails
// transiently, or a job that finishes with a transient error, is retried
// (a new job, new id) when Config.Retry allows more than one attempt;
// polling failures only re-poll the same job.
func (w *Warehouse) runJob(ctx context.Context, op, subject string, start func(context.Context) (*bigquery.Job, error)) (*bigquery.Job, *bigquery.JobStatus, error) {
	var (
		j      *bigquery.Job
		st     *bigquery.JobStatus
		polled bool // the wait failed: its polls were retried, the error is final
	)
	err := w.retryPolicy(w.cfg.Retry.Attempts).Do(ctx, func(err error) (bool, time.Duration) {
		return !polled && isTransient(err), 0
	}, func(ctx context.Context) error {
		j, st = nil, nil
		err := w.call(ctx, func(ctx context.Context) error {
			var err error
			j, err = start(ctx)
			return err
		})
		if err == nil {
			st, err = w.wait(ctx, op, subject, j)
			if err != nil {
				if ctx.Err() != nil {
					w.cancel(ctx, op, subject, j)
				}
				polled = true
				return err // already classified
			}
			if jerr := st.Err(); jerr != nil {
				err = fmt.Errorf("job %s failed: %w", j.ID(), jerr)
			}
		}
		if err != nil {
			return classify(op, subject, err)
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return j, st, nil
}

// cancelWait bounds how long a caller that gave up waits for its job to
// stop: a task being shut down has about 10 s before it is killed.
const cancelWait = 8 * time.Second

// cancel stops a job its caller gave up on (ctx ended: the worker is
// giving the partition back), and waits a little for it to stop, so that
// the redelivered run does not overlap a job still writing the same
// partition and pay for it twice. BigQuery's cancel is asynchronous and
// best effort ("the client will need to poll for the job status"): the
// wait is wait's poll loop, bounded by cancelWait; a job that finishes
// anyway wrote the same WRITE_TRUNCATE result.
func (w *Warehouse) cancel(ctx context.Context, op, subject string, j *bigquery.Job) {
	cctx, stop := context.WithTimeout(context.WithoutCancel(ctx), cancelWait)
	defer stop()
	if err := w.call(cctx, j.Cancel); err != nil {
		return
	}
	_, _ = w.wait(cctx, op, subject, j) // best effort: see above
}

// errRunning is a poll's answer while the job runs: the poll schedule
// polls again.
var errRunning = errors.New("job still running")

// pollSchedule is the wait between polls of a running job: PollInterval,
// growing by half each poll up to MaxPollInterval, for as long as ctx
// allows (no jitter: one client polls one job).
func (w *Warehouse) pollSchedule() backoff.Policy {
	return backoff.Policy{Attempts: math.MaxInt, Initial: w.cfg.PollInterval, Multiplier: 1.5, Max: w.cfg.MaxPollInterval, Sleep: w.cfg.Sleep, Unwrapped: true}
}

// wait polls a job with jobs.get until it is DONE, on pollSchedule; the
// status the job was started with counts as the first poll. A failed poll
// is retried per the retry policy (pollAttempts in a row); other errors
// end the wait.
func (w *Warehouse) wait(ctx context.Context, op, subject string, j *bigquery.Job) (*bigquery.JobStatus, error) {
	st := j.LastStatus()
	err := w.pollSchedule().Run(ctx, func(err error) backoff.Verdict {
		return backoff.Verdict{Retry: errors.Is(err, errRunning)}
	}, func(ctx context.Context) error {
		if st == nil {
			err := w.doN(ctx, pollAttempts, op, subject, func(ctx context.Context) error {
				var err error
				st, err = j.Status(ctx)
				if err != nil {
					return fmt.Errorf("poll job %s: %w", j.ID(), err)
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
		if !st.Done() {
			st = nil
			return errRunning
		}
		return nil
	})
	if errors.Is(err, errRunning) { // ctx ended between polls
		cause := ctx.Err()
		if cause == nil {
			cause = err
		}
		return nil, classify(op, subject, fmt.Errorf("wait for job %s: %w", j.ID(), cause))
	}
	if err != nil {
		return nil, err
	}
	return st, nil
}

// rowsIn counts the rows in ref (or its partition) after a job, or -1 if
// the lookup fails. c is the job's client (its project pays the
// INFORMATION_SCHEMA query).
func (w *Warehouse) rowsIn(ctx context.Context, c *bigquery.Client, ref warehouse.TableRef, partition string) int64 {
	if partition == "" {
		var md *bigquery.TableMetadata
		err := w.do(ctx, "count rows", ref.String(), func(ctx context.Context) error {
			var err error
			md, err = c.DatasetInProject(ref.Project, ref.Dataset).Table(ref.Table).Metadata(ctx)
			return err
		})
		if err != nil {
			return -1
		}
		return int64(md.NumRows)
	}
	parts, err := w.partitions(ctx, c, ref, partition)
	if err != nil {
		return -1
	}
	for _, p := range parts {
		if p.ID == partition {
			return p.Rows
		}
	}
	return 0
}

// partitionsSQL lists the partitions of one table with their row counts.
// __UNPARTITIONED__ may have one row per storage tier, hence the SUM.
const partitionsSQL = "SELECT partition_id, SUM(total_rows) AS total_rows\n" +
	"FROM `%s.%s.INFORMATION_SCHEMA.PARTITIONS`\n" +
	"WHERE table_name = @table_name AND partition_id IS NOT NULL%s\n" +
	"GROUP BY partition_id\nORDER BY partition_id"

// partitions queries INFORMATION_SCHEMA.PARTITIONS for ref (only the
// partition only, if set) with client c.
func (w *Warehouse) partitions(ctx context.Context, c *bigquery.Client, ref warehouse.TableRef, only string) ([]warehouse.Partition, error) {
	const op = "partitions"
	filter := ""
	params := []bigquery.QueryParameter{{Name: "table_name", Value: ref.Table}}
	if only != "" {
		filter = " AND partition_id = @partition_id"
		params = append(params, bigquery.QueryParameter{Name: "partition_id", Value: only})
	}
	q := c.Query(fmt.Sprintf(partitionsSQL, ref.Project, ref.Dataset, filter))
	q.Parameters = params
	q.Location = w.cfg.Location
	var out []warehouse.Partition
	err := w.do(ctx, op, ref.String(), func(_ context.Context) error {
		out = nil
		rows, err := readAll(ctx, q)
		if err != nil {
			return err
		}
		idx := map[string]int{}
		for i, c := range rows.Columns {
			idx[c] = i
		}
		pi, okP := idx["partition_id"]
		ri, okR := idx["total_rows"]
		if !okP || !okR {
			return fmt.Errorf("INFORMATION_SCHEMA.PARTITIONS answered columns %v, want partition_id and total_rows", rows.Columns)
		}
		for _, r := range rows.Rows {
			id, _ := r[pi].(string)
			n, _ := r[ri].(int64)
			out = append(out, warehouse.Partition{ID: id, Rows: n})
		}
		return nil
	})
	return out, err
}
