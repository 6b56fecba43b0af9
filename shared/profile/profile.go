// Package profile compares a backfill's staging table with production,
// partition by partition: rows, NULLs per column, sum/min/max of numeric
// columns and the distinct count of an id column, with relative changes —
// the comparison users otherwise make by hand before completing. Both
// tables are profiled by ONE query over all the backfill's partitions.
package profile

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/bqbackfill/bqbackfill/shared/warehouse"
)

// Warehouse is what profiling needs: the staging table's schema and one
// read-only query. warehouse.Warehouse satisfies it.
type Warehouse interface {
	Table(ctx context.Context, ref warehouse.TableRef) (*warehouse.TableMetadata, error)
	Read(ctx context.Context, job warehouse.QueryJob) (*warehouse.Rows, error)
}

// Options name the tables and partitions compared.
type Options struct {
	Staging, Production warehouse.TableRef
	// Partitions are the decorators compared (20240101, 202401); empty,
	// or a single "", compares the whole tables.
	Partitions     []string
	BillingProject string
}

// Change is one metric of one partition, staging against production.
type Change struct {
	Partition  string   `json:"partition"`
	Metric     string   `json:"metric"` // rows, nulls(c), sum(c), min(c), max(c), distinct(c)
	Production *float64 `json:"production"`
	Staging    *float64 `json:"staging"`
	// Relative is (staging - production) / |production|; +Inf/-Inf
	// (JSON: null with Infinite set) when production is 0 and staging is
	// not, 0 when equal. Absent when either side is NULL.
	Relative *float64 `json:"relative,omitempty"`
	Infinite bool     `json:"infinite,omitempty"`
}

// magnitude orders changes: infinite first, then by |relative|; a change
// with one side NULL and the other not counts as infinite.
func (c Change) magnitude() float64 {
	switch {
	case c.Infinite:
		return math.Inf(1)
	case c.Relative != nil:
		return math.Abs(*c.Relative)
	case (c.Staging == nil) != (c.Production == nil):
		return math.Inf(1)
	}
	return 0
}

// String is one line: "20240101 rows: 120 → 100 (-16.7%)".
func (c Change) String() string {
	num := func(v *float64) string {
		if v == nil {
			return "NULL"
		}
		return strconv.FormatFloat(*v, 'f', -1, 64)
	}
	rel := ""
	switch {
	case c.Infinite:
		rel = " (new)"
	case c.Relative != nil:
		rel = fmt.Sprintf(" (%+.1f%%)", *c.Relative*100)
	}
	p := c.Partition
	if p == "" {
		p = "table"
	}
	return fmt.Sprintf("%s %s: %s → %s%s", p, c.Metric, num(c.Production), num(c.Staging), rel)
}

// Sorted returns the changes largest first (ties by partition, metric).
func Sorted(cs []Change) []Change {
	out := append([]Change(nil), cs...)
	sort.SliceStable(out, func(i, j int) bool {
		mi, mj := out[i].magnitude(), out[j].magnitude()
		if mi != mj {
			return mi > mj
		}
		if out[i].Partition != out[j].Partition {
			return out[i].Partition < out[j].Partition
		}
		return out[i].Metric < out[j].Metric
	})
	return out
}

// metric is one profiled value: its name and its SQL aggregate.
type metric struct{ name, expr string }

var numeric = map[string]bool{"INT64": true, "INTEGER": true, "FLOAT64": true, "FLOAT": true, "NUMERIC": true, "BIGNUMERIC": true, "DECIMAL": true, "BIGDECIMAL": true}

