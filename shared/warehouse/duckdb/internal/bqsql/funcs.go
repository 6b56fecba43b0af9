package bqsql

import (
	"fmt"
	"strings"
)

// rewrite turns a BigQuery function call (name and raw arguments) into
// DuckDB SQL.
type rewrite func(tr *translator, name Token, args [][]Token) (string, error)

// funcs holds every function whose name, argument order or result type
// differs between the dialects. Functions not listed pass through
// unchanged (DuckDB has most of BigQuery's common functions under the same
// name); an unknown one fails in DuckDB and is reported as unsupported.
var funcs map[string]rewrite

func init() {
	funcs = map[string]rewrite{
		"CAST":      castFn("CAST"),
		"SAFE_CAST": castFn("TRY_CAST"),

		"DATE_ADD":      dateArith("+", "DATE"),
		"DATE_SUB":      dateArith("-", "DATE"),
		"DATETIME_ADD":  dateArith("+", "TIMESTAMP"),
		"DATETIME_SUB":  dateArith("-", "TIMESTAMP"),
		"TIMESTAMP_ADD": dateArith("+", "TIMESTAMPTZ"),
		"TIMESTAMP_SUB": dateArith("-", "TIMESTAMPTZ"),

		"DATE_DIFF":      diffFn("date_diff", dateUnits),
		"DATETIME_DIFF":  diffFn("date_sub", timeUnits),
		"TIMESTAMP_DIFF": diffFn("date_sub", timeUnits),

		"DATE_TRUNC":      truncFn("DATE", dateUnits),
		"DATETIME_TRUNC":  truncFn("TIMESTAMP", timeUnits),
		"TIMESTAMP_TRUNC": truncFn("TIMESTAMPTZ", timeUnits),

		"DATE":      dateFn,
		"DATETIME":  castOne("DATETIME", "TIMESTAMP"),
		"TIMESTAMP": castOne("TIMESTAMP", "TIMESTAMPTZ"),

		"CURRENT_DATE":      noArgs("current_date"),
		"CURRENT_TIMESTAMP": noArgs("current_timestamp"),
		"CURRENT_DATETIME":  noArgs("CAST(current_timestamp AS TIMESTAMP)"),

		"FORMAT_DATE":      formatFn("strftime", ""),
		"FORMAT_DATETIME":  formatFn("strftime", ""),
		"FORMAT_TIMESTAMP": formatFn("strftime", ""),
		"PARSE_DATE":       formatFn("strptime", "DATE"),
		"PARSE_DATETIME":   formatFn("strptime", "TIMESTAMP"),
		"PARSE_TIMESTAMP":  formatFn("strptime", "TIMESTAMPTZ"),

		"GENERATE_DATE_ARRAY": generateDateArray,
		"GENERATE_ARRAY":      generateArray,
		"EXTRACT":             extractFn,

		"COUNTIF":     countIf,
		"SAFE_DIVIDE": safeDivide,
		"DIV":         fixed("DIV", 2, func(a []string) string { return "((" + a[0] + ") // (" + a[1] + "))" }),
		"LOGICAL_OR":  renamed("bool_or"),
		"LOGICAL_AND": renamed("bool_and"),

		"JSON_EXTRACT_SCALAR": jsonScalar,
		"JSON_VALUE":          jsonScalar,
		"JSON_EXTRACT":        renamed("json_extract"),
		"JSON_QUERY":          renamed("json_extract"),
		"TO_JSON_STRING":      fixed("TO_JSON_STRING", 1, func(a []string) string { return "CAST(to_json(" + a[0] + ") AS VARCHAR)" }),
		"REGEXP_CONTAINS":     renamed("regexp_matches"),
		"SPLIT":               splitFn,
		"ARRAY_CONCAT":        renamed("list_concat"),
		"ARRAY_AGG":           arrayAgg,
	}
}

var dateUnits = map[string]string{"DAY": "day", "WEEK": "week", "ISOWEEK": "week", "MONTH": "month",
	"QUARTER": "quarter", "YEAR": "year", "ISOYEAR": "isoyear"}

var timeUnits = map[string]string{"MICROSECOND": "microsecond", "MILLISECOND": "millisecond",
	"SECOND": "second", "MINUTE": "minute", "HOUR": "hour", "DAY": "day", "WEEK": "week",
	"ISOWEEK": "week", "MONTH": "month", "QUARTER": "quarter", "YEAR": "year", "ISOYEAR": "isoyear"}

// subAll translates every argument.
func subAll(tr *translator, args [][]Token) ([]string, error) {
	out := make([]string, len(args))
	for i, a := range args {
		if len(a) == 0 {
			return nil, fmt.Errorf("empty function argument %d", i+1)
		}
		s, err := tr.sub(a)
		if err != nil {
			return nil, err
		}
		out[i] = s
	}
	return out, nil
}

