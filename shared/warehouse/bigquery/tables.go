package bigquery

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"cloud.google.com/go/bigquery"
	bqapi "google.golang.org/api/bigquery/v2"

	"github.com/bqbackfill/bqbackfill/shared/warehouse"
)

func (w *Warehouse) table(c *bigquery.Client, ref warehouse.TableRef) *bigquery.Table {
	return c.DatasetInProject(ref.Project, ref.Dataset).Table(ref.Table)
}

// Table returns a table's metadata (tables.get): schema in column order
// with standard SQL types and explicit modes, time partitioning (a
// range-partitioned table reports Unpartitioned), clustering, labels,
// expiration, numRows, creation and modification times. Read-only; retried
// on transient failures. NotFound if the table (or dataset) is missing.
func (w *Warehouse) Table(ctx context.Context, ref warehouse.TableRef) (*warehouse.TableMetadata, error) {
	tm, err := w.rawTable(ctx, ref)
	if err != nil {
		return nil, err
	}
	return fromTableMetadata(ref, tm), nil
}

// rawTable is tables.get with everything the client reads (policy tags
// and other column options, constraints, the etag).
func (w *Warehouse) rawTable(ctx context.Context, ref warehouse.TableRef) (*bigquery.TableMetadata, error) {
	const op = "table"
	c, err := w.defaultClient(op)
	if err != nil {
		return nil, err
	}
	var tm *bigquery.TableMetadata
	err = w.do(ctx, op, ref.String(), func(ctx context.Context) error {
		var err error
		tm, err = w.table(c, ref).Metadata(ctx)
		return err
	})
	return tm, err
}

// Partitions lists a table's partitions with their row counts in ascending
// id order. A table without time partitioning reports one partition with
// id "" and the table's numRows. For a partitioned table it queries
// <project>.<dataset>.INFORMATION_SCHEMA.PARTITIONS (a query job in the
// default project, billed at BigQuery's 10 MB minimum): ids are decorators
// (YYYYMMDD, YYYYMM, ...); rows whose partitioning column is NULL are in
// "__NULL__", and rows of an ingestion-time table not yet assigned a
// partition in "__UNPARTITIONED__" — both kept, so the counts add up to
// the table's rows, and both sort after the date ids. Empty partitions do
// not appear. Read-only; retried on transient failures. NotFound if the
// table is missing.
func (w *Warehouse) Partitions(ctx context.Context, ref warehouse.TableRef) ([]warehouse.Partition, error) {
	md, err := w.Table(ctx, ref)
	if err != nil {
		return nil, err
	}
	if md.PartitionType == warehouse.Unpartitioned {
		return []warehouse.Partition{{ID: "", Rows: md.NumRows}}, nil
	}
	c, err := w.defaultClient("partitions")
	if err != nil {
		return nil, err
	}
	return w.partitions(ctx, c, ref, "")
}

// EnsureDataset creates project.dataset if it is missing, in
// Config.Location, with defaultTableExpiration (0: none) for tables created
// in it. An existing dataset is left as it is (its settings are not
// changed). Idempotent: a dataset created concurrently counts as success.
// Retried on transient failures.
func (w *Warehouse) EnsureDataset(ctx context.Context, project, dataset string, defaultTableExpiration time.Duration) error {
	const op = "ensure dataset"
	c, err := w.defaultClient(op)
	if err != nil {
		return err
	}
	ds := c.DatasetInProject(project, dataset)
	subject := project + "." + dataset
	err = w.do(ctx, op, subject, func(ctx context.Context) error {
		_, err := ds.Metadata(ctx)
		return err
	})
	if err == nil || !warehouse.IsNotFound(err) {
		return err
	}
	err = w.do(ctx, op, subject, func(ctx context.Context) error {
		return ds.Create(ctx, &bigquery.DatasetMetadata{
			Location:               w.cfg.Location,
			DefaultTableExpiration: defaultTableExpiration,
		})
	})
	if warehouse.IsAlreadyExists(err) {
		return nil
	}
	return err
}

