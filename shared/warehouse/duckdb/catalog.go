package duckdb

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/bqbackfill/bqbackfill/shared/warehouse"
	"github.com/bqbackfill/bqbackfill/shared/warehouse/duckdb/internal/bqsql"
)

// metaSchema is the schema, in every project file, holding the catalog of
// what DuckDB does not keep itself.
const metaSchema = "_bqbackfill"

// catalogDDL creates a project's catalog tables. Times are unix
// microseconds (0 = unset); structured values are JSON text.
func catalogDDL(project string) string {
	s := bqsql.QuoteIdent(project) + "." + bqsql.QuoteIdent(metaSchema)
	return "CREATE SCHEMA IF NOT EXISTS " + s + ";\n" +
		"CREATE TABLE IF NOT EXISTS " + s + ".datasets (dataset VARCHAR NOT NULL, default_expiration_ms BIGINT NOT NULL, " +
		"description VARCHAR NOT NULL, labels VARCHAR NOT NULL, access VARCHAR NOT NULL, created_us BIGINT NOT NULL);\n" +
		"CREATE TABLE IF NOT EXISTS " + s + ".tables (dataset VARCHAR NOT NULL, name VARCHAR NOT NULL, meta VARCHAR NOT NULL, " +
		"iam VARCHAR NOT NULL, iam_version BIGINT NOT NULL, created_us BIGINT NOT NULL, modified_us BIGINT NOT NULL, expires_us BIGINT NOT NULL)"
}

func datasetsTable(project string) string {
	return bqsql.QuoteIdent(project) + "." + bqsql.QuoteIdent(metaSchema) + ".datasets"
}

func tablesTable(project string) string {
	return bqsql.QuoteIdent(project) + "." + bqsql.QuoteIdent(metaSchema) + ".tables"
}

// tableMeta is the part of a table's metadata DuckDB does not hold.
type tableMeta struct {
	PartitionType          warehouse.PartitionType `json:"partition_type,omitempty"`
	PartitionField         string                  `json:"partition_field,omitempty"`
	PartitionExpirationMS  int64                   `json:"partition_expiration_ms,omitempty"`
	RequirePartitionFilter bool                    `json:"require_partition_filter,omitempty"`
	Clustering             []string                `json:"clustering,omitempty"`
	Labels                 map[string]string       `json:"labels,omitempty"`
	Description            string                  `json:"description,omitempty"`
	FriendlyName           string                  `json:"friendly_name,omitempty"`
	// FieldDescriptions maps a column path (a.b for nested fields) to its
	// description.
	FieldDescriptions map[string]string `json:"field_descriptions,omitempty"`
}

// tableRecord is one row of the tables catalog.
type tableRecord struct {
	ref        warehouse.TableRef // names as stored (DuckDB names are case-insensitive)
	meta       tableMeta
	bindings   []warehouse.Binding
	iamVersion int64
	created    int64
	modified   int64
	expires    int64
}

func (r *tableRecord) partitioned() bool { return r.meta.PartitionType != warehouse.Unpartitioned }

// clone returns a deep copy of r, so that what callers receive never
// aliases the record cache.
func (r *tableRecord) clone() *tableRecord {
	cp := *r
	cp.meta.Clustering = slices.Clone(r.meta.Clustering)
	cp.meta.Labels = maps.Clone(r.meta.Labels)
	cp.meta.FieldDescriptions = maps.Clone(r.meta.FieldDescriptions)
	if r.bindings != nil {
		cp.bindings = make([]warehouse.Binding, len(r.bindings))
		for i, b := range r.bindings {
			cp.bindings[i] = warehouse.Binding{Role: b.Role, Members: slices.Clone(b.Members)}
		}
	}
	return &cp
}