func argCount(name Token, args [][]Token, counts ...int) error {
	for _, c := range counts {
		if len(args) == c {
			return nil
		}
	}
	want := make([]string, len(counts))
	for i, c := range counts {
		want[i] = fmt.Sprint(c)
	}
	return &SyntaxError{Pos: name.Pos, Msg: fmt.Sprintf("%s takes %s arguments, got %d", name.Upper(), strings.Join(want, " or "), len(args))}
}

// unitArg reads a date part argument such as DAY or MONTH.
func unitArg(name Token, arg []Token, units map[string]string) (string, error) {
	if len(arg) == 1 && arg[0].Kind == Ident {
		if u, ok := units[arg[0].Upper()]; ok {
			return u, nil
		}
		return "", &UnsupportedError{Construct: fmt.Sprintf("date part %s in %s", arg[0].Text, name.Upper())}
	}
	if len(arg) > 1 && arg[0].Kind == Ident && arg[1].IsPunct("(") {
		return "", &UnsupportedError{Construct: fmt.Sprintf("date part %s(…) in %s", arg[0].Text, name.Upper())}
	}
	return "", &SyntaxError{Pos: name.Pos, Msg: fmt.Sprintf("%s expects a date part such as DAY or MONTH", name.Upper())}
}

func fixed(fn string, n int, f func([]string) string) rewrite {
	return func(tr *translator, name Token, args [][]Token) (string, error) {
		if err := argCount(name, args, n); err != nil {
			return "", err
		}
		a, err := subAll(tr, args)
		if err != nil {
			return "", err
		}
		return f(a), nil
	}
}

func renamed(to string) rewrite {
	return func(tr *translator, name Token, args [][]Token) (string, error) {
		a, err := subAll(tr, args)
		if err != nil {
			return "", err
		}
		return to + "(" + strings.Join(a, ", ") + ")", nil
	}
}

func noArgs(sql string) rewrite {
	return func(tr *translator, name Token, args [][]Token) (string, error) {
		if len(args) != 0 {
			return "", &UnsupportedError{Construct: name.Upper() + " with a time zone argument", Hint: "the DuckDB warehouse runs in UTC"}
		}
		return sql, nil
	}
}

func castFn(to string) rewrite {
	return func(tr *translator, name Token, args [][]Token) (string, error) {
		if len(args) != 1 {
			return "", &SyntaxError{Pos: name.Pos, Msg: name.Upper() + " takes one argument: " + name.Upper() + "(expr AS type)"}
		}
		a := args[0]
		depth, as := 0, -1
		for i, t := range a {
			switch {
			case t.IsPunct("(") || t.IsPunct("["):
				depth++
			case t.IsPunct(")") || t.IsPunct("]"):
				depth--
			case depth == 0 && t.Is("AS") && as < 0:
				as = i
			}
		}
		if as <= 0 || as == len(a)-1 {
			return "", &SyntaxError{Pos: name.Pos, Msg: name.Upper() + " needs the form " + name.Upper() + "(expr AS type)"}
		}
		expr, err := tr.sub(a[:as])
		if err != nil {
			return "", err
		}
		typ, err := translateType(a[as+1:])
		if err != nil {
			return "", err
		}
		return to + "(" + expr + " AS " + typ + ")", nil
	}
}

// castOne rewrites DATETIME(x) / TIMESTAMP(x) to a cast; the forms with a
// time zone or several parts are not supported.
func castOne(bq, duck string) rewrite {
	return func(tr *translator, name Token, args [][]Token) (string, error) {
		if len(args) != 1 {
			return "", &UnsupportedError{Construct: fmt.Sprintf("%s() with %d arguments", bq, len(args)), Hint: "only " + bq + "(expr) is supported"}
		}
		a, err := subAll(tr, args)
		if err != nil {
			return "", err
		}
		return "CAST(" + a[0] + " AS " + duck + ")", nil
	}
}

func dateFn(tr *translator, name Token, args [][]Token) (string, error) {
	switch len(args) {
	case 1:
		a, err := subAll(tr, args)
		if err != nil {
			return "", err
		}
		return "CAST(" + a[0] + " AS DATE)", nil
	case 3:
		a, err := subAll(tr, args)
		if err != nil {
			return "", err
		}
		return "make_date(CAST(" + a[0] + " AS BIGINT), CAST(" + a[1] + " AS BIGINT), CAST(" + a[2] + " AS BIGINT))", nil
	}
	return "", &UnsupportedError{Construct: fmt.Sprintf("DATE() with %d arguments", len(args)), Hint: "use DATE(expr) or DATE(year, month, day); the warehouse runs in UTC"}
}

