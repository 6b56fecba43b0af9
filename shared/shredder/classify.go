package shredder

import (
	"fmt"
	"sort"
	"strings"

	"github.com/bqbackfill/bqbackfill/shared/metadata"
)

// Type is a column's type group (reference shredder-mitigation.md §5.1),
// from its schema.yaml type and mode.
type Type string

// Type groups. Upstream's table is kept where it works and fixed where it
// crashes or emits invalid SQL: FLOAT64 is FLOAT, BIGINT is INTEGER,
// DECIMAL is NUMERIC (upstream leaves them to the sample value, which
// aborts on decimals), TIME is TIME (upstream's substring match makes it
// DATETIME) and BYTES is its own group (upstream compares bytes with the
// string '??'). A REPEATED field is ARRAY whatever its type.
const (
	String     Type = "STRING"
	Bytes      Type = "BYTES"
	Boolean    Type = "BOOLEAN"
	Integer    Type = "INTEGER"
	Float      Type = "FLOAT"
	Numeric    Type = "NUMERIC"
	BigNumeric Type = "BIGNUMERIC"
	Date       Type = "DATE"
	DateTime   Type = "DATETIME"
	Time       Type = "TIME"
	Timestamp  Type = "TIMESTAMP"
	Struct     Type = "STRUCT"
	Array      Type = "ARRAY"
)

// TypeOf maps a schema.yaml field to its type group; other types (JSON,
// GEOGRAPHY, INTERVAL, …) keep their upper-cased name.
func TypeOf(f metadata.Field) Type {
	if strings.EqualFold(f.Mode, "REPEATED") {
		return Array
	}
	switch t := strings.ToUpper(strings.TrimSpace(f.Type)); t {
	case "STRING":
		return String
	case "BYTES":
		return Bytes
	case "BOOLEAN", "BOOL":
		return Boolean
	case "INTEGER", "INT64", "INT", "SMALLINT", "TINYINT", "BYTEINT", "BIGINT":
		return Integer
	case "FLOAT", "FLOAT64":
		return Float
	case "NUMERIC", "DECIMAL":
		return Numeric
	case "BIGNUMERIC", "BIGDECIMAL":
		return BigNumeric
	case "DATE":
		return Date
	case "DATETIME":
		return DateTime
	case "TIME":
		return Time
	case "TIMESTAMP":
		return Timestamp
	case "RECORD", "STRUCT":
		return Struct
	default:
		return Type(t)
	}
}

// SQL is the GoogleSQL name used in a CAST, "" for types a CAST cannot name
// without their fields (STRUCT, ARRAY).
func (t Type) SQL() string {
	switch t {
	case Boolean:
		return "BOOL"
	case Integer:
		return "INT64"
	case Float:
		return "FLOAT64"
	case Struct, Array:
		return ""
	}
	return string(t)
}

// metric reports whether a column of this type can be a metric.
func (t Type) metric() bool {
	return t == Integer || t == Float || t == Numeric || t == BigNumeric
}

// groupable reports whether BigQuery can GROUP BY a column of this type.
func (t Type) groupable() bool {
	switch t {
	case Struct, Array, "JSON", "GEOGRAPHY":
		return false
	}
	return true
}

// Role is what a column is to the mitigation.
type Role string

// Roles (reference §5.3).
const (
	// CommonDimension is in both GROUP BY lists (the partition column
	// always is: see Classify).
	CommonDimension Role = "common_dimension"
	// AddedDimension is only in the new GROUP BY: NULL in shredded rows.
	AddedDimension Role = "added_dimension"
	// RemovedDimension is only in the previous GROUP BY. It is reported; a
	// removed dimension the new query still outputs is carried like an
	// undetermined column.
	RemovedDimension Role = "removed_dimension"
	// CommonMetric is numeric, in neither GROUP BY, and a column of the
	// previous schema: its shredded difference is computed.
	CommonMetric Role = "common_metric"
	// AddedMetric is numeric and new: 0 in shredded rows.
	AddedMetric Role = "added_metric"
	// Undetermined is any other column of the new schema. Upstream drops it
	// from the generated query; here new rows keep it and shredded rows
	// have NULL, so the backfill does not silently empty a column (and the
	// partition write keeps the table's schema).
	Undetermined Role = "undetermined"
)

// Column is one classified column.
type Column struct {
	Name string `json:"name"`
	Type Type   `json:"type"`
	Role Role   `json:"role"`
	// InSchema is false for a removed dimension the new schema lacks.
	InSchema bool `json:"-"`
}

// Error is a precondition of the mitigation that does not hold. Rule is
// the rule id shared/backfill reports (see Rules); Field names the
// metadata or file the problem is in, when there is one.
type Error struct {
	Rule    string
	File    string
	Message string
}

