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

// Query runs a query job.
//
// With a Destination, job.SQL must be one SELECT (or WITH) statement. Its
// result is matched to the destination's columns by name. With Partition
// set ("20240101" for a DAY table, "202401" for a MONTH table) every
// result row must fall inside that partition, else the job fails with
// InvalidArgument and nothing is written; WriteTruncate (the default)
// replaces exactly that partition, WriteAppend adds to it and WriteEmpty
// fails with AlreadyExists unless it is empty. Without Partition the
// disposition applies to the whole table (WriteTruncate keeps the table's
// schema and metadata and replaces all rows). A missing destination is
// created from the result's schema (types normalised to BigQuery's) when
// no Partition is given, and is NotFound otherwise. Each write is one
// DuckDB transaction. RowsWritten is the number of rows in the destination
// partition (or table) afterwards.
//
// Without a Destination, job.SQL is a script of one or more statements
// (see docs/duckdb-sql.md), run in order; RowsWritten is the number of
// rows the last DML statement changed, or -1.
//
// A DryRun parses, translates and binds every statement without running
// anything. BytesProcessed (for dry runs and real runs) is an estimate:
// the summed size of every table the statements read, as rows × a fixed
// width per column type (see docs/duckdb-sql.md), with no partition
// pruning.
//
// BillingProject and Labels are accepted and not used: DuckDB has no
// billing and no job history. JobID is used as the prefix of the
// returned job id.
func (w *Warehouse) Query(ctx context.Context, job warehouse.QueryJob) (warehouse.JobResult, error) {
	const op = "query"
	start := time.Now()
	res := warehouse.JobResult{JobID: w.jobID(job.JobID), RowsWritten: -1}
	if err := w.begin(ctx); err != nil {
		return res, err
	}
	stmts, err := w.parse(op, job)
	if err != nil {
		return res, err
	}
	switch {
	case job.DryRun:
		res.BytesProcessed, err = w.dryRun(ctx, op, job, stmts)
	case job.Destination != nil:
		res.RowsWritten, res.BytesProcessed, err = w.queryInto(ctx, op, job, stmts)
	default:
		var out scriptResult
		out, err = w.runScript(ctx, op, job, stmts, false)
		res.RowsWritten, res.BytesProcessed = out.affected, out.bytes
	}
	res.Duration = time.Since(start)
	return res, err
}

// Read runs a script (usually one SELECT) and returns the last statement's
// rows (see readRows for the Go types of values; DATE is civil.Date). A
// last DML statement returns one row with column num_dml_affected_rows; a
// last DDL statement returns no columns. A Destination or DryRun is
// InvalidArgument.
func (w *Warehouse) Read(ctx context.Context, job warehouse.QueryJob) (*warehouse.Rows, error) {
	const op = "read"
	if err := w.begin(ctx); err != nil {
		return nil, err
	}
	if job.Destination != nil || job.DryRun {
		return nil, warehouse.Errorf(warehouse.InvalidArgument, op, "Read takes neither a destination nor a dry run; use Query")
	}
	stmts, err := w.parse(op, job)
	if err != nil {
		return nil, err
	}
	out, err := w.runScript(ctx, op, job, stmts, true)
	if err != nil {
		return nil, err
	}
	return out.rows, nil
}

// parse translates job.SQL and rejects references to the catalog schema.
func (w *Warehouse) parse(op string, job warehouse.QueryJob) ([]bqsql.Statement, error) {
	stmts, err := bqsql.Parse(job.SQL, job.Params)
	if err != nil {
		return nil, &warehouse.Error{Code: warehouse.InvalidArgument, Op: op, Err: err}
	}
	for _, st := range stmts {
		paths := append([]bqsql.Path{st.Target}, st.Reads...)
		if st.Table != nil {
			paths = append(paths, st.Table.Like, st.Table.Copy, st.Table.Clone)
		}
		for _, p := range paths {
			for _, part := range p {
				if strings.EqualFold(part, metaSchema) {
					return nil, warehouse.Errorf(warehouse.InvalidArgument, op, "%s: the name %s is reserved by the DuckDB warehouse", p, metaSchema)
				}
			}
		}
	}
	return stmts, nil
}

