// Package duckdb is the embedded warehouse: warehouse.Warehouse on DuckDB
// files under a state directory, accepting the BigQuery SQL subset
// documented in docs/duckdb-sql.md and keeping BigQuery's partition
// semantics.
//
// Layout: <dir>/projects/<project>.duckdb holds one BigQuery project (the
// local stack and "bqbackfill sql" use <state dir>/warehouse as dir). It is attached under the project's id, each dataset is a DuckDB
// schema, so `project.dataset.table` maps one-to-one onto DuckDB's
// catalog.schema.table. The schema _bqbackfill in each project file holds
// what DuckDB cannot: datasets (default expiration, access entries) and
// tables (partitioning, clustering, labels, expiration, descriptions, IAM
// policy). Keeping that catalog in the project's own file lets every change
// to a table and its metadata commit in one transaction.
//
// A DuckDB file can be opened by one process at a time; Open takes an
// exclusive lock on the state directory and fails with FailedPrecondition
// when another process (or another Warehouse in this process) holds it.
// One *Warehouse is safe for concurrent use by many goroutines.
//
// DuckDB is cgo: nothing that ships in the CGO_ENABLED=0 production images
// (functions/, jobs/) may import this package.
package duckdb

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	duckdb "github.com/duckdb/duckdb-go/v2"

	"github.com/bqbackfill/bqbackfill/shared/backoff"
	"github.com/bqbackfill/bqbackfill/shared/warehouse"
	"github.com/bqbackfill/bqbackfill/shared/warehouse/duckdb/internal/bqsql"
)

var _ warehouse.Warehouse = (*Warehouse)(nil)

// Options configure Open. The zero value (or nil) means defaults.
type Options struct {
	// Now returns the current time; nil means time.Now. Table expiration is
	// judged against it, so tests can expire backups without waiting.
	Now func() time.Time
	// MaxAttempts bounds how often one call runs when DuckDB reports a
	// transaction conflict (two writers touched the same rows or catalog
	// entry); 0 means 10. Conflicts that outlast the attempts are returned
	// as Transient.
	MaxAttempts int
	// ReadOnly opens an existing warehouse for reading only (a read-only
	// state directory): nothing is created, the directory lock is shared,
	// projects are attached READ_ONLY (every write fails), and expired
	// tables are not dropped (they stay visible).
	ReadOnly bool
}

// Warehouse is the DuckDB implementation of warehouse.Warehouse. Create it
// with Open and release it with Close.
type Warehouse struct {
	dir         string
	db          *sql.DB
	unlock      func() error
	now         func() time.Time
	maxAttempts int

	mu       sync.Mutex      // guards projects (and serialises ATTACH)
	projects map[string]bool // attached project ids, lower-cased

	ddlMu sync.Mutex // serialises dataset creation

	sweepMu    sync.Mutex
	nextExpiry atomic.Int64 // unix micros of the earliest table expiration; 0 = none

	// widths caches each table's nominal row width for byte estimates,
	// keyed by name and creation time (so a recreated table misses).
	widths sync.Map
	// modified holds modification times not yet in the catalog (see touch).
	modified sync.Map
	cache    recordCache
	// schemaReads counts the schemas cachedSchema read from DuckDB (tests
	// count them).
	schemaReads atomic.Int64

	jobSeq atomic.Int64
	closed atomic.Bool

	tableLocks sync.Map // lower-cased table name -> *sync.Mutex (see lockTable)

	readOnly bool // Options.ReadOnly
}