// loadTable reads a table's catalog record; NotFound if it has none.
func loadTable(ctx context.Context, q querier, op string, ref warehouse.TableRef) (*tableRecord, error) {
	var metaJSON, iamJSON string
	r := &tableRecord{ref: ref}
	err := q.QueryRowContext(ctx, "SELECT dataset, name, meta, iam, iam_version, created_us, modified_us, expires_us FROM "+
		tablesTable(ref.Project)+" WHERE lower(dataset) = lower(?) AND lower(name) = lower(?)", ref.Dataset, ref.Table).
		Scan(&r.ref.Dataset, &r.ref.Table, &metaJSON, &iamJSON, &r.iamVersion, &r.created, &r.modified, &r.expires)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, warehouse.Errorf(warehouse.NotFound, op, "table %s not found", ref)
	}
	if err != nil {
		return nil, classify(op+": read catalog of "+ref.String(), err)
	}
	if err := json.Unmarshal([]byte(metaJSON), &r.meta); err != nil {
		return nil, fmt.Errorf("%s: catalog entry of %s is corrupt: %w", op, ref, err)
	}
	if err := json.Unmarshal([]byte(iamJSON), &r.bindings); err != nil {
		return nil, fmt.Errorf("%s: IAM policy of %s is corrupt: %w", op, ref, err)
	}
	return r, nil
}

// insertTable writes a new catalog record.
func insertTable(ctx context.Context, q querier, r *tableRecord) error {
	metaJSON, err := json.Marshal(r.meta)
	if err != nil {
		return fmt.Errorf("encode table metadata: %w", err)
	}
	iamJSON, err := json.Marshal(bindingsOrEmpty(r.bindings))
	if err != nil {
		return fmt.Errorf("encode IAM policy: %w", err)
	}
	_, err = q.ExecContext(ctx, "INSERT INTO "+tablesTable(r.ref.Project)+" VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
		r.ref.Dataset, r.ref.Table, string(metaJSON), string(iamJSON), r.iamVersion, r.created, r.modified, r.expires)
	return err
}

func bindingsOrEmpty(b []warehouse.Binding) []warehouse.Binding {
	if b == nil {
		return []warehouse.Binding{}
	}
	return b
}

// deleteTableRecord removes a table's catalog record.
func deleteTableRecord(ctx context.Context, q querier, ref warehouse.TableRef) error {
	_, err := q.ExecContext(ctx, "DELETE FROM "+tablesTable(ref.Project)+" WHERE lower(dataset) = lower(?) AND lower(name) = lower(?)",
		ref.Dataset, ref.Table)
	return err
}

// datasetRecord is one row of the datasets catalog.
type datasetRecord struct {
	name                string
	defaultExpirationMS int64
	description         string
	labels              map[string]string
	access              []warehouse.AccessEntry
	created             int64
}

// loadDataset reads a dataset's record; NotFound if the project or the
// dataset does not exist.
func (w *Warehouse) loadDataset(ctx context.Context, q querier, op, project, dataset string) (*datasetRecord, error) {
	if !w.attached(project) {
		return nil, warehouse.Errorf(warehouse.NotFound, op, "dataset %s.%s not found (no project %s)", project, dataset, project)
	}
	d := &datasetRecord{}
	var labels, access string
	err := q.QueryRowContext(ctx, "SELECT dataset, default_expiration_ms, description, labels, access, created_us FROM "+
		datasetsTable(project)+" WHERE lower(dataset) = lower(?)", dataset).
		Scan(&d.name, &d.defaultExpirationMS, &d.description, &labels, &access, &d.created)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, warehouse.Errorf(warehouse.NotFound, op, "dataset %s.%s not found", project, dataset)
	}
	if err != nil {
		return nil, classify(op+": read dataset "+project+"."+dataset, err)
	}
	if err := json.Unmarshal([]byte(labels), &d.labels); err != nil {
		return nil, fmt.Errorf("%s: labels of dataset %s.%s are corrupt: %w", op, project, dataset, err)
	}
	if err := json.Unmarshal([]byte(access), &d.access); err != nil {
		return nil, fmt.Errorf("%s: access entries of dataset %s.%s are corrupt: %w", op, project, dataset, err)
	}
	return d, nil
}