// CreateTable creates md.Ref (tables.insert) with md's schema (order,
// nested fields and modes kept), time partitioning (type, field,
// expiration), top-level requirePartitionFilter, clustering, labels,
// expiration, description and friendly name. AlreadyExists if it exists
// (with deterministic names: the step was done); NotFound if the dataset
// is missing; InvalidArgument for an unsupported type or mode. Retried on
// transient failures (a retry after an ambiguous failure may report
// AlreadyExists for the table this call created).
func (w *Warehouse) CreateTable(ctx context.Context, md warehouse.TableMetadata) error {
	const op = "create table"
	tm, err := toTableMetadata(md)
	if err != nil {
		return &warehouse.Error{Code: warehouse.InvalidArgument, Op: op, Err: fmt.Errorf("%s: %w", md.Ref, err)}
	}
	c, err := w.defaultClient(op)
	if err != nil {
		return err
	}
	t := w.table(c, md.Ref)
	return w.do(ctx, op, md.Ref.String(), func(ctx context.Context) error {
		return t.Create(ctx, tm)
	})
}

// maxLabels is BigQuery's limit of labels per resource.
const maxLabels = 64

// CreateTableLike creates dst with src's whole schema (column order,
// modes, descriptions, policy tags, max length, precision and scale,
// default value expressions, collation, rounding mode, range element
// types), default collation, table constraints, time or range
// partitioning (type, field, partition expiration), clustering and labels
// (opts.Labels merged over them), expiring at opts.Expiration (zero: no
// table expiration beyond the dataset's default). Policy tags matter most:
// without them staging would expose column-level-secured data to everyone
// who can read the staging dataset. Description and
// requirePartitionFilter are not copied: staging must be queryable
// without a partition filter. Labels are capped at BigQuery's 64: opts
// labels first, then the source's in key order. NotFound if src is
// missing; AlreadyExists if dst exists. Retried on transient failures.
func (w *Warehouse) CreateTableLike(ctx context.Context, src, dst warehouse.TableRef, opts warehouse.CreateLikeOptions) error {
	const op = "create table"
	stm, err := w.rawTable(ctx, src)
	if err != nil {
		return err
	}
	tm := &bigquery.TableMetadata{
		Schema:            stm.Schema,
		DefaultCollation:  stm.DefaultCollation,
		TableConstraints:  stm.TableConstraints,
		RangePartitioning: stm.RangePartitioning,
		Clustering:        stm.Clustering,
		ExpirationTime:    opts.Expiration,
		Labels:            mergeLabels(opts.Labels, stm.Labels),
	}
	if tp := stm.TimePartitioning; tp != nil {
		tm.TimePartitioning = &bigquery.TimePartitioning{Type: tp.Type, Field: tp.Field, Expiration: tp.Expiration}
	}
	c, err := w.defaultClient(op)
	if err != nil {
		return err
	}
	t := w.table(c, dst)
	return w.do(ctx, op, dst.String(), func(ctx context.Context) error {
		return t.Create(ctx, tm)
	})
}

// mergeLabels is first merged over second, at most maxLabels: all of
// first's (it is the caller's), then second's in key order.
func mergeLabels(first, second map[string]string) map[string]string {
	if len(first)+len(second) == 0 {
		return nil
	}
	out := make(map[string]string, min(len(first)+len(second), maxLabels))
	for k, v := range first {
		out[k] = v
	}
	keys := make([]string, 0, len(second))
	for k := range second {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if len(out) >= maxLabels {
			break
		}
		if _, ok := out[k]; !ok {
			out[k] = second[k]
		}
	}
	return out
}

// Delete drops a table. NotFound if it does not exist (a caller cleaning up
// treats that as done). Retried on transient failures.
func (w *Warehouse) Delete(ctx context.Context, ref warehouse.TableRef) error {
	const op = "delete"
	c, err := w.defaultClient(op)
	if err != nil {
		return err
	}
	t := w.table(c, ref)
	return w.do(ctx, op, ref.String(), func(ctx context.Context) error {
		return t.Delete(ctx)
	})
}

