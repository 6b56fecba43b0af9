// Package sqltree reads a bigquery-etl style sql/ tree through io/fs.FS:
// the directory that holds <project>/<dataset>/<table>/ directories. It
// discovers table directories, loads a table's backfill.yaml, metadata.yaml
// and query files into a backfill.Table, and reads the tree's
// bqbackfill.yaml settings. The CLI passes os.DirFS of --sql-dir; the
// scanner passes the synced tree from Cloud Storage. Only fs.FS is used, so
// any tree source works, and loading runs concurrently for speed.
package sqltree

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"sync"

	"github.com/bqbackfill/bqbackfill/shared/backfill"
	"github.com/bqbackfill/bqbackfill/shared/config"
	"github.com/bqbackfill/bqbackfill/shared/metadata"
	"github.com/bqbackfill/bqbackfill/shared/treefs"
	"github.com/bqbackfill/bqbackfill/shared/warehouse"
)

// Tree is a sql tree.
type Tree struct {
	fsys    fs.FS
	display string
	// Parallelism bounds concurrent directory reads and file parses; 0
	// means four per CPU (reads from a remote store mostly wait).
	Parallelism int
}

// New returns the tree rooted at fsys, read under the rules of treefs
// (regular files only, a size limit; open a local directory with
// treefs.Dir so links are followed only inside it). display prefixes file
// paths in messages (for example "sql" when fsys is the "sql" directory).
func New(fsys fs.FS, display string) *Tree {
	return &Tree{fsys: treefs.New(fsys), display: display}
}

// FS returns the tree's file system.
func (t *Tree) FS() fs.FS { return t.fsys }

// Display returns the display path of a tree-relative path.
func (t *Tree) Display(p string) string { return path.Join(t.display, p) }

// Settings reads bqbackfill.yaml at the tree root (defaults when absent).
// The error names the file and the problem.
func (t *Tree) Settings() (config.Settings, error) {
	s, err := config.Load(t.fsys)
	if err != nil {
		if why := treefs.Describe(err); why != "" {
			return config.Settings{}, fmt.Errorf("%s %s", t.Display(config.FileName), why)
		}
		return config.Settings{}, fmt.Errorf("settings of %s: %w", t.Display(""), err)
	}
	return s, nil
}