// createDataset creates the schema and its record. AlreadyExists if it exists.
func (w *Warehouse) createDataset(ctx context.Context, tx *sql.Tx, op, project string, d *datasetRecord) error {
	if _, err := w.loadDataset(ctx, tx, op, project, d.name); err == nil {
		return warehouse.Errorf(warehouse.AlreadyExists, op, "dataset %s.%s already exists", project, d.name)
	} else if !warehouse.IsNotFound(err) {
		return err
	}
	labels, err := json.Marshal(mapOrEmpty(d.labels))
	if err != nil {
		return fmt.Errorf("%s: encode labels: %w", op, err)
	}
	access := d.access
	if access == nil {
		access = []warehouse.AccessEntry{}
	}
	accessJSON, err := json.Marshal(access)
	if err != nil {
		return fmt.Errorf("%s: encode access entries: %w", op, err)
	}
	if _, err := tx.ExecContext(ctx, "CREATE SCHEMA IF NOT EXISTS "+bqsql.QuoteIdent(project)+"."+bqsql.QuoteIdent(d.name)); err != nil {
		return classify(op+": create schema "+project+"."+d.name, err)
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO "+datasetsTable(project)+" VALUES (?, ?, ?, ?, ?, ?)",
		d.name, d.defaultExpirationMS, d.description, string(labels), string(accessJSON), w.now().UnixMicro()); err != nil {
		return classify(op+": record dataset "+project+"."+d.name, err)
	}
	return nil
}

