package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"cloud.google.com/go/civil"
	"github.com/spf13/pflag"

	"github.com/bqbackfill/bqbackfill/shared/backfill"
	"github.com/bqbackfill/bqbackfill/shared/config"
	"github.com/bqbackfill/bqbackfill/shared/local"
	"github.com/bqbackfill/bqbackfill/shared/logging"
	"github.com/bqbackfill/bqbackfill/shared/sqltree"
	"github.com/bqbackfill/bqbackfill/shared/treefs"
	"github.com/bqbackfill/bqbackfill/shared/warehouse"
)

// treeFlags are the flags of the commands that read the sql/ tree.
type treeFlags struct {
	sqlDir    string
	projectID string
	json      bool
}

func (f *treeFlags) add(fs *pflag.FlagSet, projectFilter bool) {
	fs.StringVar(&f.sqlDir, "sql-dir", "sql", "the sql tree: the directory holding <project>/<dataset>/<table>/")
	if projectFilter {
		fs.StringVar(&f.projectID, "project-id", "", "only tables of this project")
	}
	fs.BoolVar(&f.json, "json", false, "print JSON (see docs/cli-json.md)")
}

// addToday adds --today to fs.
func addToday(fs *pflag.FlagSet, p *string) {
	fs.StringVar(p, "today", "", "the date to treat as today, YYYY-MM-DD (default: the local date)")
}

// parseToday reads --today, defaulting to the local date.
func parseToday(s string) (civil.Date, error) {
	if s == "" {
		return civil.DateOf(time.Now()), nil
	}
	return parseDate(s, "--today")
}

// parseDate reads a YYYY-MM-DD flag value; a bad one is a usage error.
func parseDate(s, flagName string) (civil.Date, error) {
	d, err := civil.ParseDate(strings.TrimSpace(s))
	if err != nil {
		return civil.Date{}, usagef("%s: %q is not a date; use YYYY-MM-DD", flagName, s)
	}
	return d, nil
}

// parseTable reads a TABLE argument, the one parser of every command:
// project.dataset.table, or a path to a table directory or its
// backfill.yaml (the last three directories name the table).
func parseTable(arg string) (warehouse.TableRef, error) {
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

// parseTables reads TABLE arguments.
func parseTables(args []string) ([]warehouse.TableRef, error) {
	refs := make([]warehouse.TableRef, 0, len(args))
	for _, a := range args {
		ref, err := parseTable(a)
		if err != nil {
			return nil, err
		}
		refs = append(refs, ref)
	}
	return refs, nil
}

// parseOneTable reads the single TABLE argument of cmd.
func parseOneTable(args []string, cmd string) (warehouse.TableRef, error) {
	if err := exactArgs(args, 1, cmd, "one TABLE (project.dataset.table or a path to its directory)"); err != nil {
		return warehouse.TableRef{}, err
	}
	return parseTable(args[0])
}

// requireDir fails with a usage error unless dir is a directory.
func requireDir(dir, flagName string) error {
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return usagef("%s %s is not a directory", flagName, dir)
	}
	return nil
}

// openTree opens the sql tree and its settings. A missing directory is a
// usage error, as in bqetl. The tree is read under treefs's rules (links
// followed only inside it, regular files only, a size limit).
func openTree(sqlDir string) (*sqltree.Tree, config.Settings, error) {
	st, err := os.Stat(sqlDir)
	if err != nil || !st.IsDir() {
		return nil, config.Settings{}, usagef("invalid directory path to --sql-dir: %s (run from the repository root, or pass --sql-dir)", sqlDir)
	}
	// The root stays open for the life of the command.
	fsys, _, err := treefs.Dir(sqlDir)
	if err != nil {
		return nil, config.Settings{}, err
	}
	tree := sqltree.New(fsys, filepath.ToSlash(filepath.Clean(sqlDir)))
	s, err := tree.Settings()
	if err != nil {
		return nil, config.Settings{}, err
	}
	return tree, s, nil
}

// loadedTables is what loadTables read.
type loadedTables struct {
	tables   []*backfill.Table
	missing  []warehouse.TableRef // named tables without a directory
	problems []backfill.Error     // directories and names that cannot be read as tables
}

// loadTables loads the named tables, or every table with a backfill.yaml
// (of project, when set).
func loadTables(ctx context.Context, tree *sqltree.Tree, refs []warehouse.TableRef, project string) (loadedTables, error) {
	var out loadedTables
	if len(refs) == 0 {
		all, problems, err := tree.BackfillTables(ctx)
		if err != nil {
			return out, err
		}
		for _, t := range all {
			if project == "" || t.Ref.Project == project {
				out.tables = append(out.tables, t)
			}
		}
		for _, p := range problems {
			if project == "" || strings.HasPrefix(p.File, tree.Display(project)+"/") {
				out.problems = append(out.problems, p)
			}
		}
		return out, nil
	}
	for _, ref := range refs {
		if msg := sqltree.TooLong(ref); msg != "" {
			out.problems = append(out.problems, backfill.Error{Rule: "T5", File: tree.Display(path.Join(ref.Project, ref.Dataset, ref.Table)), Message: msg})
			continue
		}
		t, err := tree.Load(ref)
		if errors.Is(err, sqltree.ErrNoTable) {
			out.missing = append(out.missing, ref)
			continue
		}
		if err != nil {
			return out, err
		}
		out.tables = append(out.tables, t)
	}
	return out, nil
}

