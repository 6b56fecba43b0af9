package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/big"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"cloud.google.com/go/civil"
	"github.com/spf13/cobra"

	"github.com/bqbackfill/bqbackfill/shared/warehouse"
	"github.com/bqbackfill/bqbackfill/shared/warehouse/duckdb"
)

func init() {
	register(func(io IO) *cobra.Command { return newSQLCmd(io, sqlRun) })
}

// sqlOptions are the sql command's parsed command line.
type sqlOptions struct {
	IO       IO
	StateDir string
	Format   string
	Params   paramList
	Project  string
	Dataset  string
	SQL      string // "-": read standard input
}

func newSQLCmd(io IO, runF func(context.Context, *sqlOptions) error) *cobra.Command {
	o := &sqlOptions{IO: io}
	cmd := &cobra.Command{
		Use:   `sql "SQL"`,
		Short: "Run BigQuery SQL against the local DuckDB warehouse and print the result",
		Long: `Runs one or more statements (separated by ;) in the BigQuery dialect subset of
docs/duckdb-sql.md against the local warehouse and prints the last statement's
result. SQL "-" reads the statements from standard input.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usagef("sql takes exactly one SQL argument (quote it; use - to read standard input)")
			}
			switch o.Format {
			case "table", "json", "csv":
			default:
				return usagef("--format %q: want table, json or csv", o.Format)
			}
			if o.Dataset != "" && o.Project == "" {
				return usagef("--dataset needs --project")
			}
			o.SQL = args[0]
			return runF(cmd.Context(), o)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&o.StateDir, "state-dir", ".bqbackfill", "the state directory of bqbackfill run (its warehouse/ subdirectory is used), or a warehouse directory itself")
	fs.StringVar(&o.Format, "format", "table", "output format: table, json (an array of row objects) or csv")
	fs.Var(&o.Params, "param", "a query parameter name:TYPE:value, bound as @name (repeatable)")
	fs.StringVar(&o.Project, "project", "", "default project for dataset.table names")
	fs.StringVar(&o.Dataset, "dataset", "", "default dataset for unqualified table names (needs --project)")
	return cmd
}

// paramList is the repeatable --param name:TYPE:value flag.
type paramList []warehouse.Param

func (l *paramList) String() string {
	parts := make([]string, len(*l))
	for i, p := range *l {
		parts[i] = p.Name + ":" + p.Type + ":" + p.Value
	}
	return strings.Join(parts, ",")
}

// Type names the value in help.
func (l *paramList) Type() string { return "name:TYPE:value" }

// Set parses name:TYPE:value; an empty TYPE (name::value) means STRING,
// as in bq's --parameter. The value may contain colons.
func (l *paramList) Set(s string) error {
	parts := strings.SplitN(s, ":", 3)
	if len(parts) != 3 || parts[0] == "" {
		return fmt.Errorf("%q: want name:TYPE:value (for example submission_date:DATE:2024-01-01)", s)
	}
	p := warehouse.Param{Name: strings.TrimPrefix(parts[0], "@"), Type: strings.ToUpper(parts[1]), Value: parts[2]}
	if p.Type == "" {
		p.Type = "STRING"
	}
	if _, err := p.ParseValue(); err != nil {
		return err
	}
	*l = append(*l, p)
	return nil
}

func sqlRun(ctx context.Context, o *sqlOptions) error {
	io := o.IO
	text := o.SQL
	if text == "-" {
		b, err := readAll(io.In)
		if err != nil {
			return fmt.Errorf("read SQL from standard input: %w", err)
		}
		text = string(b)
	}
	if strings.TrimSpace(text) == "" {
		return usagef("the SQL is empty")
	}
	dir := warehouseDir(o.StateDir)
	w, err := duckdb.Open(dir, nil)
	if err != nil && notWritable(err) && isDir(filepath.Join(dir, "projects")) {
		// A read-only state directory: queries work, writes fail.
		w, err = duckdb.Open(dir, &duckdb.Options{ReadOnly: true})
	}
	if err != nil {
		return fmt.Errorf("open the local warehouse: %w", err)
	}
	rows, err := w.Read(ctx, warehouse.QueryJob{SQL: text, Params: o.Params, DefaultProject: o.Project, DefaultDataset: o.Dataset})
	if cerr := w.Close(); err == nil && cerr != nil {
		return cerr
	}
	if err != nil {
		return err
	}
	switch o.Format {
	case "json":
		return printRowsJSON(io.Out, rows)
	case "csv":
		return printRowsCSV(io.Out, rows)
	}
	return printRowsTable(io.Out, rows)
}

// warehouseDir is where the local warehouse of a state directory lives:
// <state dir>/warehouse, as the local stack keeps it. A directory that is
// itself a warehouse (it has projects/ and no warehouse/projects/) is
// used as it is, so pointing --state-dir at the warehouse works too.
func warehouseDir(stateDir string) string {
	nested := filepath.Join(stateDir, "warehouse")
	if isDir(filepath.Join(stateDir, "projects")) && !isDir(filepath.Join(nested, "projects")) {
		return stateDir
	}
	return nested
}

func isDir(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.IsDir()
}

func readAll(r io.Reader) ([]byte, error) {
	if r == nil {
		return nil, nil
	}
	return io.ReadAll(r)
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