func mapOrEmpty(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

// createTable creates md.Ref and its catalog record inside tx. The caller
// has attached the project. NotFound if the dataset is missing,
// AlreadyExists if the table exists.
func (w *Warehouse) createTable(ctx context.Context, tx *sql.Tx, op string, md warehouse.TableMetadata) (*tableRecord, error) {
	ref := md.Ref
	ds, err := w.loadDataset(ctx, tx, op, ref.Project, ref.Dataset)
	if err != nil {
		return nil, err
	}
	ref.Dataset = ds.name
	if _, err := loadTable(ctx, tx, op, ref); err == nil {
		return nil, warehouse.Errorf(warehouse.AlreadyExists, op, "table %s already exists", ref)
	} else if !warehouse.IsNotFound(err) {
		return nil, err
	}
	if err := validateMetadata(op, md); err != nil {
		return nil, err
	}
	cols := make([]string, len(md.Schema))
	descs := map[string]string{}
	for i, f := range md.Schema {
		c, err := bqsql.ColumnDDL(f)
		if err != nil {
			return nil, &warehouse.Error{Code: warehouse.InvalidArgument, Op: op, Err: fmt.Errorf("column %s: %w", f.Name, err)}
		}
		cols[i] = c
		collectDescriptions("", f, descs)
	}
	if _, err := tx.ExecContext(ctx, "CREATE TABLE "+tableSQL(ref)+" ("+strings.Join(cols, ", ")+")"); err != nil {
		return nil, classify(op+" "+ref.String(), err)
	}
	now := w.now()
	r := &tableRecord{
		ref: ref,
		meta: tableMeta{
			PartitionType:          md.PartitionType,
			PartitionField:         md.PartitionField,
			PartitionExpirationMS:  md.PartitionExpiration.Milliseconds(),
			RequirePartitionFilter: md.RequirePartitionFilter,
			Clustering:             md.Clustering,
			Labels:                 md.Labels,
			Description:            md.Description,
			FriendlyName:           md.FriendlyName,
			FieldDescriptions:      descs,
		},
		created:  now.UnixMicro(),
		modified: now.UnixMicro(),
	}
	if len(descs) == 0 {
		r.meta.FieldDescriptions = nil
	}
	switch {
	case !md.Expiration.IsZero():
		r.expires = md.Expiration.UnixMicro()
	case ds.defaultExpirationMS > 0:
		r.expires = now.Add(time.Duration(ds.defaultExpirationMS) * time.Millisecond).UnixMicro()
	}
	if err := insertTable(ctx, tx, r); err != nil {
		return nil, classify(op+": record table "+ref.String(), err)
	}
	w.noteExpiry(r.expires)
	return r, nil
}

func collectDescriptions(prefix string, f warehouse.Field, out map[string]string) {
	if f.Description != "" {
		out[prefix+f.Name] = f.Description
	}
	for _, sub := range f.Fields {
		collectDescriptions(prefix+f.Name+".", sub, out)
	}
}

func applyDescriptions(prefix string, fields []warehouse.Field, descs map[string]string) {
	for i := range fields {
		if d, ok := descs[prefix+fields[i].Name]; ok {
			fields[i].Description = d
		}
		applyDescriptions(prefix+fields[i].Name+".", fields[i].Fields, descs)
	}
}

// validateMetadata checks what CreateTable needs before touching DuckDB.
func validateMetadata(op string, md warehouse.TableMetadata) error {
	bad := func(format string, args ...any) error {
		return warehouse.Errorf(warehouse.InvalidArgument, op, "table %s: "+format, append([]any{md.Ref}, args...)...)
	}
	if len(md.Schema) == 0 {
		return bad("a table needs at least one column")
	}
	seen := map[string]bool{}
	for _, f := range md.Schema {
		if f.Name == "" {
			return bad("a column has no name")
		}
		if seen[strings.ToLower(f.Name)] {
			return bad("column %q appears twice", f.Name)
		}
		seen[strings.ToLower(f.Name)] = true
	}
	switch md.PartitionType {
	case warehouse.Unpartitioned:
		if md.PartitionField != "" {
			return bad("partition field %q given without a partition type", md.PartitionField)
		}
	case warehouse.Day, warehouse.Month:
		if md.PartitionField == "" {
			return &warehouse.Error{Code: warehouse.InvalidArgument, Op: op, Err: &bqsql.UnsupportedError{
				Construct: "ingestion-time partitioning", Hint: "partition by a DATE, DATETIME or TIMESTAMP column"}}
		}
		f, ok := findField(md.Schema, md.PartitionField)
		if !ok {
			return bad("partition field %q is not a column", md.PartitionField)
		}
		switch warehouse.CanonicalType(f.Type) {
		case "DATE", "DATETIME", "TIMESTAMP":
		default:
			return bad("partition field %q is %s, not DATE, DATETIME or TIMESTAMP", f.Name, f.Type)
		}
		if strings.EqualFold(f.Mode, "REPEATED") {
			return bad("partition field %q is REPEATED", f.Name)
		}
	default:
		return bad("partition type %q is not DAY or MONTH", md.PartitionType)
	}
	if len(md.Clustering) > 4 {
		return bad("at most 4 clustering columns are allowed, got %d", len(md.Clustering))
	}
	for _, c := range md.Clustering {
		if _, ok := findField(md.Schema, c); !ok {
			return bad("clustering column %q is not a column", c)
		}
	}
	return nil
}

func findField(s warehouse.Schema, name string) (warehouse.Field, bool) {
	for _, f := range s {
		if strings.EqualFold(f.Name, name) {
			return f, true
		}
	}
	return warehouse.Field{}, false
}

// schemaOf reads a table's columns from DuckDB, in order, as BigQuery fields.
func schemaOf(ctx context.Context, q querier, op string, r *tableRecord) (warehouse.Schema, error) {
	return describe(ctx, q, op, "DESCRIBE "+tableSQL(r.ref), r.meta.FieldDescriptions)
}

// describe runs a DESCRIBE statement and converts its rows to fields.
func describe(ctx context.Context, q querier, op, stmt string, descs map[string]string) (warehouse.Schema, error) {
	rows, err := q.QueryContext(ctx, stmt)
	if err != nil {
		return nil, classify(op, err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, classify(op, err)
	}
	var s warehouse.Schema
	for rows.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, classify(op, err)
		}
		// DESCRIBE: column_name, column_type, null, key, default, extra.
		f, err := bqsql.FieldFromDuckDB(vals[0].String, vals[1].String, vals[2].String != "NO")
		if err != nil {
			return nil, fmt.Errorf("%s: %w", op, err)
		}
		s = append(s, f)
	}
	if err := rows.Err(); err != nil {
		return nil, classify(op, err)
	}
	applyDescriptions("", s, descs)
	return s, nil
}

