package duckdb

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/bqbackfill/bqbackfill/shared/warehouse"
	"github.com/bqbackfill/bqbackfill/shared/warehouse/duckdb/internal/bqsql"
)

// Table returns md.Ref's metadata: schema from DuckDB (column order kept,
// DuckDB types mapped to BigQuery's), the rest from the catalog, NumRows
// counted. NotFound if the table (or its project) does not exist.
func (w *Warehouse) Table(ctx context.Context, ref warehouse.TableRef) (*warehouse.TableMetadata, error) {
	const op = "table"
	if err := w.begin(ctx); err != nil {
		return nil, err
	}
	if err := validRef(op, ref); err != nil {
		return nil, err
	}
	if !w.attached(ref.Project) {
		return nil, warehouse.Errorf(warehouse.NotFound, op, "table %s not found (no project %s)", ref, ref.Project)
	}
	var md *warehouse.TableMetadata
	err := w.withConn(ctx, "", "", func(c *sql.Conn) error {
		r, err := w.lookupTable(ctx, op, ref)
		if err != nil {
			return err
		}
		schema, err := schemaOf(ctx, c, op+" "+ref.String(), r)
		if err != nil {
			return err
		}
		var n int64
		if err := c.QueryRowContext(ctx, "SELECT count(*) FROM "+tableSQL(r.ref)).Scan(&n); err != nil {
			return classify(op+": count rows of "+ref.String(), err)
		}
		r.modified = max(r.modified, w.lastChange(r))
		md = r.metadata(schema, n)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return md, nil
}

// metadata assembles TableMetadata from a record and its schema.
func (r *tableRecord) metadata(schema warehouse.Schema, rows int64) *warehouse.TableMetadata {
	md := &warehouse.TableMetadata{
		Ref:                    r.ref,
		Schema:                 schema,
		PartitionType:          r.meta.PartitionType,
		PartitionField:         r.meta.PartitionField,
		PartitionExpiration:    time.Duration(r.meta.PartitionExpirationMS) * time.Millisecond,
		RequirePartitionFilter: r.meta.RequirePartitionFilter,
		Clustering:             r.meta.Clustering,
		Labels:                 r.meta.Labels,
		Description:            r.meta.Description,
		FriendlyName:           r.meta.FriendlyName,
		NumRows:                rows,
		Created:                time.UnixMicro(r.created).UTC(),
		Modified:               time.UnixMicro(r.modified).UTC(),
	}
	if r.expires > 0 {
		md.Expiration = time.UnixMicro(r.expires).UTC()
	}
	return md
}

// Partitions counts the rows of each partition, in ascending ID order.
// Rows whose partitioning column is NULL are reported under "__NULL__"
// (after the dated partitions); an unpartitioned table reports one
// partition with ID "". NotFound if the table does not exist.
func (w *Warehouse) Partitions(ctx context.Context, ref warehouse.TableRef) ([]warehouse.Partition, error) {
	const op = "partitions"
	if err := w.begin(ctx); err != nil {
		return nil, err
	}
	if err := validRef(op, ref); err != nil {
		return nil, err
	}
	if !w.attached(ref.Project) {
		return nil, warehouse.Errorf(warehouse.NotFound, op, "table %s not found (no project %s)", ref, ref.Project)
	}
	var parts []warehouse.Partition
	err := w.withConn(ctx, "", "", func(c *sql.Conn) error {
		r, err := w.lookupTable(ctx, op, ref)
		if err != nil {
			return err
		}
		if !r.partitioned() {
			var n int64
			if err := c.QueryRowContext(ctx, "SELECT count(*) FROM "+tableSQL(r.ref)).Scan(&n); err != nil {
				return classify(op+" of "+ref.String(), err)
			}
			parts = []warehouse.Partition{{ID: "", Rows: n}}
			return nil
		}
		format := "%Y%m%d"
		if r.meta.PartitionType == warehouse.Month {
			format = "%Y%m"
		}
		rows, err := c.QueryContext(ctx, "SELECT strftime("+bqsql.QuoteIdent(r.meta.PartitionField)+", '"+format+"') AS id, count(*) FROM "+
			tableSQL(r.ref)+" GROUP BY id")
		if err != nil {
			return classify(op+" of "+ref.String(), err)
		}
		defer rows.Close()
		for rows.Next() {
			var id sql.NullString
			var n int64
			if err := rows.Scan(&id, &n); err != nil {
				return classify(op+" of "+ref.String(), err)
			}
			p := warehouse.Partition{ID: id.String, Rows: n}
			if !id.Valid {
				p.ID = warehouse.NullPartitionID
			}
			parts = append(parts, p)
		}
		return classify(op+" of "+ref.String(), rows.Err())
	})
	if err != nil {
		return nil, err
	}
	sort.Slice(parts, func(i, j int) bool { return parts[i].ID < parts[j].ID })
	return parts, nil
}

// EnsureDataset creates project.dataset (and the project's file) if
// missing. An existing dataset is left as it is.
func (w *Warehouse) EnsureDataset(ctx context.Context, project, dataset string, defaultTableExpiration time.Duration) error {
	return w.ensureDataset(ctx, "ensure dataset", project, &datasetRecord{name: dataset, defaultExpirationMS: defaultTableExpiration.Milliseconds()}, true)
}

// ensureDataset creates a dataset; with ifNotExists an existing one is
// fine, otherwise it is AlreadyExists.
func (w *Warehouse) ensureDataset(ctx context.Context, op, project string, d *datasetRecord, ifNotExists bool) error {
	if err := w.begin(ctx); err != nil {
		return err
	}
	if err := validRef(op, warehouse.TableRef{Project: project, Dataset: d.name, Table: "-"}); err != nil {
		return err
	}
	if err := w.attach(ctx, project, true); err != nil {
		return err
	}
	// Dataset creation is rare; serialising it avoids two transactions
	// each inserting a catalog row for the same new schema.
	w.ddlMu.Lock()
	defer w.ddlMu.Unlock()
	return w.inTx(ctx, "", "", func(tx *sql.Tx) error {
		err := w.createDataset(ctx, tx, op, project, d)
		if ifNotExists && warehouse.IsAlreadyExists(err) {
			return nil
		}
		return err
	})
}

// CreateTable creates md.Ref with md's schema and metadata. NotFound if
// the dataset does not exist; AlreadyExists if the table does.
// Ingestion-time partitioning (a partition type without a field) is not
// supported and fails with InvalidArgument.
func (w *Warehouse) CreateTable(ctx context.Context, md warehouse.TableMetadata) error {
	const op = "create table"
	if err := w.begin(ctx); err != nil {
		return err
	}
	if err := validRef(op, md.Ref); err != nil {
		return err
	}
	if !w.attached(md.Ref.Project) {
		return warehouse.Errorf(warehouse.NotFound, op, "dataset %s.%s not found (no project %s)", md.Ref.Project, md.Ref.Dataset, md.Ref.Project)
	}
	return w.inTx(ctx, "", "", func(tx *sql.Tx) error {
		_, err := w.createTable(ctx, tx, op, md)
		return err
	})
}

// CreateTableLike creates dst with src's schema (column order and
// descriptions kept), partitioning, partition expiration, partition-filter
// requirement, clustering and labels (merged with opts.Labels), expiring
// at opts.Expiration. NotFound if src or dst's dataset is missing;
// AlreadyExists if dst exists.
func (w *Warehouse) CreateTableLike(ctx context.Context, src, dst warehouse.TableRef, opts warehouse.CreateLikeOptions) error {
	const op = "create table like"
	if err := w.begin(ctx); err != nil {
		return err
	}
	for _, ref := range []warehouse.TableRef{src, dst} {
		if err := validRef(op, ref); err != nil {
			return err
		}
	}
	if !w.attached(src.Project) {
		return warehouse.Errorf(warehouse.NotFound, op, "source table %s not found (no project %s)", src, src.Project)
	}
	if !w.attached(dst.Project) {
		return warehouse.Errorf(warehouse.NotFound, op, "dataset %s.%s not found (no project %s)", dst.Project, dst.Dataset, dst.Project)
	}
	return w.inTx(ctx, "", "", func(tx *sql.Tx) error {
		sr, err := loadTable(ctx, tx, op, src)
		if err != nil {
			return err
		}
		schema, err := schemaOf(ctx, tx, op+" "+src.String(), sr)
		if err != nil {
			return err
		}
		md := sr.likeMetadata(dst, schema)
		md.Labels = mergeLabels(sr.meta.Labels, opts.Labels)
		md.Expiration = opts.Expiration
		_, err = w.createTable(ctx, tx, op, md)
		return err
	})
}

// likeMetadata is the metadata a table created like r gets: schema,
// partitioning and clustering; no labels, description or expiration.
func (r *tableRecord) likeMetadata(dst warehouse.TableRef, schema warehouse.Schema) warehouse.TableMetadata {
	return warehouse.TableMetadata{
		Ref:                    dst,
		Schema:                 schema,
		PartitionType:          r.meta.PartitionType,
		PartitionField:         r.meta.PartitionField,
		PartitionExpiration:    time.Duration(r.meta.PartitionExpirationMS) * time.Millisecond,
		RequirePartitionFilter: r.meta.RequirePartitionFilter,
		Clustering:             r.meta.Clustering,
	}
}

// Backup clones src into a new table dst: schema, partitioning,
// clustering, description and rows, with src's labels merged with labels,
// expiring at expiration (zero: never). An expired table is dropped at the
// next call to the warehouse, so it then reads as NotFound. AlreadyExists
// if dst exists; NotFound if src (or dst's dataset) is missing.
func (w *Warehouse) Backup(ctx context.Context, src, dst warehouse.TableRef, expiration time.Time, labels map[string]string) (warehouse.JobResult, error) {
	const op = "backup"
	start := time.Now()
	res := warehouse.JobResult{JobID: w.jobID("backup"), RowsWritten: -1}
	if err := w.begin(ctx); err != nil {
		return res, err
	}
	for _, ref := range []warehouse.TableRef{src, dst} {
		if err := validRef(op, ref); err != nil {
			return res, err
		}
	}
	if !w.attached(src.Project) {
		return res, warehouse.Errorf(warehouse.NotFound, op, "source table %s not found (no project %s)", src, src.Project)
	}
	if !w.attached(dst.Project) {
		return res, warehouse.Errorf(warehouse.NotFound, op, "dataset %s.%s not found (no project %s)", dst.Project, dst.Dataset, dst.Project)
	}
	err := w.inTx(ctx, "", "", func(tx *sql.Tx) error {
		sr, err := loadTable(ctx, tx, op, src)
		if err != nil {
			return err
		}
		schema, err := schemaOf(ctx, tx, op+" "+src.String(), sr)
		if err != nil {
			return err
		}
		md := sr.likeMetadata(dst, schema)
		md.Labels = mergeLabels(sr.meta.Labels, labels)
		md.Description = sr.meta.Description
		md.FriendlyName = sr.meta.FriendlyName
		md.Expiration = expiration
		dr, err := w.createTable(ctx, tx, op, md)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO "+tableSQL(dr.ref)+" SELECT * FROM "+tableSQL(sr.ref)); err != nil {
			return classify(op+": copy rows of "+src.String(), err)
		}
		if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM "+tableSQL(dr.ref)).Scan(&res.RowsWritten); err != nil {
			return classify(op+": count rows of "+dst.String(), err)
		}
		res.BytesProcessed, err = w.tableBytes(ctx, tx, op, sr, schema)
		return err
	})
	res.Duration = time.Since(start)
	return res, err
}