// intervalArg parses "INTERVAL n UNIT" into DuckDB "CAST(n AS BIGINT) *
// INTERVAL 1 unit" (with WEEK and QUARTER as days and months).
func intervalArg(tr *translator, name Token, arg []Token, units map[string]string) (string, error) {
	if len(arg) < 3 || !arg[0].Is("INTERVAL") || arg[len(arg)-1].Kind != Ident {
		return "", &SyntaxError{Pos: name.Pos, Msg: name.Upper() + " expects INTERVAL n UNIT as its second argument"}
	}
	unit, err := unitArg(name, arg[len(arg)-1:], units)
	if err != nil {
		return "", err
	}
	n, err := tr.sub(arg[1 : len(arg)-1])
	if err != nil {
		return "", err
	}
	mult := ""
	switch unit {
	case "week":
		unit, mult = "day", " * 7"
	case "quarter":
		unit, mult = "month", " * 3"
	case "isoyear":
		return "", &UnsupportedError{Construct: "INTERVAL … ISOYEAR"}
	}
	return "CAST(" + n + " AS BIGINT)" + mult + " * INTERVAL 1 " + strings.ToUpper(unit), nil
}

func dateArith(op, result string) rewrite {
	return func(tr *translator, name Token, args [][]Token) (string, error) {
		if err := argCount(name, args, 2); err != nil {
			return "", err
		}
		units := timeUnits
		if result == "DATE" {
			units = dateUnits
		}
		d, err := tr.sub(args[0])
		if err != nil {
			return "", err
		}
		iv, err := intervalArg(tr, name, args[1], units)
		if err != nil {
			return "", err
		}
		return "CAST((" + d + ") " + op + " " + iv + " AS " + result + ")", nil
	}
}

// diffFn rewrites X_DIFF(a, b, UNIT) to DuckDB's fn('unit', b, a).
// date_diff counts unit boundaries (BigQuery DATE_DIFF); date_sub counts
// whole elapsed units (BigQuery TIMESTAMP_DIFF and DATETIME_DIFF).
func diffFn(fn string, units map[string]string) rewrite {
	return func(tr *translator, name Token, args [][]Token) (string, error) {
		if err := argCount(name, args, 3); err != nil {
			return "", err
		}
		unit, err := unitArg(name, args[2], units)
		if err != nil {
			return "", err
		}
		if unit == "week" && args[2][0].Upper() == "WEEK" {
			return "", &UnsupportedError{Construct: name.Upper() + "(…, WEEK)", Hint: "BigQuery weeks start on Sunday; use ISOWEEK or DAY"}
		}
		a, err := subAll(tr, args[:2])
		if err != nil {
			return "", err
		}
		return fn + "('" + unit + "', " + a[1] + ", " + a[0] + ")", nil
	}
}

func truncFn(result string, units map[string]string) rewrite {
	return func(tr *translator, name Token, args [][]Token) (string, error) {
		if len(args) == 3 {
			return "", &UnsupportedError{Construct: name.Upper() + " with a time zone argument", Hint: "the DuckDB warehouse runs in UTC"}
		}
		if err := argCount(name, args, 2); err != nil {
			return "", err
		}
		unit, err := unitArg(name, args[1], units)
		if err != nil {
			return "", err
		}
		d, err := tr.sub(args[0])
		if err != nil {
			return "", err
		}
		if unit == "week" && args[1][0].Upper() == "WEEK" {
			// BigQuery weeks start on Sunday, DuckDB's on Monday: shift by a day.
			return "CAST(date_trunc('week', CAST(" + d + " AS " + result + ") + INTERVAL 1 DAY) - INTERVAL 1 DAY AS " + result + ")", nil
		}
		return "CAST(date_trunc('" + unit + "', " + d + ") AS " + result + ")", nil
	}
}

// formatFn rewrites FORMAT_x(fmt, v) to strftime(v, fmt) and PARSE_x(fmt,
// s) to CAST(strptime(s, fmt) AS T). %F and %T are expanded because
// DuckDB's strftime lacks them.
func formatFn(fn, cast string) rewrite {
	return func(tr *translator, name Token, args [][]Token) (string, error) {
		if len(args) == 3 {
			return "", &UnsupportedError{Construct: name.Upper() + " with a time zone argument", Hint: "the DuckDB warehouse runs in UTC"}
		}
		if err := argCount(name, args, 2); err != nil {
			return "", err
		}
		var format string
		if len(args[0]) == 1 && args[0][0].Kind == String {
			f := strings.NewReplacer("%F", "%Y-%m-%d", "%T", "%H:%M:%S", "%E4Y", "%Y").Replace(args[0][0].Text)
			format = QuoteString(f)
		} else {
			s, err := tr.sub(args[0])
			if err != nil {
				return "", err
			}
			format = s
		}
		v, err := tr.sub(args[1])
		if err != nil {
			return "", err
		}
		s := fn + "(" + v + ", " + format + ")"
		if cast != "" {
			s = "CAST(" + s + " AS " + cast + ")"
		}
		return s, nil
	}
}

