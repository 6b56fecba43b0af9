// Package warehouse is the only place SQL meets a database. It declares the
// Warehouse interface every backfill step is written against, its value types
// and a small set of error codes. Implementations live in sub-packages:
// warehouse/bigquery (production) and warehouse/duckdb (the embedded default).
// The conformance suite in warehouse/warehousetest holds them to one contract.
package warehouse

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// TableRef names a table as BigQuery does: project.dataset.table.
type TableRef struct {
	Project string
	Dataset string
	Table   string
}

// String returns "project.dataset.table".
func (t TableRef) String() string { return t.Project + "." + t.Dataset + "." + t.Table }

// IsZero reports whether t names nothing.
func (t TableRef) IsZero() bool { return t == TableRef{} }

var tableRefRE = regexp.MustCompile(`^([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)$`)

// ParseTableRef parses "project.dataset.table"; each part is [A-Za-z0-9_-]+.
func ParseTableRef(s string) (TableRef, error) {
	m := tableRefRE.FindStringSubmatch(strings.TrimSpace(s))
	if m == nil {
		return TableRef{}, fmt.Errorf("qualified table name must be named like: <project>.<dataset>.<table>, got %q", s)
	}
	return TableRef{Project: m[1], Dataset: m[2], Table: m[3]}, nil
}

// PartitionType is a table's time partitioning granularity.
type PartitionType string

const (
	// Unpartitioned tables have no time partitioning.
	Unpartitioned PartitionType = ""
	Day           PartitionType = "DAY"
	Month         PartitionType = "MONTH"
)

// PartitionID formats the partition decorator of t for the day d:
// YYYYMMDD for DAY, YYYYMM for MONTH, "" for an unpartitioned table.
func PartitionID(t PartitionType, d time.Time) string {
	switch t {
	case Day:
		return d.Format("20060102")
	case Month:
		return d.Format("200601")
	}
	return ""
}

// Field is one column of a schema. Type uses BigQuery standard SQL names
// (STRING, INT64, FLOAT64, NUMERIC, BOOL, DATE, DATETIME, TIMESTAMP, BYTES,
// RECORD); Mode is NULLABLE, REQUIRED or REPEATED ("" means NULLABLE).
type Field struct {
	Name        string  `json:"name"`
	Type        string  `json:"type"`
	Mode        string  `json:"mode,omitempty"`
	Description string  `json:"description,omitempty"`
	Fields      []Field `json:"fields,omitempty"`
}

// Schema is an ordered list of columns; order matters (a copy into an
// existing table matches columns by position).
type Schema []Field

// TableMetadata describes a table. It is both what Table returns and what
// CreateTable creates.
type TableMetadata struct {
	Ref    TableRef
	Schema Schema

	PartitionType          PartitionType
	PartitionField         string        // "" for ingestion-time or unpartitioned
	PartitionExpiration    time.Duration // 0 means none
	RequirePartitionFilter bool
	Clustering             []string

	Labels       map[string]string
	Expiration   time.Time // zero means the table never expires (or inherits the dataset default)
	Description  string
	FriendlyName string

	// Read-only, filled by Table.
	NumRows  int64
	Created  time.Time
	Modified time.Time
}

// Partition is one partition of a table with its row count. ID is the
// decorator ("20240101", "202401"); an unpartitioned table reports a single
// Partition with ID "".
type Partition struct {
	ID   string
	Rows int64
}

// WriteDisposition says what a job does to existing data in its destination.
type WriteDisposition string

const (
	// WriteTruncate replaces the rows of the destination (the whole table,
	// or exactly the one partition named by the job). An existing
	// destination keeps its schema (column order, modes, descriptions,
	// policy tags) and constraints: a backfill never means to change a
	// table's schema. (BigQuery's own WRITE_TRUNCATE of a whole table would
	// replace them; the BigQuery warehouse uses WRITE_TRUNCATE_DATA for
	// queries and restores the schema after copies.)
	WriteTruncate WriteDisposition = "WRITE_TRUNCATE"
	// WriteAppend adds rows.
	WriteAppend WriteDisposition = "WRITE_APPEND"
	// WriteEmpty fails with AlreadyExists unless the destination is empty.
	WriteEmpty WriteDisposition = "WRITE_EMPTY"
)

// Param is a named query parameter, bound as @Name. Type is a BigQuery type
// name (DATE, STRING, INT64, FLOAT64, BOOL, TIMESTAMP); Value is its text form
// (DATE as YYYY-MM-DD).
type Param struct {
	Name  string
	Type  string
	Value string
}

// QueryJob runs SQL, optionally into a destination.
type QueryJob struct {
	SQL    string
	Params []Param

	// Destination, when set, receives the result. Partition, when set, names
	// the one partition (decorator) the result replaces or extends; every row
	// must fall inside it, else the job fails with InvalidArgument.
	Destination *TableRef
	Partition   string
	Write       WriteDisposition // default WriteTruncate when Destination is set

	// BillingProject runs (and pays for) the job; "" means the destination's
	// project or the client's default.
	BillingProject string
	// DefaultProject and DefaultDataset resolve unqualified table names.
	DefaultProject string
	DefaultDataset string

	Labels map[string]string
	// JobID is a deterministic prefix for the job id ("" lets the warehouse choose).
	JobID string
	// DryRun validates the query and estimates bytes without running it.
	DryRun bool
}