// Delete drops a table. NotFound if it does not exist.
func (w *Warehouse) Delete(ctx context.Context, ref warehouse.TableRef) error {
	const op = "delete"
	if err := w.begin(ctx); err != nil {
		return err
	}
	if err := validRef(op, ref); err != nil {
		return err
	}
	if !w.attached(ref.Project) {
		return warehouse.Errorf(warehouse.NotFound, op, "table %s not found (no project %s)", ref, ref.Project)
	}
	return w.changeCatalog(ctx, "", "", func(tx *sql.Tx) error {
		r, err := loadTable(ctx, tx, op, ref)
		if err != nil {
			return err
		}
		return dropTable(ctx, tx, op, r.ref)
	})
}

// etag renders an IAM policy version as an ETag.
func etag(version int64) string { return fmt.Sprintf("duckdb-iam-v%d", version) }

// TableIAM returns the table's stored IAM policy (no bindings until one
// is set). NotFound if the table does not exist.
func (w *Warehouse) TableIAM(ctx context.Context, ref warehouse.TableRef) (warehouse.Policy, error) {
	const op = "get table IAM policy"
	if err := w.begin(ctx); err != nil {
		return warehouse.Policy{}, err
	}
	if err := validRef(op, ref); err != nil {
		return warehouse.Policy{}, err
	}
	if !w.attached(ref.Project) {
		return warehouse.Policy{}, warehouse.Errorf(warehouse.NotFound, op, "table %s not found (no project %s)", ref, ref.Project)
	}
	var p warehouse.Policy
	err := w.withConn(ctx, "", "", func(c *sql.Conn) error {
		r, err := w.lookupTable(ctx, op, ref)
		if err != nil {
			return err
		}
		p = warehouse.Policy{Bindings: r.bindings, ETag: etag(r.iamVersion)}
		return nil
	})
	return p, err
}