func (e *Error) Error() string { return e.Message + " [" + e.Rule + "]" }

func errorf(rule, file, format string, args ...any) *Error {
	return &Error{Rule: rule, File: file, Message: fmt.Sprintf(format, args...)}
}

// Rules describes the rule ids of this package.
var Rules = map[string]string{
	"S1": "shredder_mitigation: the table name does not end in _v<N> with N >= 2",
	"S2": "shredder_mitigation: the previous version (_v<N-1> in the same dataset) or its files are missing, or a query is not SQL",
	"S3": "shredder_mitigation: a GROUP BY is not an explicit list of columns",
	"S4": "shredder_mitigation: a GROUP BY column is not in the new schema.yaml, or cannot be grouped",
	"S5": "shredder_mitigation: no common dimension or no metric",
	"S6": "shredder_mitigation: no metric that exists in the previous version",
	"S7": "shredder_mitigation: the tables are not day or month partitioned by the same DATE column with a date parameter",
}

// classify sorts the new schema's columns into roles (reference §5.3)
// from the two GROUP BY lists and the two schemas. The partition column
// is always a common dimension: both versions are partitioned by it, and
// upstream breaks when it is not in both lists (added: NULL partition
// values; undetermined: dropped). Names match case-insensitively, as
// BigQuery's do.
func classify(pf string, prevGroupBy, newGroupBy []string, prevSchema, newSchema []metadata.Field, newSchemaFile string) ([]Column, *Error) {
	key := strings.ToLower
	inPrev, inNew := map[string]bool{}, map[string]bool{}
	for _, g := range prevGroupBy {
		inPrev[key(g)] = true
	}
	for _, g := range newGroupBy {
		inNew[key(g)] = true
	}
	prevCols := map[string]bool{}
	for _, f := range prevSchema {
		prevCols[key(f.Name)] = true
	}
	newCols := map[string]metadata.Field{}
	for _, f := range newSchema {
		newCols[key(f.Name)] = f
	}
	var missing []string
	for _, g := range newGroupBy {
		if _, ok := newCols[key(g)]; !ok {
			missing = append(missing, g)
		}
	}
	if len(missing) > 0 {
		return nil, errorf("S4", newSchemaFile, "the new query's GROUP BY columns %s are not in schema.yaml: the dimensions must be output columns of the query, listed in schema.yaml", strings.Join(missing, ", "))
	}
	if _, ok := newCols[key(pf)]; !ok {
		return nil, errorf("S7", newSchemaFile, "the partition column %s is not in schema.yaml: the query must output it", pf)
	}
	var cols []Column
	for _, f := range newSchema {
		k := key(f.Name)
		c := Column{Name: f.Name, Type: TypeOf(f), InSchema: true}
		switch {
		case k == key(pf) || inPrev[k] && inNew[k]:
			c.Role = CommonDimension
		case inNew[k]:
			c.Role = AddedDimension
		case inPrev[k]:
			c.Role = RemovedDimension
		case c.Type.metric() && prevCols[k]:
			c.Role = CommonMetric
		case c.Type.metric():
			c.Role = AddedMetric
		default:
			c.Role = Undetermined
		}
		if (c.Role == CommonDimension || c.Role == AddedDimension) && !c.Type.groupable() {
			return nil, errorf("S4", newSchemaFile, "dimension %s has type %s, which BigQuery cannot group by", c.Name, c.Type)
		}
		cols = append(cols, c)
	}
	for _, g := range prevGroupBy {
		if _, ok := newCols[key(g)]; !ok {
			cols = append(cols, Column{Name: g, Role: RemovedDimension})
		}
	}
	sort.SliceStable(cols, func(i, j int) bool { return cols[i].Name < cols[j].Name })
	common, metrics, commonMetrics := 0, 0, 0
	for _, c := range cols {
		switch c.Role {
		case CommonDimension:
			if inPrev[key(c.Name)] && inNew[key(c.Name)] {
				common++
			}
		case CommonMetric:
			metrics++
			commonMetrics++
		case AddedMetric:
			metrics++
		}
	}
	if common == 0 || metrics == 0 {
		return nil, errorf("S5", newSchemaFile, "the process requires that previous & new query have at least one dimension in common, and one metric (found %d common dimensions and %d metrics). Adding new dimensions is optional and the backfill can run with shredder mitigation without them to keep the existing data stable", common, metrics)
	}
	if commonMetrics == 0 {
		return nil, errorf("S6", newSchemaFile, "shredder mitigation requires at least one metric that exists in the previous version of the table to compute the shredder impact. All metrics in the new query are new, so there is nothing to mitigate. Consider setting shredder_mitigation = false to backfill without mitigation")
	}
	return cols, nil
}