// resolveTable completes a table path with the job's defaults.
func resolveTable(op string, p bqsql.Path, job warehouse.QueryJob) (warehouse.TableRef, error) {
	var ref warehouse.TableRef
	switch len(p) {
	case 3:
		ref = warehouse.TableRef{Project: p[0], Dataset: p[1], Table: p[2]}
	case 2:
		ref = warehouse.TableRef{Project: job.DefaultProject, Dataset: p[0], Table: p[1]}
	case 1:
		ref = warehouse.TableRef{Project: job.DefaultProject, Dataset: job.DefaultDataset, Table: p[0]}
	default:
		return ref, warehouse.Errorf(warehouse.InvalidArgument, op, "bad table name %q", p)
	}
	if ref.Project == "" || ref.Dataset == "" {
		return ref, warehouse.Errorf(warehouse.InvalidArgument, op,
			"table name %q must be qualified as project.dataset.table (or set the job's default project and dataset)", p)
	}
	return ref, validRef(op, ref)
}

// resolveDataset completes a dataset path with the job's default project.
func resolveDataset(op string, p bqsql.Path, job warehouse.QueryJob) (project, dataset string, err error) {
	switch len(p) {
	case 2:
		project, dataset = p[0], p[1]
	case 1:
		project, dataset = job.DefaultProject, p[0]
	}
	if project == "" {
		return "", "", warehouse.Errorf(warehouse.InvalidArgument, op, "dataset name %q must be qualified as project.dataset (or set the job's default project)", p)
	}
	return project, dataset, validRef(op, warehouse.TableRef{Project: project, Dataset: dataset, Table: "-"})
}

// scriptResult is what running a script produced.
type scriptResult struct {
	rows     *warehouse.Rows
	affected int64
	bytes    int64
}

// runScript runs statements in order; each commits on its own.
func (w *Warehouse) runScript(ctx context.Context, op string, job warehouse.QueryJob, stmts []bqsql.Statement, wantRows bool) (scriptResult, error) {
	out := scriptResult{affected: -1, rows: &warehouse.Rows{Columns: []string{}, Rows: [][]any{}}}
	for i, st := range stmts {
		last := i == len(stmts)-1
		sop := op
		if len(stmts) > 1 {
			sop = fmt.Sprintf("%s (statement %d)", op, i+1)
		}
		switch {
		case st.Kind == bqsql.Query:
			err := w.retry(ctx, func() error {
				return w.withConn(ctx, job.DefaultProject, job.DefaultDataset, func(c *sql.Conn) error {
					if !last || !wantRows {
						_, err := c.ExecContext(ctx, st.SQL)
						return classify(sop, err)
					}
					rows, err := c.QueryContext(ctx, st.SQL)
					if err != nil {
						return classify(sop, err)
					}
					defer rows.Close()
					r, err := readRows(rows)
					if err != nil {
						return classify(sop, err)
					}
					out.rows = r
					return nil
				})
			})
			if err != nil {
				return out, err
			}
			b, err := w.estimateReadsConn(ctx, sop, job, st.Reads)
			if err != nil {
				return out, err
			}
			out.bytes += b
		case st.Kind.IsDML():
			n, err := w.execDML(ctx, sop, job, st)
			if err != nil {
				return out, err
			}
			out.affected = n
			out.rows = &warehouse.Rows{Columns: []string{"num_dml_affected_rows"}, Rows: [][]any{{n}}}
		default:
			if err := w.execDDL(ctx, sop, job, st); err != nil {
				return out, err
			}
			out.rows = &warehouse.Rows{Columns: []string{}, Rows: [][]any{}}
		}
	}
	return out, nil
}

// execDML runs one INSERT, DELETE, UPDATE, MERGE or TRUNCATE TABLE and
// returns the number of rows it changed.
func (w *Warehouse) execDML(ctx context.Context, op string, job warehouse.QueryJob, st bqsql.Statement) (int64, error) {
	ref, err := resolveTable(op, st.Target, job)
	if err != nil {
		return 0, err
	}
	if !w.attached(ref.Project) {
		return 0, warehouse.Errorf(warehouse.NotFound, op, "table %s not found (no project %s)", ref, ref.Project)
	}
	var n int64
	r, err := w.lookupTable(ctx, op, ref)
	if err != nil {
		return 0, err
	}
	err = w.inTx(ctx, job.DefaultProject, job.DefaultDataset, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, st.SQL)
		if err != nil {
			return classify(op, err)
		}
		n, err = res.RowsAffected()
		return classify(op, err)
	})
	if err != nil {
		return 0, err
	}
	w.touch(r)
	return n, nil
}