// CopyJob copies a table or one partition onto another.
type CopyJob struct {
	Source          TableRef
	SourcePartition string // "" = whole table
	Dest            TableRef
	DestPartition   string           // "" = whole table
	Write           WriteDisposition // "" means WriteEmpty, BigQuery's default for copy jobs
	BillingProject  string
	Labels          map[string]string
	JobID           string
}

// JobResult reports what a job did.
type JobResult struct {
	JobID          string
	BytesProcessed int64 // for dry runs, the estimate
	RowsWritten    int64 // rows in the destination (partition) afterwards; -1 if unknown
	Duration       time.Duration
}

// Rows is the result of a read-only query.
type Rows struct {
	Columns []string
	Rows    [][]any
}

// Binding grants Role to Members ("user:a@b.com", "group:…", "serviceAccount:…",
// "domain:…", "workgroup:…").
type Binding struct {
	Role    string
	Members []string
	// Condition, when set, limits the grant (IAM conditions; policy
	// version 3).
	Condition *Condition
}

// Condition is an IAM condition (a CEL expression).
type Condition struct {
	Title       string
	Description string
	Expression  string
}

// Policy is a table's IAM policy.
type Policy struct {
	Bindings []Binding
	ETag     string
}

// AccessEntry is one entry of a dataset's access list, as BigQuery returns
// it. Role is a legacy role (READER, WRITER, OWNER) or an IAM role;
// EntityType is userByEmail, groupByEmail, domain, iamMember, specialGroup,
// view, routine or dataset.
type AccessEntry struct {
	Role       string
	EntityType string
	Entity     string
}

// CreateLikeOptions adjust a table created like another.
type CreateLikeOptions struct {
	Expiration time.Time         // zero: no table expiration
	Labels     map[string]string // merged over the source's labels
}

// Warehouse is every operation a backfill needs. Implementations must be safe
// for concurrent use. Errors carry a Code (see Code); callers branch on codes,
// never on messages. Implementations retry transient failures of a single
// call themselves with backoff; an error returned as Transient has exhausted
// those retries and may be retried later by the caller.
type Warehouse interface {
	// Table returns a table's metadata. NotFound if it does not exist.
	Table(ctx context.Context, ref TableRef) (*TableMetadata, error)
	// Partitions lists the partitions of a table with their row counts, in
	// ascending ID order. NotFound if the table does not exist.
	Partitions(ctx context.Context, ref TableRef) ([]Partition, error)
	// EnsureDataset creates a dataset if it is missing (idempotent), with a
	// default table expiration (0 = none) for tables created in it.
	EnsureDataset(ctx context.Context, project, dataset string, defaultTableExpiration time.Duration) error
	// CreateTable creates md.Ref. AlreadyExists if it exists; NotFound if the
	// dataset does not.
	CreateTable(ctx context.Context, md TableMetadata) error
	// CreateTableLike creates dst with src's schema (column order kept),
	// partitioning, clustering, partition expiration and labels.
	// NotFound if src is missing; AlreadyExists if dst exists.
	CreateTableLike(ctx context.Context, src, dst TableRef, opts CreateLikeOptions) error
	// Query runs a query job. With a Destination and WriteTruncate it is
	// idempotent: running it twice leaves the same data.
	Query(ctx context.Context, job QueryJob) (JobResult, error)
	// Copy copies a table or one partition. NotFound if the source is missing.
	// With WriteTruncate on a partition it replaces exactly that partition.
	Copy(ctx context.Context, job CopyJob) (JobResult, error)
	// Backup clones src into a new table dst that expires at expiration
	// (zero: never), keeping schema and partitioning. AlreadyExists if dst
	// exists; NotFound if src is missing.
	Backup(ctx context.Context, src, dst TableRef, expiration time.Time, labels map[string]string) (JobResult, error)
	// Delete drops a table. NotFound if it does not exist.
	Delete(ctx context.Context, ref TableRef) error
	// DeletePartitions empties whole partitions of a table, or the whole
	// table when job.Partitions is empty (see DeleteJob); RowsWritten is
	// 0 afterwards. Emptying a partition that has no rows succeeds.
	// NotFound if the table is missing; InvalidArgument for a partition id
	// that does not fit the table's partitioning, partitions of a table not
	// partitioned by a column, or more than MaxReplacePartitions.
	DeletePartitions(ctx context.Context, job DeleteJob) (JobResult, error)
	// TableIAM reads a table's IAM policy. NotFound if the table is missing.
	TableIAM(ctx context.Context, ref TableRef) (Policy, error)
	// SetTableIAM replaces a table's IAM policy. FailedPrecondition if
	// p.ETag is set and stale.
	SetTableIAM(ctx context.Context, ref TableRef, p Policy) error
	// DatasetAccess reads a dataset's access entries. NotFound if missing.
	DatasetAccess(ctx context.Context, project, dataset string) ([]AccessEntry, error)
	// Read runs a read-only query (no destination) and returns its rows.
	Read(ctx context.Context, job QueryJob) (*Rows, error)
}