// metrics lists what is profiled for a table with md's schema.
func metrics(md *warehouse.TableMetadata) []metric {
	ms := []metric{{"rows", "COUNT(*)"}}
	idCol := ""
	for _, f := range md.Schema {
		if strings.EqualFold(f.Name, "client_id") && f.Mode != "REPEATED" {
			idCol = f.Name
		}
	}
	if idCol == "" && len(md.Clustering) > 0 {
		idCol = md.Clustering[0]
	}
	for _, f := range md.Schema {
		if f.Mode == "REPEATED" || strings.EqualFold(f.Type, "RECORD") || strings.EqualFold(f.Type, "STRUCT") {
			continue
		}
		c := "`" + f.Name + "`"
		ms = append(ms, metric{"nulls(" + f.Name + ")", "COUNTIF(" + c + " IS NULL)"})
		if numeric[strings.ToUpper(f.Type)] {
			ms = append(ms, metric{"sum(" + f.Name + ")", "CAST(SUM(" + c + ") AS FLOAT64)"},
				metric{"min(" + f.Name + ")", "CAST(MIN(" + c + ") AS FLOAT64)"},
				metric{"max(" + f.Name + ")", "CAST(MAX(" + c + ") AS FLOAT64)"})
		}
	}
	if idCol != "" {
		ms = append(ms, metric{"distinct(" + idCol + ")", "COUNT(DISTINCT `" + idCol + "`)"})
	}
	return ms
}

// Query is the one query profiling both tables over the partitions, and
// the metrics in its column order (after side and partition).
func Query(md *warehouse.TableMetadata, o Options) (string, []string, error) {
	staging, production, names, err := sides(md, o)
	if err != nil {
		return "", nil, err
	}
	return staging + "\nUNION ALL\n" + production, names, nil
}

// sides are the two halves of Query: the staging side and the production
// side, and the metrics in their column order.
func sides(md *warehouse.TableMetadata, o Options) (staging, production string, names []string, err error) {
	ms := metrics(md)
	key, where, err := partitionFilter(md, o.Partitions)
	if err != nil {
		return "", "", nil, err
	}
	var cols []string
	names = make([]string, len(ms))
	for i, m := range ms {
		cols = append(cols, m.expr+" AS m"+strconv.Itoa(i))
		names[i] = m.name
	}
	one := func(side string, t warehouse.TableRef) string {
		return "SELECT '" + side + "' AS side, " + key + " AS part, " + strings.Join(cols, ", ") + " FROM `" + t.String() + "`" + where + " GROUP BY side, part"
	}
	return one("staging", o.Staging), one("production", o.Production), names, nil
}

// partitionFilter returns the partition key expression (a STRING: the
// decorator) and the WHERE clause selecting exactly the partitions
// (warehouse.PartitionFilter: contiguous ones as one range), so that the
// profile, and its dry run's cost, read only those partitions however
// scattered they are (excluded dates, a sparse list).
func partitionFilter(md *warehouse.TableMetadata, parts []string) (string, string, error) {
	if md.PartitionType == warehouse.Unpartitioned || md.PartitionField == "" || len(parts) == 0 || (len(parts) == 1 && parts[0] == "") {
		return "''", "", nil
	}
	day := "DATE(`" + md.PartitionField + "`)"
	key := "FORMAT_DATE('%Y%m%d', " + day + ")"
	if md.PartitionType == warehouse.Month {
		key = "FORMAT_DATE('%Y%m', DATE_TRUNC(" + day + ", MONTH))"
	}
	where, err := warehouse.PartitionFilter(md, parts)
	if err != nil {
		return "", "", err
	}
	return key, " WHERE " + where, nil
}

// DryRunner is what estimating the profile needs: production's schema
// and a dry run. warehouse.Warehouse satisfies it.
type DryRunner interface {
	Table(ctx context.Context, ref warehouse.TableRef) (*warehouse.TableMetadata, error)
	Query(ctx context.Context, job warehouse.QueryJob) (warehouse.JobResult, error)
}