// execDDL runs CREATE SCHEMA, CREATE TABLE, DROP TABLE and DROP SCHEMA.
func (w *Warehouse) execDDL(ctx context.Context, op string, job warehouse.QueryJob, st bqsql.Statement) error {
	switch st.Kind {
	case bqsql.CreateSchema:
		project, dataset, err := resolveDataset(op, st.Target, job)
		if err != nil {
			return err
		}
		d := &datasetRecord{name: dataset}
		for _, o := range st.Options {
			switch o.Name {
			case "description":
				if err := w.evalOption(ctx, op, o, &d.description); err != nil {
					return err
				}
			case "labels":
				d.labels = o.Labels
			case "default_table_expiration_days":
				var days float64
				if err := w.evalOption(ctx, op, o, &days); err != nil {
					return err
				}
				d.defaultExpirationMS = int64(days * 24 * float64(time.Hour/time.Millisecond))
			case "location", "friendly_name":
				// Meaningless locally; accepted so BigQuery DDL runs unchanged.
			default:
				return &warehouse.Error{Code: warehouse.InvalidArgument, Op: op, Err: &bqsql.UnsupportedError{Construct: "schema option " + o.Name,
					Hint: "schemas accept description, labels, default_table_expiration_days, location, friendly_name"}}
			}
		}
		return w.ensureDataset(ctx, op, project, d, st.IfNotExists)
	case bqsql.CreateTable:
		return w.execCreateTable(ctx, op, job, st)
	case bqsql.DropTable:
		ref, err := resolveTable(op, st.Target, job)
		if err != nil {
			return err
		}
		if err := w.Delete(ctx, ref); err != nil && !(st.IfExists && warehouse.IsNotFound(err)) {
			return err
		}
		return nil
	case bqsql.DropSchema:
		return w.dropSchema(ctx, op, job, st)
	}
	return warehouse.Errorf(warehouse.InvalidArgument, op, "statement kind %d is not executable", st.Kind)
}

// evalOption evaluates an OPTIONS value with DuckDB into dst (a *string,
// *float64, *bool or *int64 of unix microseconds for timestamps).
func (w *Warehouse) evalOption(ctx context.Context, op string, o bqsql.Option, dst any) error {
	if o.Labels != nil {
		return warehouse.Errorf(warehouse.InvalidArgument, op, "option %s takes a single value", o.Name)
	}
	var cast string
	switch dst.(type) {
	case *string:
		cast = "CAST((" + o.Expr + ") AS VARCHAR)"
	case *float64:
		cast = "CAST((" + o.Expr + ") AS DOUBLE)"
	case *bool:
		cast = "CAST((" + o.Expr + ") AS BOOLEAN)"
	case *int64:
		cast = "epoch_us(CAST((" + o.Expr + ") AS TIMESTAMPTZ))"
	default:
		return fmt.Errorf("%s: option %s: unsupported destination %T", op, o.Name, dst)
	}
	if err := w.db.QueryRowContext(ctx, "SELECT "+cast).Scan(dst); err != nil {
		return classify(fmt.Sprintf("%s: option %s", op, o.Name), err)
	}
	return nil
}