// SetTableIAM replaces the table's IAM policy. FailedPrecondition if
// p.ETag is set and is not the current policy's ETag; NotFound if the
// table does not exist.
func (w *Warehouse) SetTableIAM(ctx context.Context, ref warehouse.TableRef, p warehouse.Policy) error {
	const op = "set table IAM policy"
	if err := w.begin(ctx); err != nil {
		return err
	}
	if err := validRef(op, ref); err != nil {
		return err
	}
	if !w.attached(ref.Project) {
		return warehouse.Errorf(warehouse.NotFound, op, "table %s not found (no project %s)", ref, ref.Project)
	}
	for _, b := range p.Bindings {
		if b.Role == "" {
			return warehouse.Errorf(warehouse.InvalidArgument, op, "a binding of the policy for %s has no role", ref)
		}
		for _, m := range b.Members {
			if !strings.Contains(m, ":") {
				return warehouse.Errorf(warehouse.InvalidArgument, op, "member %q of role %s is not of the form type:id", m, b.Role)
			}
		}
	}
	bindings, err := json.Marshal(bindingsOrEmpty(p.Bindings))
	if err != nil {
		return fmt.Errorf("%s: encode policy: %w", op, err)
	}
	return w.changeCatalog(ctx, "", "", func(tx *sql.Tx) error {
		r, err := loadTable(ctx, tx, op, ref)
		if err != nil {
			return err
		}
		if p.ETag != "" && p.ETag != etag(r.iamVersion) {
			return warehouse.Errorf(warehouse.FailedPrecondition, op, "policy of %s changed since it was read (etag %s, current %s)", ref, p.ETag, etag(r.iamVersion))
		}
		_, err = tx.ExecContext(ctx, "UPDATE "+tablesTable(ref.Project)+" SET iam = ?, iam_version = iam_version + 1 WHERE lower(dataset) = lower(?) AND lower(name) = lower(?)",
			string(bindings), ref.Dataset, ref.Table)
		return classify(op+" of "+ref.String(), err)
	})
}

