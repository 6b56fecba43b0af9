package shredder

import (
	"fmt"
	"strings"

	"github.com/bqbackfill/bqbackfill/shared/warehouse"
)

// Placeholders of reference §6.2: a NULL or '??' string dimension and a
// NULL INTEGER or FLOAT dimension become a wildcard, so that NULL groups
// join (and '??' merges with NULL, as upstream does).
const (
	nullString   = "??"
	wildString   = "???????"
	wildNumber   = "-9999999"
	floatDecimal = 10 // shredded FLOAT metrics are rounded before subtracting
	checkDecimal = 6  // FLOAT sums are compared rounded in the checks
)

// dimKind is how a dimension is made joinable.
type dimKind int

const (
	wildcardString dimKind = iota // IF(d IS NULL OR d = '??', '???????', d); joined with =
	wildcardNumber                // COALESCE(d, -9999999); joined with =
	nullSafe                      // d; joined null-safely
)

// kind: STRING and INTEGER use upstream's wildcards; FLOAT too (upstream
// wildcards it in the aggregates and then compares it with a string in the
// final select, which is invalid SQL); every other type (BOOLEAN and DATE
// as upstream, and NUMERIC, DATETIME, TIME, TIMESTAMP, BYTES, which
// upstream leaves out of the aggregates and so breaks) is projected bare
// and joined null-safely.
func (c Column) kind() dimKind {
	switch c.Type {
	case String:
		return wildcardString
	case Integer, Float:
		return wildcardNumber
	}
	return nullSafe
}

func q(name string) string { return "`" + strings.ReplaceAll(name, "`", "\\`") + "`" }

// partitionFilter restricts a read of the previous table (or staging) to
// the partition being written. Upstream binds @<partition field>, which
// the runner never binds; the date parameter is what the plan binds per
// partition (its value is the partition's date).
func (m *Mitigation) partitionFilter() string {
	pf := m.PartitionField
	col := pf
	if t := m.partitionColumn().Type; t == Timestamp || t == DateTime {
		col = "DATE(" + pf + ")"
	}
	if m.PartitionType == warehouse.Month {
		return fmt.Sprintf("DATE_TRUNC(%s, MONTH) = DATE_TRUNC(@%s, MONTH)", col, m.Param)
	}
	return fmt.Sprintf("%s = @%s", col, m.Param)
}

func (m *Mitigation) partitionColumn() Column {
	for _, c := range m.Columns {
		if strings.EqualFold(c.Name, m.PartitionField) {
			return c
		}
	}
	return Column{Name: m.PartitionField, Type: Date}
}

func (m *Mitigation) isPartition(c Column) bool { return strings.EqualFold(c.Name, m.PartitionField) }

// commonDims are the common dimensions other than the partition column, in
// upstream's aggregate order: wildcard strings, wildcard numbers, the rest.
func (m *Mitigation) commonDims() []Column {
	var out []Column
	for _, k := range []dimKind{wildcardString, wildcardNumber, nullSafe} {
		for _, c := range m.ByRole(CommonDimension) {
			if c.kind() == k && !m.isPartition(c) {
				out = append(out, c)
			}
		}
	}
	return out
}

// carried are the columns neither compared nor computed: undetermined ones
// and removed dimensions the new query still outputs.
func (m *Mitigation) carried() []Column {
	var out []Column
	for _, c := range m.Columns {
		if c.Role == Undetermined || c.Role == RemovedDimension && c.InSchema {
			out = append(out, c)
		}
	}
	return out
}

func (m *Mitigation) metrics() []Column {
	var out []Column
	for _, c := range m.Columns {
		if c.Role == CommonMetric || c.Role == AddedMetric {
			out = append(out, c)
		}
	}
	return out
}

// aggregate is the select list of new_agg and previous_agg (§6.2).
func (m *Mitigation) aggregate() []string {
	items := []string{m.PartitionField}
	for _, c := range m.commonDims() {
		switch c.kind() {
		case wildcardString:
			items = append(items, fmt.Sprintf("IF(%s IS NULL OR %s = '%s', '%s', %s) AS %s", c.Name, c.Name, nullString, wildString, c.Name, c.Name))
		case wildcardNumber:
			items = append(items, fmt.Sprintf("COALESCE(%s, %s) AS %s", c.Name, wildNumber, c.Name))
		default:
			items = append(items, c.Name)
		}
	}
	for _, c := range m.ByRole(CommonMetric) {
		items = append(items, fmt.Sprintf("SUM(%s) AS %s", c.Name, c.Name))
	}
	return items
}