// projectIDRE is what a project id may look like here: BigQuery's
// characters, and safe as a file name.
var projectIDRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]*$`)

// reserved names are DuckDB's own catalogs and our metadata schema.
var reserved = map[string]bool{"memory": true, "temp": true, "system": true, "main": true, metaSchema: true}

// Open opens (creating if needed) the warehouse whose files live in dir.
// An empty dir means a fresh temporary directory that Close removes. It
// fails with FailedPrecondition if another process or Warehouse has the
// directory open.
func Open(dir string, opts *Options) (*Warehouse, error) {
	if opts == nil {
		opts = &Options{}
	}
	var cleanup func()
	if dir != "" {
		// Absolute, because the sandbox allows DuckDB exactly the
		// project directory by its path (see newConnector).
		abs, err := filepath.Abs(dir)
		if err != nil {
			return nil, fmt.Errorf("duckdb warehouse: directory %s: %w", dir, err)
		}
		dir = abs
	}
	if dir == "" {
		tmp, err := os.MkdirTemp("", "bqbackfill-warehouse-")
		if err != nil {
			return nil, fmt.Errorf("duckdb warehouse: create temporary directory: %w", err)
		}
		dir, cleanup = tmp, func() { os.RemoveAll(tmp) }
	}
	lock := lockDir
	if opts.ReadOnly {
		if cleanup != nil {
			cleanup()
			return nil, fmt.Errorf("duckdb warehouse: a read-only open needs the directory of an existing warehouse")
		}
		lock = lockDirShared
	} else if err := os.MkdirAll(filepath.Join(dir, "projects"), 0o755); err != nil {
		return nil, fmt.Errorf("duckdb warehouse: create directory: %w", err)
	}
	unlockDir, err := lock(dir)
	if err != nil {
		if cleanup != nil {
			cleanup()
		}
		return nil, err
	}
	unlock := func() error {
		err := unlockDir()
		if cleanup != nil {
			cleanup()
		}
		return err
	}
	connector, err := newConnector(dir)
	if err != nil {
		unlock()
		return nil, fmt.Errorf("duckdb warehouse: open DuckDB: %w", err)
	}
	w := &Warehouse{
		dir:         dir,
		db:          sql.OpenDB(connector),
		unlock:      unlock,
		now:         opts.Now,
		maxAttempts: opts.MaxAttempts,
		projects:    map[string]bool{},
		readOnly:    opts.ReadOnly,
	}
	if w.now == nil {
		w.now = time.Now
	}
	if w.maxAttempts <= 0 {
		w.maxAttempts = 10
	}
	w.db.SetMaxIdleConns(16)
	files, err := filepath.Glob(filepath.Join(dir, "projects", "*.duckdb"))
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("duckdb warehouse: list projects: %w", err)
	}
	ctx := context.Background()
	for _, f := range files {
		project := strings.TrimSuffix(filepath.Base(f), ".duckdb")
		if err := w.attach(ctx, project, false); err != nil {
			w.Close()
			return nil, err
		}
	}
	if w.readOnly {
		return w, nil // no expiry sweep: it would drop tables
	}
	if err := w.recomputeExpiry(ctx); err != nil {
		w.Close()
		return nil, err
	}
	return w, nil
}

// Dir returns the directory holding the warehouse files.
func (w *Warehouse) Dir() string { return w.dir }

// Close closes the database and releases the state directory. Calls in
// flight fail; Close is idempotent.
func (w *Warehouse) Close() error {
	if !w.closed.CompareAndSwap(false, true) {
		return nil
	}
	err := w.flushModified(context.Background())
	if cerr := w.db.Close(); err == nil {
		err = cerr
	}
	if uerr := w.unlock(); err == nil {
		err = uerr
	}
	if err != nil {
		return fmt.Errorf("duckdb warehouse: close: %w", err)
	}
	return nil
}

// newConnector returns the DuckDB connector of a warehouse in dir, sandboxed:
// SQL run here (the sql command, query.sql, checks, the local SQL endpoint)
// may come from anyone who can edit the tree, so DuckDB gets no access to
// files outside the warehouse's own directories, no network and no
// extension loading, and the configuration is locked so that no statement
// can turn any of it back on (docs/duckdb-sql.md, "Sandbox").
//
// One DuckDB thread per query: the local warehouse holds small tables and
// runs many small partition queries at once (one per worker task), where
// intra-query threads only add scheduling overhead.
func newConnector(dir string) (*duckdb.Connector, error) {
	tmp := filepath.Join(dir, "tmp")
	cfg := url.Values{}
	cfg.Set("threads", "1")
	cfg.Set("autoinstall_known_extensions", "false")
	cfg.Set("autoload_known_extensions", "false")
	cfg.Set("temp_directory", tmp)
	// The settings below are global and, once locked, cannot be set again:
	// the first connection applies them, later ones inherit them. (The
	// DSN cannot carry them: DuckDB parses allowed_directories, a list,
	// and the ICU TimeZone only in SQL.)
	var (
		mu     sync.Mutex
		locked bool
	)
	sandbox := "SET GLOBAL TimeZone = 'UTC'; " +
		"SET allowed_directories = [" + bqsql.QuoteString(filepath.Join(dir, "projects")+string(filepath.Separator)) + ", " + bqsql.QuoteString(tmp+string(filepath.Separator)) + "]; " +
		"SET enable_external_access = false; " +
		"SET lock_configuration = true"
	return duckdb.NewConnector("?"+cfg.Encode(), func(execer driver.ExecerContext) error {
		mu.Lock()
		defer mu.Unlock()
		if locked {
			return nil
		}
		if _, err := execer.ExecContext(context.Background(), sandbox, nil); err != nil {
			return fmt.Errorf("lock down DuckDB: %w", err)
		}
		locked = true
		return nil
	})
}

// projectFile is where a project's data lives.
func (w *Warehouse) projectFile(project string) string {
	return filepath.Join(w.dir, "projects", project+".duckdb")
}

func validProject(op, project string) error {
	if !projectIDRE.MatchString(project) {
		return warehouse.Errorf(warehouse.InvalidArgument, op, "project id %q must match %s", project, projectIDRE)
	}
	if reserved[strings.ToLower(project)] {
		return warehouse.Errorf(warehouse.InvalidArgument, op, "project id %q is reserved by the DuckDB warehouse", project)
	}
	return nil
}

func validRef(op string, ref warehouse.TableRef) error {
	if err := validProject(op, ref.Project); err != nil {
		return err
	}
	if ref.Dataset == "" || ref.Table == "" {
		return warehouse.Errorf(warehouse.InvalidArgument, op, "table %q needs a project, a dataset and a table name", ref)
	}
	if strings.EqualFold(ref.Dataset, metaSchema) {
		return warehouse.Errorf(warehouse.InvalidArgument, op, "dataset name %q is reserved by the DuckDB warehouse", ref.Dataset)
	}
	return nil
}

// attached reports whether project is attached.
func (w *Warehouse) attached(project string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.projects[strings.ToLower(project)]
}

// attach attaches a project's file, creating it (and its catalog tables)
// when create is set. Without create, a project with no file is NotFound.
func (w *Warehouse) attach(ctx context.Context, project string, create bool) error {
	const op = "attach project"
	if err := validProject(op, project); err != nil {
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.projects[strings.ToLower(project)] {
		return nil
	}
	file := w.projectFile(project)
	if _, err := os.Stat(file); err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("%s %s: %w", op, project, err)
		}
		if !create {
			return warehouse.Errorf(warehouse.NotFound, op, "project %s not found (no file %s)", project, file)
		}
	}
	q := "ATTACH " + bqsql.QuoteString(file) + " AS " + bqsql.QuoteIdent(project)
	if w.readOnly {
		if _, err := w.db.ExecContext(ctx, q+" (READ_ONLY)"); err != nil {
			return classify(op+" "+project, err)
		}
		w.projects[strings.ToLower(project)] = true
		return nil
	}
	if _, err := w.db.ExecContext(ctx, q); err != nil {
		return classify(op+" "+project, err)
	}
	if _, err := w.db.ExecContext(ctx, catalogDDL(project)); err != nil {
		return classify(op+" "+project+": create catalog", err)
	}
	w.projects[strings.ToLower(project)] = true
	return nil
}

// attachedProjects lists the attached project ids.
func (w *Warehouse) attachedProjects() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]string, 0, len(w.projects))
	for p := range w.projects {
		out = append(out, p)
	}
	return out
}

// querier is what *sql.Conn and *sql.Tx have in common.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// withConn runs fn on one connection whose default catalog and schema are
// set from the job defaults, so unqualified names resolve like BigQuery's
// (table -> defaultProject.defaultDataset.table, dataset.table ->
// defaultProject.dataset.table).
func (w *Warehouse) withConn(ctx context.Context, defProject, defDataset string, fn func(c *sql.Conn) error) error {
	if w.closed.Load() {
		return warehouse.Errorf(warehouse.FailedPrecondition, "", "the DuckDB warehouse is closed")
	}
	c, err := w.db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("duckdb: get connection: %w", err)
	}
	defer c.Close()
	if err := w.use(ctx, c, defProject, defDataset); err != nil {
		return err
	}
	return fn(c)
}

// use sets the connection's default catalog and schema, falling back to the
// project alone, then to the empty in-memory catalog, when they do not exist.
func (w *Warehouse) use(ctx context.Context, c *sql.Conn, project, dataset string) error {
	if project != "" && w.attached(project) && !strings.EqualFold(dataset, metaSchema) {
		if dataset != "" {
			if _, err := c.ExecContext(ctx, "USE "+bqsql.QuoteIdent(project)+"."+bqsql.QuoteIdent(dataset)); err == nil {
				return nil
			}
		}
		if _, err := c.ExecContext(ctx, "USE "+bqsql.QuoteIdent(project)); err == nil {
			return nil
		}
	}
	if _, err := c.ExecContext(ctx, "USE memory"); err != nil {
		return classify("set default catalog", err)
	}
	return nil
}

// inTx runs fn in a transaction on a fresh connection, retrying the whole
// unit when DuckDB reports a transaction conflict.
func (w *Warehouse) inTx(ctx context.Context, defProject, defDataset string, fn func(tx *sql.Tx) error) error {
	return w.writeTx(ctx, nil, defProject, defDataset, fn)
}

// writeTx is inTx for a write to table (nil: none), holding the table's
// turn (lockTable) from just before the transaction begins to its end.
// The connection is taken and set up before the turn: writers of one table
// wait for each other, not for each other's connection setup.
func (w *Warehouse) writeTx(ctx context.Context, table *warehouse.TableRef, defProject, defDataset string, fn func(tx *sql.Tx) error) error {
	return w.retry(ctx, func() error {
		return w.withConn(ctx, defProject, defDataset, func(c *sql.Conn) error {
			if table != nil {
				defer w.lockTable(*table)()
			}
			tx, err := c.BeginTx(ctx, nil)
			if err != nil {
				return classify("begin transaction", err)
			}
			if err := fn(tx); err != nil {
				tx.Rollback()
				return err
			}
			if err := tx.Commit(); err != nil {
				return classify("commit", err)
			}
			return nil
		})
	})
}

// conflictBackoff spaces the retries of a unit that met a transaction
// conflict: 2-4 ms at first, doubling to 256-512 ms.
var conflictBackoff = backoff.Policy{Initial: 4 * time.Millisecond, Max: 512 * time.Millisecond, Jitter: true, Unwrapped: true}

// retry runs fn until it succeeds, fails with something other than a
// transaction conflict, or has run maxAttempts times; the last error is
// returned as is.
func (w *Warehouse) retry(ctx context.Context, fn func() error) error {
	p := conflictBackoff
	p.Attempts = w.maxAttempts
	return p.Do(ctx, backoff.If(isConflict), func(context.Context) error { return fn() })
}

// jobID returns a fresh job id, prefixed by the caller's prefix if any.
func (w *Warehouse) jobID(prefix string) string {
	n := w.jobSeq.Add(1)
	if prefix == "" {
		prefix = "duckdb"
	}
	return fmt.Sprintf("%s_%d_%d", prefix, w.now().UnixMicro(), n)
}

// begin is the common prologue of every public call: refuse after Close
// and drop expired tables.
func (w *Warehouse) begin(ctx context.Context) error {
	if w.closed.Load() {
		return warehouse.Errorf(warehouse.FailedPrecondition, "", "the DuckDB warehouse is closed")
	}
	return w.sweepExpired(ctx)
}

// tableSQL renders a table reference as a quoted DuckDB name.
func tableSQL(ref warehouse.TableRef) string {
	return bqsql.QuoteIdent(ref.Project) + "." + bqsql.QuoteIdent(ref.Dataset) + "." + bqsql.QuoteIdent(ref.Table)
}
