// Package rowsfmt prints query results (warehouse.Rows) for people and
// programs: aligned columns, CSV, or a JSON array of row objects whose keys
// keep the column order. Values print as BigQuery's console shows them:
// NULL, ISO dates and times, NUMERIC exactly, arrays and records as JSON.
package rowsfmt

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/big"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"cloud.google.com/go/civil"

	"github.com/bqbackfill/bqbackfill/shared/warehouse"
)

// Formats are the formats Write knows, the default first.
var Formats = []string{"table", "json", "csv"}

// Write prints rows to w in format (one of Formats; "" means table).
func Write(w io.Writer, rows *warehouse.Rows, format string) error {
	switch format {
	case "", "table":
		return printRowsTable(w, rows)
	case "json":
		return printRowsJSON(w, rows)
	case "csv":
		return printRowsCSV(w, rows)
	}
	return fmt.Errorf("rowsfmt: unknown format %q: want %s", format, strings.Join(Formats, ", "))
}

// formatValue renders a value for the table and CSV formats: NULL for nil,
// dates and times in ISO form, NUMERIC exactly, arrays and records as JSON.
func formatValue(v any) string {
	switch x := v.(type) {
	case nil:
		return "NULL"
	case string:
		return x
	case []byte:
		return fmt.Sprintf("%x", x)
	case time.Time:
		return x.UTC().Format("2006-01-02 15:04:05.999999 UTC")
	case civil.Date, civil.DateTime, civil.Time:
		return fmt.Sprint(x)
	case *big.Rat:
		return ratString(x)
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case []any, map[string]any:
		b, err := json.Marshal(jsonValue(x))
		if err != nil {
			return fmt.Sprint(x)
		}
		return string(b)
	}
	return fmt.Sprint(v)
}

// ratString prints a NUMERIC without trailing zeros.
func ratString(r *big.Rat) string {
	s := r.FloatString(9)
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}

// jsonValue converts a value to what the JSON format prints: numbers for
// INT64 and finite FLOAT64, strings for NUMERIC (exact), dates and times,
// non-finite floats and BYTES (base64, as encoding/json does), arrays and
// objects recursively.
func jsonValue(v any) any {
	switch x := v.(type) {
	case *big.Rat:
		return ratString(x)
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return strconv.FormatFloat(x, 'g', -1, 64)
		}
		return x
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano)
	case civil.Date, civil.DateTime, civil.Time:
		return fmt.Sprint(x)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = jsonValue(e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = jsonValue(e)
		}
		return out
	}
	return v
}

// printRowsJSON prints an array of row objects whose keys keep the column order.
func printRowsJSON(w io.Writer, rows *warehouse.Rows) error {
	var b strings.Builder
	b.WriteString("[")
	for i, r := range rows.Rows {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString("\n  {")
		for j, col := range rows.Columns {
			if j > 0 {
				b.WriteString(", ")
			}
			k, err := json.Marshal(col)
			if err != nil {
				return err
			}
			v, err := json.Marshal(jsonValue(r[j]))
			if err != nil {
				return fmt.Errorf("column %s: %w", col, err)
			}
			b.Write(k)
			b.WriteString(": ")
			b.Write(v)
		}
		b.WriteString("}")
	}
	if len(rows.Rows) > 0 {
		b.WriteString("\n")
	}
	b.WriteString("]\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func printRowsCSV(w io.Writer, rows *warehouse.Rows) error {
	cw := csv.NewWriter(w)
	if len(rows.Columns) > 0 {
		if err := cw.Write(rows.Columns); err != nil {
			return err
		}
	}
	for _, r := range rows.Rows {
		rec := make([]string, len(r))
		for i, v := range r {
			if v == nil {
				rec[i] = ""
				continue
			}
			rec[i] = formatValue(v)
		}
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// printRowsTable prints aligned columns, a rule under the header and the
// row count. Statements without a result (DDL) print "OK".
func printRowsTable(w io.Writer, rows *warehouse.Rows) error {
	if len(rows.Columns) == 0 {
		_, err := fmt.Fprintln(w, "OK")
		return err
	}
	cells := make([][]string, len(rows.Rows))
	widths := make([]int, len(rows.Columns))
	for i, c := range rows.Columns {
		widths[i] = utf8.RuneCountInString(c)
	}
	for i, r := range rows.Rows {
		cells[i] = make([]string, len(r))
		for j, v := range r {
			s := strings.ReplaceAll(formatValue(v), "\n", `\n`)
			cells[i][j] = s
			widths[j] = max(widths[j], utf8.RuneCountInString(s))
		}
	}
	var b strings.Builder
	line := func(vals []string) {
		for j, s := range vals {
			if j > 0 {
				b.WriteString("  ")
			}
			b.WriteString(s)
			if j < len(vals)-1 {
				b.WriteString(strings.Repeat(" ", widths[j]-utf8.RuneCountInString(s)))
			}
		}
		b.WriteString("\n")
	}
	line(rows.Columns)
	rule := make([]string, len(widths))
	for j, n := range widths {
		rule[j] = strings.Repeat("-", n)
	}
	line(rule)
	for _, r := range cells {
		line(r)
	}
	noun := "rows"
	if len(rows.Rows) == 1 {
		noun = "row"
	}
	fmt.Fprintf(&b, "(%d %s)\n", len(rows.Rows), noun)
	_, err := io.WriteString(w, b.String())
	return err
}
