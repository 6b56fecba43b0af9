package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"cloud.google.com/go/civil"

	"github.com/bqbackfill/bqbackfill/shared/backfill"
	"github.com/bqbackfill/bqbackfill/shared/config"
	"github.com/bqbackfill/bqbackfill/shared/sqltree"
	"github.com/bqbackfill/bqbackfill/shared/warehouse"
)

func init() {
	register(command{
		name:    "validate",
		summary: "check backfill.yaml files against every rule (exit 1 when any is invalid)",
		run:     runValidate,
	})
}

// filesFlags are the flags the file-only commands share.
type filesFlags struct {
	sqlDir    string
	today     string
	projectID string
	jsonOut   bool
}

func (f *filesFlags) register(fs *flag.FlagSet, today bool) {
	for _, n := range []string{"sql-dir", "sql_dir"} {
		fs.StringVar(&f.sqlDir, n, "sql", "the sql tree: the directory holding <project>/<dataset>/<table>/")
	}
	for _, n := range []string{"project-id", "project_id"} {
		fs.StringVar(&f.projectID, n, "", "only tables of this project")
	}
	fs.BoolVar(&f.jsonOut, "json", false, "print JSON (see docs/cli-json.md)")
	if today {
		fs.StringVar(&f.today, "today", "", "the date to treat as today, YYYY-MM-DD (default: the local date)")
	}
}

// filesFlagSet makes a flag set whose errors go to io.Err.
func filesFlagSet(name, usage string, io IO) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Err)
	fs.Usage = func() {
		fmt.Fprintf(io.Err, "Usage: bqbackfill %s\n\nFlags:\n", usage)
		fs.PrintDefaults()
	}
	return fs
}

// errHelpShown reports that -h printed the usage: the command succeeds.
var errHelpShown = errors.New("help shown")

// filesParse parses flags and positional arguments in any order ("--"
// ends the flags).
func filesParse(fs *flag.FlagSet, args []string) ([]string, error) {
	var rest []string
	for i, a := range args {
		if a == "--" {
			rest = args[i+1:]
			args = args[:i]
			break
		}
	}
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, errHelpShown
			}
			return nil, usagef("%v", err)
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		positional = append(positional, args[0])
		args = args[1:]
	}
	return append(positional, rest...), nil
}

// filesRun wraps a command body: -h succeeds quietly.
func filesRun(err error) error {
	if errors.Is(err, errHelpShown) {
		return nil
	}
	return err
}

// filesToday reads --today, defaulting to the local date.
func filesToday(s string) (civil.Date, error) {
	if s == "" {
		return civil.DateOf(time.Now()), nil
	}
	return filesDate(s, "--today")
}

func filesDate(s, flagName string) (civil.Date, error) {
	d, err := civil.ParseDate(strings.TrimSpace(s))
	if err != nil {
		return civil.Date{}, usagef("%s: %q is not a date; use YYYY-MM-DD", flagName, s)
	}
	return d, nil
}

// filesOpen opens the sql tree and its settings. A missing directory is a
// usage error, as in bqetl.
func filesOpen(sqlDir string) (*sqltree.Tree, config.Settings, error) {
	st, err := os.Stat(sqlDir)
	if err != nil || !st.IsDir() {
		return nil, config.Settings{}, usagef("invalid directory path to --sql-dir: %s (run from the repository root, or pass --sql-dir)", sqlDir)
	}
	tree := sqltree.New(os.DirFS(sqlDir), filepath.ToSlash(filepath.Clean(sqlDir)))
	s, err := tree.Settings()
	if err != nil {
		return nil, config.Settings{}, err
	}
	return tree, s, nil
}

// filesTableArg reads a TABLE argument: project.dataset.table, or a path to
// a table directory or its backfill.yaml (the last three directories name
// the table).
func filesTableArg(arg string) (warehouse.TableRef, error) {
	if strings.Contains(arg, "/") || strings.HasSuffix(arg, ".yaml") {
		p := path.Clean(filepath.ToSlash(arg))
		if path.Ext(p) == ".yaml" {
			p = path.Dir(p)
		}
		parts := strings.Split(p, "/")
		if len(parts) < 3 {
			return warehouse.TableRef{}, usagef("%q: a path must end in <project>/<dataset>/<table>[/backfill.yaml]", arg)
		}
		n := len(parts)
		ref, err := warehouse.ParseTableRef(strings.Join(parts[n-3:], "."))
		if err != nil {
			return warehouse.TableRef{}, usagef("%q: %v", arg, err)
		}
		return ref, nil
	}
	ref, err := warehouse.ParseTableRef(arg)
	if err != nil {
		return warehouse.TableRef{}, usagef("%v", err)
	}
	return ref, nil
}