// execCreateTable runs CREATE [OR REPLACE] TABLE [IF NOT EXISTS] with a
// column list, AS query, LIKE, COPY or CLONE.
func (w *Warehouse) execCreateTable(ctx context.Context, op string, job warehouse.QueryJob, st bqsql.Statement) error {
	def := st.Table
	ref, err := resolveTable(op, st.Target, job)
	if err != nil {
		return err
	}
	if !w.attached(ref.Project) {
		return warehouse.Errorf(warehouse.NotFound, op, "dataset %s.%s not found (no project %s)", ref.Project, ref.Dataset, ref.Project)
	}
	applyOptions, err := w.tableOptions(ctx, op, st.Options)
	if err != nil {
		return err
	}
	var source bqsql.Path
	copyRows := false
	switch {
	case def.Like != nil:
		source = def.Like
		if len(def.Columns) > 0 {
			return warehouse.Errorf(warehouse.InvalidArgument, op, "CREATE TABLE … LIKE cannot also declare columns")
		}
	case def.Copy != nil:
		source, copyRows = def.Copy, true
	case def.Clone != nil:
		source, copyRows = def.Clone, true
	}
	var sourceRef warehouse.TableRef
	if source != nil {
		if sourceRef, err = resolveTable(op, source, job); err != nil {
			return err
		}
		if !w.attached(sourceRef.Project) {
			return warehouse.Errorf(warehouse.NotFound, op, "source table %s not found (no project %s)", sourceRef, sourceRef.Project)
		}
	}
	return w.changeCatalog(ctx, job.DefaultProject, job.DefaultDataset, func(tx *sql.Tx) error {
		md := warehouse.TableMetadata{Ref: ref, Schema: def.Columns, PartitionType: def.PartitionType, PartitionField: def.PartitionField, Clustering: def.Clustering}
		var sr *tableRecord
		switch {
		case source != nil:
			var err error
			if sr, err = loadTable(ctx, tx, op, sourceRef); err != nil {
				return err
			}
			schema, err := schemaOf(ctx, tx, op+" "+sourceRef.String(), sr)
			if err != nil {
				return err
			}
			md = sr.likeMetadata(ref, schema)
			if def.PartitionField != "" {
				md.PartitionType, md.PartitionField = def.PartitionType, def.PartitionField
			}
			if def.Clustering != nil {
				md.Clustering = def.Clustering
			}
			if copyRows {
				md.Labels, md.Description, md.FriendlyName = sr.meta.Labels, sr.meta.Description, sr.meta.FriendlyName
			}
		case def.Query != "":
			if _, err := tx.ExecContext(ctx, "CREATE OR REPLACE TEMP TABLE "+stageTable+" AS "+def.Query); err != nil {
				return classify(op, err)
			}
			if len(def.Columns) == 0 {
				schema, err := describe(ctx, tx, op+": result schema", "DESCRIBE "+stageTable, nil)
				if err != nil {
					return err
				}
				md.Schema = schema
			}
		}
		applyOptions(&md)
		existing, err := loadTable(ctx, tx, op, ref)
		switch {
		case err == nil && st.IfNotExists:
			return nil
		case err == nil && st.OrReplace:
			if err := dropTable(ctx, tx, op, existing.ref); err != nil {
				return err
			}
		case err != nil && !warehouse.IsNotFound(err):
			return err
		}
		r, err := w.createTable(ctx, tx, op, md)
		if err != nil {
			return err
		}
		switch {
		case copyRows:
			if _, err := tx.ExecContext(ctx, "INSERT INTO "+tableSQL(r.ref)+" SELECT * FROM "+tableSQL(sr.ref)); err != nil {
				return classify(op+": copy rows of "+sourceRef.String(), err)
			}
		case def.Query != "":
			// Declared columns take the result by position, as BigQuery does.
			insert := "INSERT INTO " + tableSQL(r.ref) + " BY NAME SELECT * FROM " + stageTable
			if len(def.Columns) > 0 {
				insert = "INSERT INTO " + tableSQL(r.ref) + " SELECT * FROM " + stageTable
			}
			if _, err := tx.ExecContext(ctx, insert); err != nil {
				return classify(op+": write "+ref.String(), err)
			}
			if _, err := tx.ExecContext(ctx, "DROP TABLE "+stageTable); err != nil {
				return classify(op+": drop staging table", err)
			}
		}
		return nil
	})
}