// typedNull is NULL of a column's type; a STRUCT or ARRAY column gets a
// bare NULL, which the UNION ALL coerces to the other branch's type.
func typedNull(c Column) string {
	if s := c.Type.SQL(); s != "" {
		return fmt.Sprintf("CAST(NULL AS %s)", s)
	}
	return "NULL"
}

// shredded is the select list, join and filter of the shredded rows (§6.3).
func (m *Mitigation) shredded() (items, on, where []string) {
	pf := m.PartitionField
	items = []string{"previous_agg." + pf}
	on = []string{fmt.Sprintf("previous_agg.%s = new_agg.%s", pf, pf)}
	for _, c := range m.commonDims() {
		items = append(items, "previous_agg."+c.Name)
		if c.kind() == nullSafe {
			on = append(on, fmt.Sprintf("(previous_agg.%s = new_agg.%s OR (previous_agg.%s IS NULL AND new_agg.%s IS NULL))", c.Name, c.Name, c.Name, c.Name))
		} else {
			on = append(on, fmt.Sprintf("previous_agg.%s = new_agg.%s", c.Name, c.Name))
		}
	}
	for _, c := range m.ByRole(AddedDimension) {
		items = append(items, typedNull(c)+" AS "+c.Name)
	}
	for _, c := range m.carried() {
		items = append(items, typedNull(c)+" AS "+c.Name)
	}
	for _, c := range m.ByRole(CommonMetric) {
		if c.Type == Float {
			items = append(items, fmt.Sprintf("ROUND(previous_agg.%s, %d) - ROUND(COALESCE(new_agg.%s, 0), %d) AS %s", c.Name, floatDecimal, c.Name, floatDecimal, c.Name))
		} else {
			items = append(items, fmt.Sprintf("previous_agg.%s - COALESCE(new_agg.%s, 0) AS %s", c.Name, c.Name, c.Name))
		}
		where = append(where, fmt.Sprintf("COALESCE(previous_agg.%s, 0) > COALESCE(new_agg.%s, 0)", c.Name, c.Name))
	}
	for _, c := range m.ByRole(AddedMetric) {
		items = append(items, fmt.Sprintf("CAST(0 AS %s) AS %s", c.Type.SQL(), c.Name))
	}
	return items, on, where
}

// final is the select list of both branches of the result (§6.4): the
// common dimensions, then the added ones, then the metrics, each sorted by
// name, with the wildcards turned back into NULL; then the carried columns.
func (m *Mitigation) final() []string {
	var items []string
	dims := append(m.ByRole(CommonDimension), m.ByRole(AddedDimension)...)
	for _, c := range dims {
		switch {
		case c.Type == String:
			items = append(items, fmt.Sprintf("IF(%s = '%s', CAST(NULL AS STRING), %s) AS %s", c.Name, wildString, c.Name, c.Name))
		case c.kind() == wildcardNumber:
			items = append(items, fmt.Sprintf("IF(%s = %s, CAST(NULL AS %s), %s) AS %s", c.Name, wildNumber, c.Type.SQL(), c.Name, c.Name))
		default:
			items = append(items, fmt.Sprintf("%s AS %s", c.Name, c.Name))
		}
	}
	for _, c := range m.metrics() {
		items = append(items, c.Name)
	}
	for _, c := range m.carried() {
		items = append(items, c.Name)
	}
	return items
}

func list(items []string, indent string) string {
	return indent + strings.Join(items, ",\n"+indent)
}

// TrimQuery removes a query's trailing semicolon and surrounding space, so
// it can be a CTE (upstream keeps the ';', which makes its query invalid).
func TrimQuery(sql string) string {
	s := strings.TrimSpace(sql)
	for strings.HasSuffix(s, ";") {
		s = strings.TrimSpace(strings.TrimSuffix(s, ";"))
	}
	return s
}