// EstimateBytes is what the profile query will process, from a dry run
// before the backfill starts (its cost estimate). Staging does not exist
// yet: the production side of the query is dry-run, and the staging side
// taken to read as much (staging holds the partitions that replace those),
// so the figure is twice the dry run. The dry run is the warehouse's own:
// on BigQuery it prunes to the profiled partitions and the columns read;
// the embedded warehouse counts the table read whole (an upper bound). No
// production table yet (a new table): 0, and known is false.
func EstimateBytes(ctx context.Context, w DryRunner, o Options) (bytes int64, known bool, err error) {
	md, err := w.Table(ctx, o.Production)
	if warehouse.IsNotFound(err) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("estimate the profile of %s: %w", o.Production, err)
	}
	_, production, _, err := sides(md, o)
	if err != nil {
		return 0, false, fmt.Errorf("estimate the profile of %s: %w", o.Production, err)
	}
	res, err := w.Query(ctx, warehouse.QueryJob{SQL: production, DryRun: true, BillingProject: o.BillingProject, Labels: map[string]string{"bqbackfill": "profile"}})
	if err != nil {
		return 0, false, fmt.Errorf("dry run of the profile of %s: %w", o.Production, err)
	}
	return 2 * res.BytesProcessed, true, nil
}

// Run profiles staging against production and returns every change of
// the requested partitions (unsorted: see Sorted). Production missing
// (a new table) profiles as empty.
func Run(ctx context.Context, w Warehouse, o Options) ([]Change, error) {
	// The schema is production's (staging is created like it); staging's
	// only when production does not exist yet.
	md, err := w.Table(ctx, o.Production)
	if warehouse.IsNotFound(err) {
		md, err = w.Table(ctx, o.Staging)
	}
	if err != nil {
		return nil, fmt.Errorf("profile %s: %w", o.Staging, err)
	}
	sql, names, err := Query(md, o)
	if err != nil {
		return nil, fmt.Errorf("profile %s: %w", o.Staging, err)
	}
	rows, err := w.Read(ctx, warehouse.QueryJob{SQL: sql, BillingProject: o.BillingProject, Labels: map[string]string{"bqbackfill": "profile"}})
	if err != nil {
		return nil, fmt.Errorf("profile %s against %s: %w", o.Staging, o.Production, err)
	}
	type key struct{ side, part string }
	vals := map[key][]*float64{}
	for _, r := range rows.Rows {
		if len(r) != len(names)+2 {
			return nil, fmt.Errorf("profile %s: %d columns, want %d", o.Staging, len(r), len(names)+2)
		}
		k := key{fmt.Sprint(r[0]), fmt.Sprint(r[1])}
		v := make([]*float64, len(names))
		for i := range names {
			v[i] = toFloat(r[i+2])
		}
		vals[k] = v
	}
	parts := o.Partitions
	if len(parts) == 0 {
		parts = []string{""}
	}
	var out []Change
	zero := 0.0
	for _, p := range parts {
		st, pr := vals[key{"staging", p}], vals[key{"production", p}]
		for i, n := range names {
			c := Change{Partition: p, Metric: n}
			if st != nil {
				c.Staging = st[i]
			} else if i == 0 || strings.HasPrefix(n, "nulls(") || strings.HasPrefix(n, "distinct(") {
				c.Staging = &zero // no rows: counts are 0, sums/min/max NULL
			}
			if pr != nil {
				c.Production = pr[i]
			} else if i == 0 || strings.HasPrefix(n, "nulls(") || strings.HasPrefix(n, "distinct(") {
				c.Production = &zero
			}
			if c.Staging != nil && c.Production != nil {
				s, q := *c.Staging, *c.Production
				switch {
				case s == q:
					r := 0.0
					c.Relative = &r
				case q == 0:
					c.Infinite = true
				default:
					r := (s - q) / math.Abs(q)
					c.Relative = &r
				}
			}
			out = append(out, c)
		}
	}
	return out, nil
}

func toFloat(v any) *float64 {
	var f float64
	switch x := v.(type) {
	case nil:
		return nil
	case int64:
		f = float64(x)
	case int32:
		f = float64(x)
	case int:
		f = float64(x)
	case float64:
		f = x
	case float32:
		f = float64(x)
	default:
		p, err := strconv.ParseFloat(fmt.Sprint(x), 64)
		if err != nil {
			return nil
		}
		f = p
	}
	return &f
}

// Changed reports whether staging differs from production.
func (c Change) Changed() bool { return c.magnitude() > 0 }