// tableOptions evaluates CREATE TABLE options and returns a function that
// applies them over the metadata the table would otherwise get.
func (w *Warehouse) tableOptions(ctx context.Context, op string, opts []bqsql.Option) (func(*warehouse.TableMetadata), error) {
	var apply []func(*warehouse.TableMetadata)
	for _, o := range opts {
		switch o.Name {
		case "labels":
			labels := o.Labels
			apply = append(apply, func(md *warehouse.TableMetadata) { md.Labels = mergeLabels(md.Labels, labels) })
		case "description":
			var v string
			if err := w.evalOption(ctx, op, o, &v); err != nil {
				return nil, err
			}
			apply = append(apply, func(md *warehouse.TableMetadata) { md.Description = v })
		case "friendly_name":
			var v string
			if err := w.evalOption(ctx, op, o, &v); err != nil {
				return nil, err
			}
			apply = append(apply, func(md *warehouse.TableMetadata) { md.FriendlyName = v })
		case "expiration_timestamp":
			var us int64
			if err := w.evalOption(ctx, op, o, &us); err != nil {
				return nil, err
			}
			apply = append(apply, func(md *warehouse.TableMetadata) { md.Expiration = time.UnixMicro(us).UTC() })
		case "partition_expiration_days":
			var days float64
			if err := w.evalOption(ctx, op, o, &days); err != nil {
				return nil, err
			}
			apply = append(apply, func(md *warehouse.TableMetadata) {
				md.PartitionExpiration = time.Duration(days * float64(24*time.Hour))
			})
		case "require_partition_filter":
			var v bool
			if err := w.evalOption(ctx, op, o, &v); err != nil {
				return nil, err
			}
			apply = append(apply, func(md *warehouse.TableMetadata) { md.RequirePartitionFilter = v })
		default:
			return nil, &warehouse.Error{Code: warehouse.InvalidArgument, Op: op, Err: &bqsql.UnsupportedError{Construct: "table option " + o.Name,
				Hint: "tables accept description, friendly_name, labels, expiration_timestamp, partition_expiration_days, require_partition_filter"}}
		}
	}
	return func(md *warehouse.TableMetadata) {
		for _, f := range apply {
			f(md)
		}
	}, nil
}

// dropSchema runs DROP SCHEMA [IF EXISTS] … [CASCADE].
func (w *Warehouse) dropSchema(ctx context.Context, op string, job warehouse.QueryJob, st bqsql.Statement) error {
	project, dataset, err := resolveDataset(op, st.Target, job)
	if err != nil {
		return err
	}
	return w.changeCatalog(ctx, "", "", func(tx *sql.Tx) error {
		d, err := w.loadDataset(ctx, tx, op, project, dataset)
		if err != nil {
			if st.IfExists && warehouse.IsNotFound(err) {
				return nil
			}
			return err
		}
		rows, err := tx.QueryContext(ctx, "SELECT name FROM "+tablesTable(project)+" WHERE lower(dataset) = lower(?)", dataset)
		if err != nil {
			return classify(op, err)
		}
		var tables []string
		for rows.Next() {
			var name string
			if err := rows.Scan(&name); err != nil {
				rows.Close()
				return classify(op, err)
			}
			tables = append(tables, name)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return classify(op, err)
		}
		if len(tables) > 0 && !st.Cascade {
			return warehouse.Errorf(warehouse.FailedPrecondition, op, "dataset %s.%s still has %d table(s); use DROP SCHEMA … CASCADE", project, d.name, len(tables))
		}
		for _, t := range tables {
			if err := dropTable(ctx, tx, op, warehouse.TableRef{Project: project, Dataset: d.name, Table: t}); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, "DROP SCHEMA "+bqsql.QuoteIdent(project)+"."+bqsql.QuoteIdent(d.name)+" CASCADE"); err != nil {
			return classify(op, err)
		}
		_, err = tx.ExecContext(ctx, "DELETE FROM "+datasetsTable(project)+" WHERE lower(dataset) = lower(?)", dataset)
		return classify(op, err)
	})
}

// dryRun validates every statement without running it and estimates the
// bytes the script would read.
func (w *Warehouse) dryRun(ctx context.Context, op string, job warehouse.QueryJob, stmts []bqsql.Statement) (int64, error) {
	var total int64
	err := w.withConn(ctx, job.DefaultProject, job.DefaultDataset, func(c *sql.Conn) error {
		for _, st := range stmts {
			var check string
			reads := st.Reads
			switch {
			case st.Kind == bqsql.Query || st.Kind.IsDML():
				check = st.SQL
				if st.Kind == bqsql.Delete || st.Kind == bqsql.Update || st.Kind == bqsql.Merge {
					reads = append(reads, st.Target)
				}
			case st.Kind == bqsql.CreateTable && st.Table.Query != "":
				check = st.Table.Query
			case st.Kind == bqsql.CreateTable:
				for _, p := range []bqsql.Path{st.Table.Like, st.Table.Copy, st.Table.Clone} {
					if p == nil {
						continue
					}
					ref, err := resolveTable(op, p, job)
					if err != nil {
						return err
					}
					if !w.attached(ref.Project) {
						return warehouse.Errorf(warehouse.NotFound, op, "source table %s not found (no project %s)", ref, ref.Project)
					}
					if _, err := w.lookupTable(ctx, op, ref); err != nil {
						return err
					}
					if st.Table.Copy != nil || st.Table.Clone != nil {
						reads = append(reads, p)
					}
				}
			}
			if check != "" {
				prepared, err := c.PrepareContext(ctx, check)
				if err != nil {
					return classify(op+" (dry run)", err)
				}
				prepared.Close()
			}
			b, err := w.estimateReads(ctx, c, op, job, reads)
			if err != nil {
				return err
			}
			total += b
		}
		return nil
	})
	return total, err
}

