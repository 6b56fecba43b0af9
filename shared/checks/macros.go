package checks

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/nikolalohinski/gonja/v2/exec"

	"github.com/bqbackfill/bqbackfill/shared/warehouse"
)

// A macro is one of bigquery-etl's data-check macros (tests/checks/*.jinja),
// written from their documented behaviour (spec/data-checks.md §6). Each
// emits one statement ending in ";", of the form
// [WITH …] SELECT IF(<cond>, ERROR(<msg>), NULL).
//
// Arguments bind as a Jinja macro's do: positionally in declaration order,
// or by keyword; an unknown keyword or too many positional arguments is an
// error. Where upstream emits invalid SQL the evident intent is implemented
// instead (each place says so).
type macro struct {
	params   []string
	defaults map[string]any
	emit     func(t warehouse.TableRef, a args) (string, error)
}

// args are a macro call's bound arguments; a missing one is nil.
type args map[string]*exec.Value

var macros = map[string]macro{
	"not_null":                             {params: []string{"columns", "where"}, emit: notNull},
	"is_unique":                            {params: []string{"columns", "where"}, emit: isUnique},
	"min_row_count":                        {params: []string{"threshold", "where"}, defaults: map[string]any{"threshold": 1}, emit: minRowCount},
	"in_range":                             {params: []string{"columns", "min", "max", "where"}, emit: inRange},
	"accepted_values":                      {params: []string{"column", "values", "where"}, emit: acceptedValues},
	"matches_pattern":                      {params: []string{"column", "pattern", "where", "threshold_fail_percentage", "message"}, defaults: map[string]any{"threshold_fail_percentage": 0}, emit: matchesPattern},
	"value_length":                         {params: []string{"column", "expected_length", "where"}, emit: valueLength},
	"row_count_within_past_partitions_avg": {params: []string{"number_of_days", "threshold_percentage", "partition_field"}, defaults: map[string]any{"partition_field": "submission_date"}, emit: rowCountWithinPastAvg},
	"revenue_period_over_period_change":    {params: []string{"columns", "period_column", "threshold", "dimensions", "date_where", "field_where"}, emit: periodOverPeriod},
}