// DatasetAccess returns the dataset's stored access entries (set with
// SetDatasetAccess or CREATE SCHEMA; none by default). NotFound if the
// dataset does not exist.
func (w *Warehouse) DatasetAccess(ctx context.Context, project, dataset string) ([]warehouse.AccessEntry, error) {
	const op = "get dataset access"
	if err := w.begin(ctx); err != nil {
		return nil, err
	}
	if err := validProject(op, project); err != nil {
		return nil, err
	}
	var entries []warehouse.AccessEntry
	err := w.withConn(ctx, "", "", func(c *sql.Conn) error {
		d, err := w.loadDataset(ctx, c, op, project, dataset)
		if err != nil {
			return err
		}
		entries = d.access
		return nil
	})
	return entries, err
}

// SetDatasetAccess replaces a dataset's access entries. It is how the
// local stack and tests give a dataset the access list BigQuery would
// have. NotFound if the dataset does not exist.
func (w *Warehouse) SetDatasetAccess(ctx context.Context, project, dataset string, entries []warehouse.AccessEntry) error {
	const op = "set dataset access"
	if err := w.begin(ctx); err != nil {
		return err
	}
	if err := validProject(op, project); err != nil {
		return err
	}
	for _, e := range entries {
		if e.Role == "" || e.EntityType == "" || e.Entity == "" {
			return warehouse.Errorf(warehouse.InvalidArgument, op, "access entry %+v needs a role, an entity type and an entity", e)
		}
	}
	if entries == nil {
		entries = []warehouse.AccessEntry{}
	}
	access, err := json.Marshal(entries)
	if err != nil {
		return fmt.Errorf("%s: encode access entries: %w", op, err)
	}
	return w.inTx(ctx, "", "", func(tx *sql.Tx) error {
		if _, err := w.loadDataset(ctx, tx, op, project, dataset); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, "UPDATE "+datasetsTable(project)+" SET access = ? WHERE lower(dataset) = lower(?)", string(access), dataset)
		return classify(op+" of "+project+"."+dataset, err)
	})
}