// filesLoad loads the named tables, or every table with a backfill.yaml
// (of project, when set). Tables whose directory is missing come back in
// missing.
func filesLoad(ctx context.Context, tree *sqltree.Tree, args []string, project string) (tables []*backfill.Table, missing []warehouse.TableRef, err error) {
	if len(args) == 0 {
		all, err := tree.BackfillTables(ctx)
		if err != nil {
			return nil, nil, err
		}
		for _, t := range all {
			if project == "" || t.Ref.Project == project {
				tables = append(tables, t)
			}
		}
		return tables, nil, nil
	}
	for _, a := range args {
		ref, err := filesTableArg(a)
		if err != nil {
			return nil, nil, err
		}
		t, err := tree.Load(ref)
		if errors.Is(err, sqltree.ErrNoTable) {
			missing = append(missing, ref)
			continue
		}
		if err != nil {
			return nil, nil, err
		}
		tables = append(tables, t)
	}
	return tables, missing, nil
}

func filesJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("write JSON: %w", err)
	}
	return nil
}

// filesMergeJSON appends the fields of the JSON object extra to the JSON
// object base.
func filesMergeJSON(base []byte, extra any) ([]byte, error) {
	more, err := json.Marshal(extra)
	if err != nil {
		return nil, fmt.Errorf("encode JSON: %w", err)
	}
	if len(base) < 2 || len(more) < 2 || base[len(base)-1] != '}' || more[0] != '{' {
		return nil, fmt.Errorf("encode JSON: not two objects")
	}
	if len(more) == 2 {
		return base, nil
	}
	out := append([]byte(nil), base[:len(base)-1]...)
	if len(base) > 2 {
		out = append(out, ',')
	}
	return append(out, more[1:]...), nil
}

// validateResult is one element of validate --json.
type validateResult struct {
	Table    string           `json:"table"`
	File     string           `json:"file"`
	Valid    bool             `json:"valid"`
	Errors   []backfill.Error `json:"errors"`
	Warnings []backfill.Error `json:"warnings"`
}

func runValidate(ctx context.Context, args []string, io IO) error {
	fs := filesFlagSet("validate", "validate [TABLE|PATH...] [--sql-dir DIR] [--json] [--today YYYY-MM-DD] [--ignore-missing-metadata] [--project-id P]", io)
	var ff filesFlags
	ff.register(fs, true)
	var ignoreMissing bool
	for _, n := range []string{"ignore-missing-metadata", "ignore_missing_metadata"} {
		fs.BoolVar(&ignoreMissing, n, false, "skip the rules that need metadata.yaml for tables that have none")
	}
	pos, err := filesParse(fs, args)
	if err != nil {
		return filesRun(err)
	}
	today, err := filesToday(ff.today)
	if err != nil {
		return err
	}
	tree, settings, err := filesOpen(ff.sqlDir)
	if err != nil {
		return err
	}
	tables, missing, err := filesLoad(ctx, tree, pos, ff.projectID)
	if err != nil {
		return err
	}
	opts := backfill.Options{Today: today, Settings: settings, IgnoreMissingMetadata: ignoreMissing, CheckPython: backfill.PythonSyntax()}
	var results []validateResult
	for _, ref := range missing {
		dir := tree.Display(path.Join(ref.Project, ref.Dataset, ref.Table))
		results = append(results, validateResult{Table: ref.String(), File: dir, Errors: []backfill.Error{{Rule: "T1", File: dir, Message: fmt.Sprintf("%s does not exist: no directory %s", ref, dir)}}, Warnings: []backfill.Error{}})
	}
	for _, t := range tables {
		r := backfill.Validate(t, opts)
		vr := validateResult{Table: t.Ref.String(), File: t.Path(backfill.FileName), Valid: r.Valid(), Errors: r.Errors, Warnings: r.Warnings}
		if vr.Errors == nil {
			vr.Errors = []backfill.Error{}
		}
		if vr.Warnings == nil {
			vr.Warnings = []backfill.Error{}
		}
		results = append(results, vr)
	}
	sort.SliceStable(results, func(i, j int) bool { return results[i].Table < results[j].Table })
	invalid := 0
	for _, r := range results {
		if !r.Valid {
			invalid++
		}
	}
	if ff.jsonOut {
		if results == nil {
			results = []validateResult{}
		}
		if err := filesJSON(io.Out, results); err != nil {
			return err
		}
	} else {
		for _, r := range results {
			for _, e := range r.Errors {
				fmt.Fprintln(io.Out, e.Error())
			}
			for _, w := range r.Warnings {
				fmt.Fprintln(io.Out, "warning: "+w.Error())
			}
		}
		if opts.CheckPython == nil {
			fmt.Fprintln(io.Err, "note: python3 not found, custom query scripts were not syntax-checked (rule C2)")
		}
		switch {
		case len(results) == 0:
			fmt.Fprintf(io.Out, "No backfill.yaml files found under %s.\n", tree.Display(""))
		case invalid == 0:
			fmt.Fprintf(io.Out, "All %d backfill.yaml file(s) are valid.\n", len(results))
		default:
			fmt.Fprintf(io.Out, "%d of %d table(s) have invalid backfill entries (problems listed above as file:line: entry: field: message [rule]).\n", invalid, len(results))
		}
	}
	if invalid > 0 {
		return errSilent
	}
	return nil
}