func generateDateArray(tr *translator, name Token, args [][]Token) (string, error) {
	if err := argCount(name, args, 2, 3); err != nil {
		return "", err
	}
	a, err := subAll(tr, args[:2])
	if err != nil {
		return "", err
	}
	step := "INTERVAL 1 DAY"
	if len(args) == 3 {
		if step, err = intervalArg(tr, name, args[2], dateUnits); err != nil {
			return "", err
		}
	}
	return "CAST(generate_series(CAST(" + a[0] + " AS DATE), CAST(" + a[1] + " AS DATE), " + step + ") AS DATE[])", nil
}

// generateArray rewrites GENERATE_ARRAY(start, end[, step]) to DuckDB's
// generate_series, which also includes the end.
func generateArray(tr *translator, name Token, args [][]Token) (string, error) {
	if err := argCount(name, args, 2, 3); err != nil {
		return "", err
	}
	a, err := subAll(tr, args)
	if err != nil {
		return "", err
	}
	for i := range a {
		a[i] = "CAST(" + a[i] + " AS BIGINT)"
	}
	return "generate_series(" + strings.Join(a, ", ") + ")", nil
}

// extractFn handles EXTRACT(part FROM x): BigQuery's DAYOFWEEK is 1..7
// from Sunday (DuckDB's 0..6) and EXTRACT(DATE FROM ts) is a cast.
func extractFn(tr *translator, name Token, args [][]Token) (string, error) {
	if len(args) != 1 || len(args[0]) < 3 || args[0][0].Kind != Ident || !args[0][1].Is("FROM") {
		return "", &SyntaxError{Pos: name.Pos, Msg: "EXTRACT needs the form EXTRACT(part FROM expr)"}
	}
	part := args[0][0].Upper()
	rest := args[0][2:]
	for _, t := range rest {
		if t.Is("AT") {
			return "", &UnsupportedError{Construct: "EXTRACT … AT TIME ZONE", Hint: "the DuckDB warehouse runs in UTC"}
		}
	}
	x, err := tr.sub(rest)
	if err != nil {
		return "", err
	}
	switch part {
	case "DAYOFWEEK":
		return "(dayofweek(" + x + ") + 1)", nil
	case "DATE":
		return "CAST(" + x + " AS DATE)", nil
	case "ISOWEEK":
		return "week(" + x + ")", nil
	case "WEEK":
		return "", &UnsupportedError{Construct: "EXTRACT(WEEK …)", Hint: "BigQuery weeks start on Sunday; use ISOWEEK"}
	case "YEAR", "MONTH", "DAY", "DAYOFYEAR", "QUARTER", "HOUR", "MINUTE", "SECOND", "MILLISECOND", "MICROSECOND", "ISOYEAR":
		return "extract(" + strings.ToLower(part) + " FROM " + x + ")", nil
	}
	return "", &UnsupportedError{Construct: "EXTRACT(" + part + " …)"}
}

func countIf(tr *translator, name Token, args [][]Token) (string, error) {
	if len(args) == 1 && len(args[0]) > 0 && args[0][0].Is("DISTINCT") {
		return "", &UnsupportedError{Construct: "COUNTIF(DISTINCT …)"}
	}
	if err := argCount(name, args, 1); err != nil {
		return "", err
	}
	a, err := subAll(tr, args)
	if err != nil {
		return "", err
	}
	// count() keeps the INT64 result type (DuckDB's count_if is HUGEINT) and
	// works as a window function too.
	return "count(CASE WHEN " + a[0] + " THEN 1 END)", nil
}

func safeDivide(tr *translator, name Token, args [][]Token) (string, error) {
	if err := argCount(name, args, 2); err != nil {
		return "", err
	}
	a, err := subAll(tr, args)
	if err != nil {
		return "", err
	}
	return "(CASE WHEN (" + a[1] + ") = 0 THEN NULL ELSE (" + a[0] + ") / (" + a[1] + ") END)", nil
}

func jsonScalar(tr *translator, name Token, args [][]Token) (string, error) {
	if err := argCount(name, args, 1, 2); err != nil {
		return "", err
	}
	a, err := subAll(tr, args)
	if err != nil {
		return "", err
	}
	if len(a) == 1 {
		a = append(a, "'$'")
	}
	return "json_extract_string(" + a[0] + ", " + a[1] + ")", nil
}

func splitFn(tr *translator, name Token, args [][]Token) (string, error) {
	if err := argCount(name, args, 1, 2); err != nil {
		return "", err
	}
	a, err := subAll(tr, args)
	if err != nil {
		return "", err
	}
	if len(a) == 1 {
		a = append(a, "','")
	}
	return "string_split(" + a[0] + ", " + a[1] + ")", nil
}