// TableDir is one table directory found by Discover.
type TableDir struct {
	Ref warehouse.TableRef
	// Dir is "<project>/<dataset>/<table>".
	Dir         string
	HasBackfill bool
	HasMetadata bool
	HasSchema   bool
	HasQuerySQL bool
	HasQueryPy  bool
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// MaxTableNameBytes is the longest "<project>.<dataset>.<table>" a backfill
// can have: the ledger names a backfill's objects by it, one object-name
// segment of at most 200 bytes (shared/ledger).
const MaxTableNameBytes = 200

func (t *Tree) workers() int {
	if t.Parallelism > 0 {
		return t.Parallelism
	}
	return 4 * runtime.GOMAXPROCS(0)
}

// problems collects what Discover could not read; safe for concurrent use.
type problems struct {
	mu   sync.Mutex
	list []backfill.Error
}

func (p *problems) add(rule, file, msg string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.list = append(p.list, backfill.Error{Rule: rule, File: file, Message: msg})
}

// Discover lists every <project>/<dataset>/<table>/ directory that holds a
// backfill.yaml or a metadata.yaml, sorted by table name. Hidden entries
// are skipped; directories that cannot be read as part of a table are
// returned as problems, each naming the directory and the rule: a name
// that cannot be a BigQuery identifier (T2), a symbolic link to a directory
// or a special file (T3), a table name too long for a backfill id (T5).
func (t *Tree) Discover(ctx context.Context) ([]TableDir, []backfill.Error, error) {
	var pr problems
	projects, err := t.subdirs(".", &pr)
	if err != nil {
		return nil, nil, fmt.Errorf("list projects in %s: %w", t.Display(""), err)
	}
	var datasets []string
	for _, p := range projects {
		ds, err := t.subdirs(p, &pr)
		if err != nil {
			return nil, nil, fmt.Errorf("list datasets in %s: %w", t.Display(p), err)
		}
		for _, d := range ds {
			datasets = append(datasets, path.Join(p, d))
		}
	}
	results := make([][]TableDir, len(datasets))
	err = t.parallel(ctx, len(datasets), func(i int) error {
		tables, err := t.subdirs(datasets[i], &pr)
		if err != nil {
			return fmt.Errorf("list tables in %s: %w", t.Display(datasets[i]), err)
		}
		for _, name := range tables {
			dir := path.Join(datasets[i], name)
			td, ok, err := t.inspect(dir)
			if err != nil {
				return err
			}
			if !ok {
				continue
			}
			if msg := TooLong(td.Ref); msg != "" {
				pr.add("T5", t.Display(dir), msg)
				continue
			}
			results[i] = append(results[i], td)
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	var out []TableDir
	for _, r := range results {
		out = append(out, r...)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Dir < out[j].Dir })
	backfill.SortErrors(pr.list)
	return out, pr.list, nil
}

// TooLong says why a table name cannot name a backfill, or "".
func TooLong(ref warehouse.TableRef) string {
	if n := len(ref.String()); n > MaxTableNameBytes {
		return fmt.Sprintf("table name %s is %d bytes: a backfill is recorded under its table name, which may have at most %d bytes; shorten the project, dataset or table name", ref, n, MaxTableNameBytes)
	}
	return ""
}

// inspect lists a table directory; ok is false when it has neither
// backfill.yaml nor metadata.yaml.
func (t *Tree) inspect(dir string) (TableDir, bool, error) {
	parts := strings.Split(dir, "/")
	td := TableDir{Ref: warehouse.TableRef{Project: parts[0], Dataset: parts[1], Table: parts[2]}, Dir: dir}
	entries, err := fs.ReadDir(t.fsys, dir)
	if err != nil {
		return td, false, fmt.Errorf("list %s: %w", t.Display(dir), err)
	}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		// A link or special file under a known name is still recorded:
		// reading it reports why it is refused (treefs).
		switch e.Name() {
		case backfill.FileName:
			td.HasBackfill = true
		case metadata.FileName:
			td.HasMetadata = true
		case metadata.SchemaFileName:
			td.HasSchema = true
		case backfill.QuerySQLFile:
			td.HasQuerySQL = true
		case backfill.QueryPythonFile:
			td.HasQueryPy = true
		}
	}
	return td, td.HasBackfill || td.HasMetadata, nil
}

// subdirs lists the directories of dir that can be part of a table path.
// Hidden entries are skipped without a word (.git and the like); the other
// directories that cannot be read are recorded in pr.
func (t *Tree) subdirs(dir string, pr *problems) ([]string, error) {
	entries, err := fs.ReadDir(t.fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("read directory: %w", err)
	}
	var out []string
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") {
			continue
		}
		rel := path.Join(dir, name)
		switch {
		case e.Type()&fs.ModeSymlink != 0:
			if st, err := fs.Stat(t.fsys, rel); err == nil && st.IsDir() {
				pr.add("T3", t.Display(rel), "is a symbolic link to a directory: links to directories are not followed (a tree could loop or list a table twice); commit the directory itself")
			}
			continue
		case !e.IsDir():
			continue
		case !nameRE.MatchString(name):
			pr.add("T2", t.Display(rel), fmt.Sprintf("directory name %q cannot be part of a table name <project>/<dataset>/<table>: use letters, digits, underscores and dashes only; the directory is skipped", name))
			continue
		}
		out = append(out, name)
	}
	return out, nil
}

// ErrNoTable is wrapped by Load when the table directory does not exist.
var ErrNoTable = errors.New("table directory does not exist")

// Load reads one table. A table directory without backfill.yaml loads with
// a nil File; a missing directory is ErrNoTable.
func (t *Tree) Load(ref warehouse.TableRef) (*backfill.Table, error) {
	dir := path.Join(ref.Project, ref.Dataset, ref.Table)
	st, err := fs.Stat(t.fsys, dir)
	if err != nil || !st.IsDir() {
		return nil, fmt.Errorf("%s: %w (%s)", ref, ErrNoTable, t.Display(dir))
	}
	if msg := TooLong(ref); msg != "" {
		return nil, fmt.Errorf("%s: %s", t.Display(dir), msg)
	}
	td, _, err := t.inspect(dir)
	if err != nil {
		return nil, err
	}
	return t.LoadDir(td), nil
}