// MacroNames lists the macros a checks file may call.
func MacroNames() []string {
	names := make([]string, 0, len(macros))
	for n := range macros {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// bind returns the Jinja-callable function for m reading table t.
func (m macro) bind(t warehouse.TableRef) func(*exec.VarArgs) (string, error) {
	return func(va *exec.VarArgs) (string, error) {
		a, err := m.args(va)
		if err != nil {
			return "", err
		}
		return m.emit(t, a)
	}
}

func (m macro) args(va *exec.VarArgs) (args, error) {
	if len(va.Args) > len(m.params) {
		return nil, fmt.Errorf("takes not more than %d argument(s), got %d", len(m.params), len(va.Args))
	}
	a := args{}
	for i, v := range va.Args {
		a[m.params[i]] = v
	}
	for k, v := range va.KwArgs {
		known := false
		for _, p := range m.params {
			known = known || p == k
		}
		if !known {
			return nil, fmt.Errorf("takes no keyword argument %q (arguments: %s)", k, strings.Join(m.params, ", "))
		}
		if _, dup := a[k]; dup {
			return nil, fmt.Errorf("got multiple values for argument %q", k)
		}
		a[k] = v
	}
	for k, d := range m.defaults {
		if _, ok := a[k]; !ok {
			a[k] = exec.AsValue(d)
		}
	}
	return a, nil
}

// has reports whether an argument was given and is not none.
func (a args) has(k string) bool { v := a[k]; return v != nil && !v.IsNil() }

// text is the argument as Jinja's {{ }} prints it ("" when missing).
func (a args) text(k string) string {
	if !a.has(k) {
		return ""
	}
	return pyStr(a[k])
}

// where is " WHERE <where>" when where is set and not empty.
func (a args) where() string {
	w := strings.TrimSpace(a.text("where"))
	if w == "" || !a["where"].IsTrue() {
		return ""
	}
	return "\nWHERE\n  " + w
}

// required fails when an argument is missing; upstream renders an empty
// value and the SQL fails, here the file fails to render instead.
func (a args) required(ks ...string) error {
	for _, k := range ks {
		if !a.has(k) || strings.TrimSpace(a.text(k)) == "" {
			return fmt.Errorf("argument %q is required", k)
		}
	}
	return nil
}

// columns reads a column list: a list, or one string.
func (a args) columns(k string) ([]string, error) {
	if err := a.required(k); err != nil {
		return nil, err
	}
	v := a[k]
	if v.IsString() {
		return []string{v.String()}, nil
	}
	if !v.IsList() {
		return nil, fmt.Errorf("argument %q must be a column name or a list of them, got %s", k, pyRepr(v))
	}
	var cols []string
	for i := 0; i < v.Len(); i++ {
		c := strings.TrimSpace(pyStr(v.Index(i)))
		if c == "" {
			return nil, fmt.Errorf("argument %q: element %d is empty", k, i+1)
		}
		cols = append(cols, c)
	}
	if len(cols) == 0 {
		return nil, fmt.Errorf("argument %q is an empty list", k)
	}
	return cols, nil
}

// pyStr prints a value as Jinja (Python str) does: lists as their repr, none
// as None, floats with a decimal point.
func pyStr(v *exec.Value) string {
	if v == nil {
		return ""
	}
	if v.IsString() {
		return v.String()
	}
	return pyRepr(v)
}

// pyRepr is Python's repr of a value (strings quoted as Python quotes them).
func pyRepr(v *exec.Value) string {
	switch {
	case v == nil || v.IsNil():
		return "None"
	case v.IsString():
		s := v.String()
		q := "'"
		if strings.Contains(s, "'") && !strings.Contains(s, `"`) {
			q = `"`
		}
		s = strings.ReplaceAll(s, `\`, `\\`)
		if q == "'" {
			s = strings.ReplaceAll(s, "'", `\'`)
		}
		s = strings.NewReplacer("\n", `\n`, "\t", `\t`, "\r", `\r`).Replace(s)
		return q + s + q
	case v.IsBool():
		if v.Bool() {
			return "True"
		}
		return "False"
	case v.IsInteger():
		return strconv.Itoa(v.Integer())
	case v.IsFloat():
		f := v.Float()
		if f == math.Trunc(f) && math.Abs(f) < 1e16 {
			return strconv.FormatFloat(f, 'f', 1, 64)
		}
		return strconv.FormatFloat(f, 'g', -1, 64)
	case v.IsList():
		parts := make([]string, v.Len())
		for i := range parts {
			parts[i] = pyRepr(v.Index(i))
		}
		return "[" + strings.Join(parts, ", ") + "]"
	}
	return v.String()
}

// sqlString quotes s as a BigQuery double-quoted string literal. Upstream
// splices messages into "…" unescaped, so a " or \ in a pattern or where
// clause breaks the SQL; the evident intent is the text itself.
func sqlString(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`, "\r", `\r`)
	return `"` + r.Replace(s) + `"`
}

func ref(t warehouse.TableRef) string { return "`" + t.Project + "." + t.Dataset + "." + t.Table + "`" }

// flaggedColumns is the shared tail of not_null and in_range: one array of
// the flagged column names (NULL for unflagged), flattened with
// ARRAY_AGG(… IGNORE NULLS), and an ERROR listing them.
func flaggedColumns(t warehouse.TableRef, a args, flags []string, msg string) string {
	return "WITH flags AS (\n  SELECT\n    [\n      " + strings.Join(flags, ",\n      ") + "\n    ] AS checks\n  FROM\n    " + ref(t) + a.where() + "\n),\n" +
		"flagged AS (\n  SELECT\n    ARRAY_AGG(u IGNORE NULLS) AS checks\n  FROM\n    flags,\n    UNNEST(checks) AS u\n)\n" +
		"SELECT\n  IF(\n    (SELECT ARRAY_LENGTH(checks) FROM flagged) > 0,\n    ERROR(\n      CONCAT(\n        " + sqlString(msg) +
		",\n        (SELECT ARRAY_TO_STRING(checks, \", \") FROM flagged)\n      )\n    ),\n    NULL\n  );"
}

func notNull(t warehouse.TableRef, a args) (string, error) {
	cols, err := a.columns("columns")
	if err != nil {
		return "", err
	}
	flags := make([]string, len(cols))
	for i, c := range cols {
		flags[i] = fmt.Sprintf("IF(COUNTIF(%s IS NULL) > 0, %s, NULL)", c, sqlString(c))
	}
	return flaggedColumns(t, a, flags, "Columns with NULL values: "), nil
}

func inRange(t warehouse.TableRef, a args) (string, error) {
	cols, err := a.columns("columns")
	if err != nil {
		return "", err
	}
	// Upstream has no defaults: an omitted bound renders empty and the SQL
	// fails. Evident intent: an omitted bound is no bound.
	lo, hi := a.has("min") && a.text("min") != "", a.has("max") && a.text("max") != ""
	if !lo && !hi {
		return "", fmt.Errorf("needs min or max (both are none)")
	}
	flags := make([]string, len(cols))
	for i, c := range cols {
		var test string
		switch {
		case lo && hi:
			// Upstream writes IS NOT BETWEEN, which GoogleSQL does not have.
			test = fmt.Sprintf("%s NOT BETWEEN %s AND %s", c, a.text("min"), a.text("max"))
		case lo:
			test = fmt.Sprintf("%s < %s", c, a.text("min"))
		default:
			test = fmt.Sprintf("%s > %s", c, a.text("max"))
		}
		flags[i] = fmt.Sprintf("IF(COUNTIF(%s) > 0, %s, NULL)", test, sqlString(c))
	}
	msg := fmt.Sprintf("Columns with values not within defined range [%s, %s]: ", pyStr(a["min"]), pyStr(a["max"]))
	return flaggedColumns(t, a, flags, msg), nil
}

func isUnique(t warehouse.TableRef, a args) (string, error) {
	cols, err := a.columns("columns")
	if err != nil {
		return "", err
	}
	list := strings.Join(cols, ", ")
	repr := make([]string, len(cols))
	for i, c := range cols {
		repr[i] = pyRepr(exec.AsValue(c))
	}
	msg := "Duplicates detected (Expected combined set of values for columns [" + strings.Join(repr, ", ") + "] to be unique"
	if w := a.where(); w != "" {
		msg += " where " + strings.TrimSpace(a.text("where"))
	}
	msg += ".)"
	return "SELECT\n  IF(\n    (\n      SELECT\n        COUNT(*)\n      FROM\n        (\n          SELECT\n            " + list +
		",\n            COUNT(*) AS total_count\n          FROM\n            " + ref(t) + a.where() +
		"\n          GROUP BY\n            " + list + "\n          HAVING\n            total_count > 1\n        )\n    ) > 0,\n    ERROR(" +
		sqlString(msg) + "),\n    NULL\n  );", nil
}

func minRowCount(t warehouse.TableRef, a args) (string, error) {
	if err := a.required("threshold"); err != nil {
		return "", err
	}
	th := a.text("threshold")
	return "WITH min_row_count AS (\n  SELECT\n    COUNT(*) AS total_rows\n  FROM\n    " + ref(t) + a.where() + "\n)\n" +
		"SELECT\n  IF(\n    (SELECT COUNTIF(total_rows < " + th + ") FROM min_row_count) > 0,\n    ERROR(\n      CONCAT(\n        \"Min Row Count Error: \",\n" +
		"        (SELECT total_rows FROM min_row_count),\n        " + sqlString(" rows found, expected more than "+th+" rows") + "\n      )\n    ),\n    NULL\n  );", nil
}

func acceptedValues(t warehouse.TableRef, a args) (string, error) {
	if err := a.required("column", "values"); err != nil {
		return "", err
	}
	col := a.text("column")
	vals := a.text("values")
	if !a["values"].IsString() {
		vals = pyRepr(a["values"])
	}
	return "WITH offenders AS (\n  SELECT\n    COUNTIF(" + col + " NOT IN UNNEST(" + vals + ")) AS n\n  FROM\n    " + ref(t) + a.where() + "\n)\n" +
		"SELECT\n  IF(\n    (SELECT n FROM offenders) > 0,\n    ERROR(" + sqlString("Unexpected values for field "+col+" detected.") + "),\n    NULL\n  );", nil
}

func matchesPattern(t warehouse.TableRef, a args) (string, error) {
	if err := a.required("column", "pattern", "threshold_fail_percentage"); err != nil {
		return "", err
	}
	col, pat, th := a.text("column"), a.text("pattern"), a.text("threshold_fail_percentage")
	msg := a.text("message")
	if !a.has("message") || msg == "" {
		msg = fmt.Sprintf("The rate of fields that failed to match the pattern for column: `%s` is greater than the `threshold_fail_percentage` (set to: %s). Expected pattern: `%s`.", col, th, pat)
	}
	if strings.Contains(pat, `"`) {
		return "", fmt.Errorf("pattern %q contains a double quote, which cannot be written in the raw string r\"…\"", pat)
	}
	return "SELECT\n  IF(\n    ROUND(\n      COUNTIF(NOT REGEXP_CONTAINS(" + col + ", r\"" + pat + "\")) / GREATEST(COUNT(*), 1) * 100,\n      2\n    ) > " + th +
		",\n    ERROR(" + sqlString(msg) + "),\n    NULL\n  )\nFROM\n  " + ref(t) + a.where() + ";", nil
}

func valueLength(t warehouse.TableRef, a args) (string, error) {
	if err := a.required("column", "expected_length"); err != nil {
		return "", err
	}
	col := a.text("column")
	return "SELECT\n  IF(\n    COUNTIF(LENGTH(" + col + ") <> " + a.text("expected_length") + ") > 0,\n    ERROR(" +
		sqlString("Column: `"+col+"` has values of unexpected length.") + "),\n    NULL\n  )\nFROM\n  " + ref(t) + a.where() + ";", nil
}

func rowCountWithinPastAvg(t warehouse.TableRef, a args) (string, error) {
	if err := a.required("number_of_days", "threshold_percentage", "partition_field"); err != nil {
		return "", err
	}
	n, th, pf := a.text("number_of_days"), a.text("threshold_percentage"), a.text("partition_field")
	parts := "`" + t.Project + "." + t.Dataset + ".INFORMATION_SCHEMA.PARTITIONS`"
	return "WITH rows_per_partition AS (\n  SELECT\n    PARSE_DATE(\"%Y%m%d\", partition_id) AS table_partition,\n    total_rows\n  FROM\n    " + parts +
		"\n  WHERE\n    table_name = " + sqlString(t.Table) + "\n    AND partition_id != \"__NULL__\"\n" +
		"    AND PARSE_DATE(\"%Y%m%d\", partition_id)\n      BETWEEN DATE_SUB(@" + pf + ", INTERVAL " + n + " + 1 DAY) AND DATE(@" + pf + ")\n),\n" +
		"row_counts AS (\n  SELECT\n    SUM(IF(table_partition = @" + pf + ", total_rows, NULL)) AS current_partition_row_count,\n" +
		"    AVG(IF(table_partition < @" + pf + ", total_rows, NULL)) AS row_count_avg\n  FROM\n    rows_per_partition\n),\n" +
		"row_count_boundaries AS (\n  SELECT\n    current_partition_row_count,\n" +
		"    CAST(row_count_avg * (1 - " + th + " / 100) AS INT64) AS lower_bound,\n" +
		"    CAST(row_count_avg * (1 + " + th + " / 100) AS INT64) AS upper_bound\n  FROM\n    row_counts\n)\n" +
		"SELECT\n  IF(\n    current_partition_row_count NOT BETWEEN lower_bound AND upper_bound,\n    ERROR(\n      CONCAT(\n" +
		"        \"The row count for partition \",\n        CAST(@" + pf + " AS STRING),\n        \" is outside of the expected boundaries. \",\n" +
		"        \"Row count for the current_partition: \",\n        CAST(current_partition_row_count AS STRING),\n" +
		"        \". Expected range: \",\n        CAST(lower_bound AS STRING),\n        \" - \",\n        CAST(upper_bound AS STRING)\n      )\n    ),\n    NULL\n  )\nFROM\n  row_count_boundaries;", nil
}

func periodOverPeriod(t warehouse.TableRef, a args) (string, error) {
	cols, err := a.columns("columns")
	if err != nil {
		return "", err
	}
	// Upstream renders LOGICAL_OR() without date_where, which BigQuery
	// rejects: require it.
	if err := a.required("period_column", "threshold", "date_where"); err != nil {
		return "", err
	}
	var dims []string
	if a.has("dimensions") && !(a["dimensions"].IsList() && a["dimensions"].Len() == 0) {
		if dims, err = a.columns("dimensions"); err != nil {
			return "", err
		}
	}
	period, th := a.text("period_column"), a.text("threshold")
	group := append(append([]string{}, dims...), period)
	var sums, flags []string
	for _, c := range cols {
		sums = append(sums, fmt.Sprintf("SUM(COALESCE(%s, 0)) AS %s", c, c))
		over := "OVER (ORDER BY " + period + " ASC)"
		if len(dims) > 0 {
			over = "OVER (PARTITION BY " + strings.Join(dims, ", ") + " ORDER BY " + period + " ASC)"
		}
		flags = append(flags, fmt.Sprintf("IF(SAFE_DIVIDE(ABS(%s - LAG(%s) %s), ABS(LAG(%s) %s)) > %s, %s, NULL)", c, c, over, c, over, th, sqlString(c)))
	}
	fieldWhere := ""
	if w := strings.TrimSpace(a.text("field_where")); w != "" {
		fieldWhere = "\n  WHERE\n    " + w
	}
	return "WITH totals AS (\n  SELECT\n    " + strings.Join(group, ",\n    ") + ",\n    LOGICAL_OR(" + a.text("date_where") + ") AS date_check,\n    " +
		strings.Join(sums, ",\n    ") + "\n  FROM\n    " + ref(t) + fieldWhere + "\n  GROUP BY\n    " + strings.Join(group, ",\n    ") + "\n),\n" +
		"changes AS (\n  SELECT\n    date_check,\n    [\n      " + strings.Join(flags, ",\n      ") + "\n    ] AS checks\n  FROM\n    totals\n),\n" +
		"flagged AS (\n  SELECT\n    ARRAY_AGG(u IGNORE NULLS) AS checks\n  FROM\n    changes,\n    UNNEST(checks) AS u\n  WHERE\n    date_check\n)\n" +
		"SELECT\n  IF(\n    (SELECT ARRAY_LENGTH(checks) FROM flagged) > 0,\n    ERROR(\n      CONCAT(\n        " +
		sqlString("Columns with period over period changes over "+th+": ") + ",\n        (SELECT ARRAY_TO_STRING(checks, \", \") FROM flagged)\n      )\n    ),\n    NULL\n  );", nil
}