// reportProblems prints tree problems to w, one per line.
func reportProblems(w io.Writer, problems []backfill.Error) {
	for _, p := range problems {
		fmt.Fprintln(w, p.Error())
	}
}

// writeJSON writes v indented, the form of every --json output.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("write JSON: %w", err)
	}
	return nil
}

// lookupTarget resolves --target (nil when unset).
func lookupTarget(s config.Settings, name string) (*config.Target, error) {
	if name == "" {
		return nil, nil
	}
	t, err := s.Target(name)
	if err != nil {
		return nil, usagef("--target: %v", err)
	}
	return t, nil
}

// parseStatus reads --status in any letter case ("" when unset).
func parseStatus(s string) (backfill.Status, error) {
	if s == "" {
		return "", nil
	}
	st, err := backfill.ParseStatus(s)
	if err != nil {
		return "", usagef("--status: %v", err)
	}
	return st, nil
}

// stackFlags are the flags of every command that opens the local stack.
type stackFlags struct {
	stateDir    string
	parallelism int
	today       string
	verbose     bool
	// mustExist: the command reads state that an earlier run wrote, so a
	// missing directory is a mistyped --state-dir, not an empty state.
	mustExist bool
	// readOnly: the command only reads (status), so it opens the state
	// read-only: it works on a read-only directory and beside other readers.
	readOnly bool
}

func (f *stackFlags) add(fs *pflag.FlagSet) {
	fs.StringVar(&f.stateDir, "state-dir", ".bqbackfill", "directory holding the local warehouse, buckets and ledger")
	fs.IntVar(&f.parallelism, "parallelism", 8, "concurrent worker tasks")
	fs.StringVar(&f.today, "today", "", "treat this date (YYYY-MM-DD) as today")
	fs.BoolVar(&f.verbose, "verbose", false, "log every step (JSON) to stderr")
}

// clock returns the stack's clock: the real time (nil), or --today at the
// real time of day.
func (f *stackFlags) clock() (func() time.Time, error) {
	if f.today == "" {
		return nil, nil
	}
	d, err := civil.ParseDate(f.today)
	if err != nil {
		return nil, usagef("--today %q: want YYYY-MM-DD", f.today)
	}
	return func() time.Time {
		now := time.Now().UTC()
		return time.Date(d.Year, d.Month, d.Day, now.Hour(), now.Minute(), now.Second(), now.Nanosecond(), time.UTC)
	}, nil
}

// check reports bad values of the stack flags as usage errors before any
// state is opened.
func (f *stackFlags) check() error {
	if f.parallelism < 1 {
		return usagef("--parallelism must be at least 1")
	}
	if _, err := f.clock(); err != nil {
		return err
	}
	if f.mustExist {
		if _, err := os.Stat(f.stateDir); errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("state directory %s does not exist: nothing has run there (give the --state-dir that run or initiate used)", f.stateDir)
		}
	}
	return nil
}

func (f *stackFlags) open(ctx context.Context, io IO, events io.Writer) (*local.Stack, error) {
	if err := f.check(); err != nil {
		return nil, err
	}
	now, _ := f.clock()
	stack, err := local.Open(ctx, local.Options{
		StateDir:    f.stateDir,
		Parallelism: f.parallelism,
		Now:         now,
		Events:      events,
		Logger:      logging.New(io.Err, logLevel(f.verbose)),
		ReadOnly:    f.readOnly,
	})
	if err != nil && !f.readOnly && notWritable(err) {
		return nil, readOnlyStateError(f.stateDir, err)
	}
	return stack, err
}

// notWritable reports whether err comes from writing where writes are not
// allowed (permissions, a read-only file system).
func notWritable(err error) bool {
	return errors.Is(err, fs.ErrPermission) || errors.Is(err, syscall.EROFS)
}

// readOnlyStateError explains a command that changes the local state
// meeting a state directory it cannot write.
func readOnlyStateError(dir string, err error) error {
	return fmt.Errorf("state directory %s is not writable (%w): this command changes the local state; 'bqbackfill status' and 'bqbackfill sql' can read a read-only state directory, the other commands need write access", dir, err)
}

func logLevel(verbose bool) slog.Level {
	if verbose {
		return slog.LevelInfo
	}
	return slog.LevelWarn
}

// mergeJSONObjects appends the fields of the JSON object extra to the JSON
// object base.
func mergeJSONObjects(base []byte, extra any) ([]byte, error) {
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