// estimateReadsConn is estimateReads on a connection of its own.
func (w *Warehouse) estimateReadsConn(ctx context.Context, op string, job warehouse.QueryJob, paths []bqsql.Path) (int64, error) {
	if len(paths) == 0 {
		return 0, nil
	}
	var total int64
	err := w.withConn(ctx, "", "", func(c *sql.Conn) error {
		var err error
		total, err = w.estimateReads(ctx, c, op, job, paths)
		return err
	})
	return total, err
}

// estimateReads sums tableBytes over the distinct tables the paths name.
// Paths that name no table (a CTE, a missing table whose absence the
// query itself reports) count zero.
func (w *Warehouse) estimateReads(ctx context.Context, q querier, op string, job warehouse.QueryJob, paths []bqsql.Path) (int64, error) {
	seen := map[string]bool{}
	var total int64
	for _, p := range paths {
		ref, err := resolveTable(op, p, job)
		if err != nil || !w.attached(ref.Project) {
			continue
		}
		key := strings.ToLower(ref.String())
		if seen[key] {
			continue
		}
		seen[key] = true
		r, err := w.lookupTable(ctx, op, ref)
		if warehouse.IsNotFound(err) {
			continue
		}
		if err != nil {
			return 0, err
		}
		b, err := w.tableBytes(ctx, q, op, r, nil)
		if err != nil {
			return 0, err
		}
		total += b
	}
	return total, nil
}

// tableBytes estimates the bytes a full scan of a table reads: its rows
// times the row width of its schema (see fieldWidth). schema may be nil,
// in which case the width is read from DuckDB once per table incarnation
// and cached.
func (w *Warehouse) tableBytes(ctx context.Context, q querier, op string, r *tableRecord, schema warehouse.Schema) (int64, error) {
	key := recordKey(r)
	width, ok := w.widths.Load(key)
	if !ok {
		if schema == nil {
			var err error
			if schema, err = schemaOf(ctx, q, op+" "+r.ref.String(), r); err != nil {
				return 0, err
			}
		}
		var n int64
		for _, f := range schema {
			n += fieldWidth(f)
		}
		width, _ = w.widths.LoadOrStore(key, n)
	}
	var rows int64
	if err := q.QueryRowContext(ctx, "SELECT count(*) FROM "+tableSQL(r.ref)).Scan(&rows); err != nil {
		return 0, classify(op+": count rows of "+r.ref.String(), err)
	}
	return rows * width.(int64), nil
}

// fieldWidth is the nominal size of one value of f, after BigQuery's data
// size table: 8 bytes for INT64, FLOAT64, DATE, DATETIME, TIMESTAMP and
// TIME, 16 for NUMERIC and INTERVAL, 1 for BOOL, 2 + 16 assumed bytes for
// STRING, BYTES and JSON, the sum of the subfields for RECORD; a REPEATED
// field counts as one element.
func fieldWidth(f warehouse.Field) int64 {
	switch warehouse.CanonicalType(f.Type) {
	case "BOOL":
		return 1
	case "NUMERIC", "INTERVAL":
		return 16
	case "BIGNUMERIC":
		return 32
	case "STRING", "BYTES", "JSON", "GEOGRAPHY":
		return 18
	case "RECORD":
		var n int64
		for _, sub := range f.Fields {
			n += fieldWidth(sub)
		}
		return n
	}
	return 8
}