// TableIAM reads a table's IAM policy (tables.getIamPolicy) as policy
// version 3, so that conditional bindings come back with their conditions
// (version 1 shows them as "<role>_withcond_<hash>" roles, which no one can
// write back): bindings sorted by role, members sorted, and the etag. The
// client library reads version 1 only, so this uses the REST service.
// Read-only; retried on transient failures. NotFound if the table is
// missing.
func (w *Warehouse) TableIAM(ctx context.Context, ref warehouse.TableRef) (warehouse.Policy, error) {
	const op = "table iam"
	svc, err := w.restService(op)
	if err != nil {
		return warehouse.Policy{}, err
	}
	var pol *bqapi.Policy
	err = w.do(ctx, op, ref.String(), func(ctx context.Context) error {
		var err error
		pol, err = svc.Tables.GetIamPolicy(tableResource(ref), &bqapi.GetIamPolicyRequest{
			Options: &bqapi.GetPolicyOptions{RequestedPolicyVersion: 3},
		}).Context(ctx).Do()
		return err
	})
	if err != nil {
		return warehouse.Policy{}, err
	}
	out := warehouse.Policy{ETag: pol.Etag}
	for _, b := range pol.Bindings {
		wb := warehouse.Binding{Role: b.Role, Members: append([]string(nil), b.Members...)}
		if c := b.Condition; c != nil {
			wb.Condition = &warehouse.Condition{Title: c.Title, Description: c.Description, Expression: c.Expression}
		}
		out.Bindings = append(out.Bindings, wb)
	}
	sortBindings(out.Bindings)
	return out, nil
}

// SetTableIAM replaces a table's IAM policy with p (tables.setIamPolicy),
// as version 3 when a binding has a condition and version 1 otherwise.
// With p.ETag set the write is a compare-and-swap: FailedPrecondition if
// the policy changed since it was read (HTTP 409 or 412); re-read, merge
// and retry. With an empty ETag it overwrites unconditionally. Retried on
// transient failures; because a retry reuses the etag, a retry after a
// write that did land reports FailedPrecondition. NotFound if the table is
// missing.
func (w *Warehouse) SetTableIAM(ctx context.Context, ref warehouse.TableRef, p warehouse.Policy) error {
	const op = "set table iam"
	svc, err := w.restService(op)
	if err != nil {
		return err
	}
	pol := &bqapi.Policy{Version: 1, Etag: p.ETag}
	for _, b := range p.Bindings {
		if b.Role == "" || len(b.Members) == 0 {
			continue
		}
		rb := &bqapi.Binding{Role: b.Role, Members: append([]string(nil), b.Members...)}
		if c := b.Condition; c != nil {
			rb.Condition = &bqapi.Expr{Title: c.Title, Description: c.Description, Expression: c.Expression}
			pol.Version = 3
		}
		pol.Bindings = append(pol.Bindings, rb)
	}
	err = w.do(ctx, op, ref.String(), func(ctx context.Context) error {
		_, err := svc.Tables.SetIamPolicy(tableResource(ref), &bqapi.SetIamPolicyRequest{Policy: pol}).Context(ctx).Do()
		return err
	})
	var we *warehouse.Error
	if errors.As(err, &we) && we.Code == warehouse.AlreadyExists {
		// A 409 on setIamPolicy is a concurrent change, never a duplicate.
		return &warehouse.Error{Code: warehouse.FailedPrecondition, Op: we.Op, Err: we.Err}
	}
	return err
}

// tableResource is a table's IAM resource name.
func tableResource(ref warehouse.TableRef) string {
	return "projects/" + ref.Project + "/datasets/" + ref.Dataset + "/tables/" + ref.Table
}

// DatasetAccess reads a dataset's access entries (datasets.get) in the
// order BigQuery returns them: Role as written (READER/WRITER/OWNER or an
// IAM role), EntityType as the REST field name (userByEmail, groupByEmail,
// domain, iamMember, specialGroup, view, routine, dataset), Entity the
// email, domain, member or special group, or "project.dataset[.name]" for
// views, routines and datasets. Entries with an IAM condition are left
// out: mirrored as unconditional bindings they would widen access.
// Read-only; retried on transient failures. NotFound if the dataset is
// missing.
func (w *Warehouse) DatasetAccess(ctx context.Context, project, dataset string) ([]warehouse.AccessEntry, error) {
	const op = "dataset access"
	c, err := w.defaultClient(op)
	if err != nil {
		return nil, err
	}
	var md *bigquery.DatasetMetadata
	err = w.do(ctx, op, project+"."+dataset, func(ctx context.Context) error {
		var err error
		md, err = c.DatasetInProject(project, dataset).Metadata(ctx)
		return err
	})
	if err != nil {
		return nil, err
	}
	return fromAccess(md.Access), nil
}