// Query is the generated query for newQuery (the new version's query text,
// rendered). It binds the date parameter, as the new query does.
func (m *Mitigation) Query(newQuery string) string {
	shItems, on, where := m.shredded()
	agg := list(m.aggregate(), "    ")
	final := list(m.final(), "  ")
	var b strings.Builder
	b.WriteString("-- Query generated using a template for shredder mitigation.\n")
	fmt.Fprintf(&b, "WITH new_version AS (\n%s\n),\n", TrimQuery(newQuery))
	fmt.Fprintf(&b, "new_agg AS (\n  SELECT\n%s\n  FROM\n    new_version\n  GROUP BY\n    ALL\n),\n", agg)
	fmt.Fprintf(&b, "previous_agg AS (\n  SELECT\n%s\n  FROM\n    %s\n  WHERE\n    %s\n  GROUP BY\n    ALL\n),\n", agg, q(m.Previous.String()), m.partitionFilter())
	fmt.Fprintf(&b, "shredded AS (\n  SELECT\n%s\n  FROM\n    previous_agg\n  LEFT JOIN\n    new_agg\n    ON %s\n  WHERE\n    %s\n)\n",
		list(shItems, "    "), strings.Join(on, "\n    AND "), strings.Join(where, "\n    OR "))
	fmt.Fprintf(&b, "SELECT\n%s\nFROM\n  new_version\nUNION ALL\nSELECT\n%s\nFROM\n  shredded\n", final, final)
	return b.String()
}

// checkAggregate is the select list of the checks' previous and
// new_version CTEs (§7): wildcard strings, every other common dimension
// bare, the common metrics summed. FLOAT sums are rounded: upstream
// compares them exactly, so the order of a parallel sum alone could fail
// the check and block the backfill.
func (m *Mitigation) checkAggregate() []string {
	items := []string{m.PartitionField}
	for _, c := range m.commonDims() {
		if c.kind() == wildcardString {
			items = append(items, fmt.Sprintf("IF(%s IS NULL OR %s = '%s', '%s', %s) AS %s", c.Name, c.Name, nullString, wildString, c.Name, c.Name))
		} else {
			items = append(items, c.Name)
		}
	}
	for _, c := range m.ByRole(CommonMetric) {
		if c.Type == Float {
			items = append(items, fmt.Sprintf("ROUND(SUM(%s), %d) AS %s", c.Name, checkDecimal, c.Name))
		} else {
			items = append(items, fmt.Sprintf("SUM(%s) AS %s", c.Name, c.Name))
		}
	}
	return items
}

// Check is one generated check: a statement that raises an error with
// Message's text (and a sample row) when the backfilled partition does not
// re-sum to the previous version.
type Check struct {
	Name string
	SQL  string
}

// Checks are the two #fail checks of §7 for the partition written to
// staging: rows of the previous version missing from staging, and rows of
// staging the previous version does not have. They bind the same date
// parameter as the query.
func (m *Mitigation) Checks(staging warehouse.TableRef) []Check {
	agg := list(m.checkAggregate(), "    ")
	ctes := fmt.Sprintf("WITH previous AS (\n  SELECT\n%s\n  FROM\n    %s\n  WHERE\n    %s\n  GROUP BY\n    ALL\n),\nnew_version AS (\n  SELECT\n%s\n  FROM\n    %s\n  WHERE\n    %s\n  GROUP BY\n    ALL\n)",
		agg, q(m.Previous.String()), m.partitionFilter(), agg, q(staging.String()), m.partitionFilter())
	one := func(name, a, b, msg, sample string) Check {
		sql := fmt.Sprintf("%s,\n%s AS (\n  SELECT * FROM %s\n  EXCEPT DISTINCT\n  SELECT * FROM %s\n)\nSELECT\n  IF(\n    COUNT(*) > 0,\n    ERROR(CONCAT(CAST(COUNT(*) AS STRING), '%s', '%s', TO_JSON_STRING(ANY_VALUE(t)))),\n    NULL\n  )\nFROM\n  %s AS t",
			ctes, name, a, b, msg, sample, name)
		return Check{Name: name, SQL: sql}
	}
	return []Check{
		one("previous_not_matching", "previous", "new_version",
			" rows in the previous data don''t match backfilled data! Run auto-generated checks for all mismatches & search for rows missing or with differences in metrics.",
			" Sample row in previous version: "),
		one("backfilled_not_matching", "new_version", "previous",
			" rows in backfill don''t match previous version of data! Run auto-generated checks for all mismatches & search for rows added or with differences in metrics.",
			" Sample row in new_version: "),
	}
}

// ChecksFile is the checks as a checks.sql text (three comment lines, each
// statement preceded by #fail and ended by ';'), the form bqetl writes to
// shredder_mitigation_checks.sql.
func (m *Mitigation) ChecksFile(staging warehouse.TableRef) string {
	var b strings.Builder
	b.WriteString("-- Checks generated using a template for shredder mitigation.\n")
	b.WriteString("-- They fail when the backfilled partition, summed over the previous version's\n")
	b.WriteString("-- common dimensions, differs from the previous version.\n")
	for _, c := range m.Checks(staging) {
		fmt.Fprintf(&b, "#fail\n%s;\n", c.SQL)
	}
	return b.String()
}
