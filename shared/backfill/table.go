package backfill

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"strings"

	"github.com/bqbackfill/bqbackfill/shared/metadata"
	"github.com/bqbackfill/bqbackfill/shared/warehouse"
)

// Query file names in a table directory.
const (
	QuerySQLFile    = "query.sql"
	QueryPythonFile = "query.py"
)

// Table is what validation and planning know about one table directory of
// the sql tree: its backfill file, its metadata and which query files
// exist. shared/sqltree builds it from an fs.FS; tests may fill it in by
// hand.
type Table struct {
	Ref warehouse.TableRef
	// FS is the sql tree (the directory holding the project directories).
	// Query files and custom queries are read from it; nil means no files.
	FS fs.FS
	// Dir is the table directory in FS: "<project>/<dataset>/<table>".
	Dir string
	// DisplayRoot prefixes paths in messages, e.g. "sql" for a tree read
	// from ./sql ("" for none).
	DisplayRoot string

	// File is the parsed backfill.yaml, nil when the table has none.
	File *File
	// FileErrors are the problems Parse found in backfill.yaml.
	FileErrors []Error

	// HasMetadata reports that metadata.yaml exists; Metadata is nil when it
	// is missing or cannot be read (MetadataErr then says why).
	HasMetadata bool
	Metadata    *metadata.Metadata
	MetadataErr error

	HasSchema   bool
	HasQuerySQL bool
	HasQueryPy  bool
}

// IsPython reports whether the table's query is a query.py script (a
// query.py next to backfill.yaml wins over query.sql, as in bqetl).
func (t *Table) IsPython() bool { return t.HasQueryPy }

// Path returns the display path of a file in the table directory.
func (t *Table) Path(name string) string {
	return path.Join(t.DisplayRoot, t.Dir, name)
}

// DisplayPath returns the display path of a tree-relative path.
func (t *Table) DisplayPath(treePath string) string {
	return path.Join(t.DisplayRoot, treePath)
}

// ReadFile reads a file of the table directory.
func (t *Table) ReadFile(name string) ([]byte, error) {
	if t.FS == nil {
		return nil, fmt.Errorf("read %s: %w", t.Path(name), fs.ErrNotExist)
	}
	b, err := fs.ReadFile(t.FS, path.Join(t.Dir, name))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", t.Path(name), err)
	}
	return b, nil
}

// Schema reads and parses the table's schema.yaml.
func (t *Table) Schema() (*metadata.Schema, error) {
	b, err := t.ReadFile(metadata.SchemaFileName)
	if err != nil {
		return nil, err
	}
	s, err := metadata.ParseSchema(b, t.Path(metadata.SchemaFileName))
	if err != nil {
		return nil, fmt.Errorf("parse schema of %s: %w", t.Ref, err)
	}
	return s, nil
}

// ErrCustomQueryNotFound is wrapped by ResolveCustomQuery when no candidate
// exists.
var ErrCustomQueryNotFound = errors.New("custom query not found")

// ResolveCustomQuery finds a custom_query_path in the tree and returns its
// tree-relative path. The path is relative to the repository root, whose
// sql/ directory is the tree, so a leading "sql/" is dropped; the path is
// also tried as given, and finally a file with the same base name next to
// backfill.yaml is accepted (as bqetl does).
func (t *Table) ResolveCustomQuery(p string) (string, error) {
	var candidates []string
	clean := path.Clean(strings.TrimPrefix(strings.TrimSpace(p), "/"))
	if rest, ok := strings.CutPrefix(clean, "sql/"); ok {
		candidates = append(candidates, rest)
	}
	candidates = append(candidates, clean, path.Join(t.Dir, path.Base(clean)))
	if t.FS != nil {
		for _, c := range candidates {
			if !fs.ValidPath(c) {
				continue
			}
			if st, err := fs.Stat(t.FS, c); err == nil && !st.IsDir() {
				return c, nil
			}
		}
	}
	return "", fmt.Errorf("%w: %s or %s", ErrCustomQueryNotFound, p, t.Path(path.Base(clean)))
}

// isInitRE is bqetl's test for a Jinja if-block that calls is_init().
var isInitRE = regexp.MustCompile(`\{%-?\s*if\s+[^%]*\bis_init\(\)`)

// QueryUsesIsInit reports whether query.sql exists and has an
// {% if ... is_init() %} block (rules M1 and R10).
func (t *Table) QueryUsesIsInit() bool {
	if !t.HasQuerySQL {
		return false
	}
	b, err := t.ReadFile(QuerySQLFile)
	if err != nil {
		return false
	}
	return isInitRE.Match(b)
}