// noteExpiry records a new table expiration for the sweeper.
func (w *Warehouse) noteExpiry(us int64) {
	if us <= 0 {
		return
	}
	for {
		cur := w.nextExpiry.Load()
		if cur != 0 && cur <= us {
			return
		}
		if w.nextExpiry.CompareAndSwap(cur, us) {
			return
		}
	}
}

// sweepExpired drops tables whose expiration has passed, as BigQuery does
// in the background. It runs at the start of every call, and costs an
// atomic load unless an expiration is due.
func (w *Warehouse) sweepExpired(ctx context.Context) error {
	next := w.nextExpiry.Load()
	if next == 0 || w.now().UnixMicro() < next {
		return nil
	}
	w.sweepMu.Lock()
	defer w.sweepMu.Unlock()
	next = w.nextExpiry.Load()
	now := w.now().UnixMicro()
	if next == 0 || now < next {
		return nil
	}
	for _, p := range w.attachedProjects() {
		var expired []warehouse.TableRef
		err := w.withConn(ctx, "", "", func(c *sql.Conn) error {
			rows, err := c.QueryContext(ctx, "SELECT dataset, name FROM "+tablesTable(p)+" WHERE expires_us > 0 AND expires_us <= ?", now)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				ref := warehouse.TableRef{Project: p}
				if err := rows.Scan(&ref.Dataset, &ref.Table); err != nil {
					return err
				}
				expired = append(expired, ref)
			}
			return rows.Err()
		})
		if err != nil {
			return classify("drop expired tables of "+p, err)
		}
		for _, ref := range expired {
			err := w.changeCatalog(ctx, "", "", func(tx *sql.Tx) error {
				r, err := loadTable(ctx, tx, "drop expired table", ref)
				if err != nil || r.expires == 0 || r.expires > now {
					return nil // gone or renewed meanwhile
				}
				return dropTable(ctx, tx, "drop expired table", r.ref)
			})
			if err != nil {
				return err
			}
		}
	}
	return w.recomputeExpiry(ctx)
}

// recomputeExpiry sets nextExpiry to the earliest expiration on record.
func (w *Warehouse) recomputeExpiry(ctx context.Context) error {
	var earliest int64
	for _, p := range w.attachedProjects() {
		var min sql.NullInt64
		err := w.db.QueryRowContext(ctx, "SELECT min(expires_us) FROM "+tablesTable(p)+" WHERE expires_us > 0").Scan(&min)
		if err != nil {
			return classify("read table expirations of "+p, err)
		}
		if min.Valid && (earliest == 0 || min.Int64 < earliest) {
			earliest = min.Int64
		}
	}
	w.nextExpiry.Store(earliest)
	return nil
}

// dropTable drops a table and its catalog record inside tx.
func dropTable(ctx context.Context, tx *sql.Tx, op string, ref warehouse.TableRef) error {
	if _, err := tx.ExecContext(ctx, "DROP TABLE IF EXISTS "+tableSQL(ref)); err != nil {
		return classify(op+" "+ref.String(), err)
	}
	if err := deleteTableRecord(ctx, tx, ref); err != nil {
		return classify(op+": remove catalog entry of "+ref.String(), err)
	}
	return nil
}

// recordKey identifies one incarnation of a table: its name and creation
// time (a dropped and recreated table gets a new key).
func recordKey(r *tableRecord) string {
	return fmt.Sprintf("%s@%d", strings.ToLower(r.ref.String()), r.created)
}

// modification is when the rows of a table incarnation last changed.
type modification struct {
	ref     warehouse.TableRef
	created int64
	at      int64
}

// touch records that r's rows changed now. Modification times live in
// memory, so that concurrent writers to different partitions of one table
// never conflict on its catalog row, and are written to the catalog by
// Close; Table reports the later of the two.
func (w *Warehouse) touch(r *tableRecord) {
	w.modified.Store(recordKey(r), modification{ref: r.ref, created: r.created, at: w.now().UnixMicro()})
}

// lastChange returns when r's rows last changed in this process (0 if not).
func (w *Warehouse) lastChange(r *tableRecord) int64 {
	if m, ok := w.modified.Load(recordKey(r)); ok {
		return m.(modification).at
	}
	return 0
}

