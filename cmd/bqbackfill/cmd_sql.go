package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/bqbackfill/bqbackfill/shared/warehouse"
	"github.com/bqbackfill/bqbackfill/shared/warehouse/duckdb"
	"github.com/bqbackfill/bqbackfill/shared/warehouse/rowsfmt"
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
	readOnly := false
	if err != nil && notWritable(err) && isDir(filepath.Join(dir, "projects")) {
		// A read-only state directory: queries work, writes fail.
		w, err = duckdb.Open(dir, &duckdb.Options{ReadOnly: true})
		readOnly = true
	}
	if err != nil {
		return fmt.Errorf("open the local warehouse: %w", err)
	}
	rows, err := w.Read(ctx, warehouse.QueryJob{SQL: text, Params: o.Params, DefaultProject: o.Project, DefaultDataset: o.Dataset})
	if cerr := w.Close(); err == nil && cerr != nil {
		return cerr
	}
	if err != nil && readOnly {
		return fmt.Errorf("%w (the state directory %s is not writable, so the warehouse is open read-only: only queries that read work)", err, o.StateDir)
	}
	if err != nil {
		return err
	}
	return rowsfmt.Write(io.Out, rows, o.Format)
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