// LoadDir reads the files of a discovered table directory. Problems with
// the files are recorded in the Table, not returned.
func (t *Tree) LoadDir(td TableDir) *backfill.Table {
	tb := &backfill.Table{
		Ref:         td.Ref,
		FS:          t.fsys,
		Dir:         td.Dir,
		DisplayRoot: t.display,
		HasMetadata: td.HasMetadata,
		HasSchema:   td.HasSchema,
		HasQuerySQL: td.HasQuerySQL,
		HasQueryPy:  td.HasQueryPy,
	}
	// The query and schema files are read later (plan, run); a refused one
	// is reported now, with the table's other file problems.
	for _, f := range []struct {
		has  bool
		name string
	}{{td.HasQuerySQL, backfill.QuerySQLFile}, {td.HasQueryPy, backfill.QueryPythonFile}, {td.HasSchema, metadata.SchemaFileName}} {
		if !f.has {
			continue
		}
		if _, err := fs.Stat(t.fsys, path.Join(td.Dir, f.name)); treefs.Describe(err) != "" {
			tb.FileErrors = append(tb.FileErrors, backfill.ReadError(tb.Path(f.name), err))
		}
	}
	if td.HasBackfill {
		var errs []backfill.Error
		tb.File, errs = backfill.LoadFile(t.fsys, path.Join(td.Dir, backfill.FileName), tb.Path(backfill.FileName))
		tb.FileErrors = append(tb.FileErrors, errs...)
	}
	if td.HasMetadata {
		mdPath := tb.Path(metadata.FileName)
		data, err := fs.ReadFile(t.fsys, path.Join(td.Dir, metadata.FileName))
		if why := treefs.Describe(err); why != "" {
			tb.MetadataErr = fmt.Errorf("%s %s", mdPath, why)
		} else if err != nil {
			tb.MetadataErr = fmt.Errorf("read %s: %w", mdPath, err)
		} else {
			tb.Metadata, tb.MetadataErr = metadata.Parse(data, mdPath)
		}
	}
	return tb
}

// LoadAll loads the given table directories concurrently, in order.
func (t *Tree) LoadAll(ctx context.Context, dirs []TableDir) ([]*backfill.Table, error) {
	out := make([]*backfill.Table, len(dirs))
	err := t.parallel(ctx, len(dirs), func(i int) error {
		out[i] = t.LoadDir(dirs[i])
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// BackfillTables discovers and loads every table with a backfill.yaml. The
// problems are the directories Discover could not read; a table whose files
// cannot be read is returned with its FileErrors (see Unreadable).
func (t *Tree) BackfillTables(ctx context.Context) ([]*backfill.Table, []backfill.Error, error) {
	dirs, problems, err := t.Discover(ctx)
	if err != nil {
		return nil, nil, err
	}
	var with []TableDir
	for _, d := range dirs {
		if d.HasBackfill {
			with = append(with, d)
		}
	}
	tables, err := t.LoadAll(ctx, with)
	return tables, problems, err
}

// Unreadable lists the problems that keep a table's backfill.yaml from
// being read at all (no entry can run or be reported by its date), for the
// commands and the scanner to report instead of skipping the table.
func Unreadable(t *backfill.Table) []backfill.Error {
	if t.File == nil || t.File.Broken() {
		return t.FileErrors
	}
	return nil
}

// parallel runs f(0..n-1) on the tree's workers and returns the first error.
func (t *Tree) parallel(ctx context.Context, n int, f func(i int) error) error {
	workers := t.workers()
	if workers > n {
		workers = n
	}
	next := make(chan int)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := f(i); err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
				}
			}
		}()
	}
	var ctxErr error
feed:
	for i := 0; i < n; i++ {
		select {
		case next <- i:
		case <-ctx.Done():
			ctxErr = ctx.Err()
			break feed
		}
	}
	close(next)
	wg.Wait()
	if ctxErr != nil {
		return fmt.Errorf("load %s: %w", t.Display(""), ctxErr)
	}
	return firstErr
}

// SchemaLoader resolves schema includes from the tree: a table source reads
// that table's schema.yaml; a file source is a path relative to the
// repository root (a leading "/" and "sql/" are dropped, as for custom
// queries).
func (t *Tree) SchemaLoader() metadata.Loader {
	return func(src metadata.Source) (*metadata.Schema, error) {
		var p string
		if src.Table != "" {
			ref, err := warehouse.ParseTableRef(src.Table)
			if err != nil {
				return nil, fmt.Errorf("include table: %w", err)
			}
			p = path.Join(ref.Project, ref.Dataset, ref.Table, metadata.SchemaFileName)
		} else {
			p = path.Clean(strings.TrimPrefix(src.File, "/"))
			if rest, ok := strings.CutPrefix(p, "sql/"); ok {
				p = rest
			}
		}
		if !fs.ValidPath(p) {
			return nil, fmt.Errorf("include path %q leaves the tree", p)
		}
		data, err := fs.ReadFile(t.fsys, p)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", t.Display(p), err)
		}
		return metadata.ParseSchema(data, t.Display(p))
	}
}