// flushModified writes the in-memory modification times to the catalog.
func (w *Warehouse) flushModified(ctx context.Context) error {
	var errs []error
	w.modified.Range(func(key, value any) bool {
		m := value.(modification)
		_, err := w.db.ExecContext(ctx, "UPDATE "+tablesTable(m.ref.Project)+" SET modified_us = ? WHERE lower(dataset) = lower(?) AND lower(name) = lower(?) AND created_us = ? AND modified_us < ?",
			m.at, m.ref.Dataset, m.ref.Table, m.created, m.at)
		if err != nil {
			errs = append(errs, fmt.Errorf("record modification time of %s: %w", m.ref, err))
		}
		return true
	})
	return errors.Join(errs...)
}

// recordCache holds committed catalog records so that the hot path (a
// partition write) does not query the catalog. Records are filled only
// from reads outside transactions (latest committed state), and the whole
// cache is cleared before and after every transaction that changes or
// drops a record; a fill that raced with a clear is discarded.
type recordCache struct {
	mu      sync.Mutex
	gen     uint64
	entries map[string]*tableRecord
	schemas map[string]warehouse.Schema // recordKey -> columns (see cachedSchema)
}

func (c *recordCache) get(key string) (*tableRecord, uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if r, ok := c.entries[key]; ok {
		return r.clone(), c.gen
	}
	return nil, c.gen
}

func (c *recordCache) put(key string, r *tableRecord, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return
	}
	if c.entries == nil {
		c.entries = map[string]*tableRecord{}
	}
	c.entries[key] = r.clone()
}

func (c *recordCache) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	c.entries = nil
	c.schemas = nil
}

func (c *recordCache) schema(key string) (warehouse.Schema, uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.schemas[key], c.gen
}

func (c *recordCache) putSchema(key string, s warehouse.Schema, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return
	}
	if c.schemas == nil {
		c.schemas = map[string]warehouse.Schema{}
	}
	c.schemas[key] = s
}

// cachedSchema is schemaOf for the jobs that write partitions (copies and
// replacements, one per partition in a swap): a table's columns are read
// once and kept in the record cache until the next catalog change, which
// is what can change them. Like lookupTable's records, they are read from
// the committed catalog, outside the caller's transaction. Callers must
// not change the schema.
func (w *Warehouse) cachedSchema(ctx context.Context, op string, r *tableRecord) (warehouse.Schema, error) {
	key := recordKey(r)
	s, gen := w.cache.schema(key)
	if s != nil {
		return s, nil
	}
	s, err := schemaOf(ctx, w.db, op, r)
	if err != nil {
		return nil, err
	}
	w.schemaReads.Add(1)
	w.cache.putSchema(key, s, gen)
	return s, nil
}

// lookupTable returns a table's catalog record from the cache, reading the
// catalog on a miss. NotFound if the table does not exist (or is not
// committed yet). Callers must not change the record's maps or slices.
func (w *Warehouse) lookupTable(ctx context.Context, op string, ref warehouse.TableRef) (*tableRecord, error) {
	key := strings.ToLower(ref.String())
	r, gen := w.cache.get(key)
	if r != nil {
		return r, nil
	}
	r, err := loadTable(ctx, w.db, op, ref)
	if err != nil {
		return nil, err
	}
	w.cache.put(key, r, gen)
	return r, nil
}

// changeCatalog runs fn in a transaction that changes or drops catalog
// records, clearing the record cache around it.
func (w *Warehouse) changeCatalog(ctx context.Context, defProject, defDataset string, fn func(tx *sql.Tx) error) error {
	w.cache.clear()
	defer w.cache.clear()
	return w.inTx(ctx, defProject, defDataset, fn)
}

// mergeLabels returns a copy of m merged with over (over wins).
func mergeLabels(m, over map[string]string) map[string]string {
	if len(m) == 0 && len(over) == 0 {
		return nil
	}
	out := make(map[string]string, len(m)+len(over))
	for k, v := range m {
		out[k] = v
	}
	for k, v := range over {
		out[k] = v
	}
	return out
}
