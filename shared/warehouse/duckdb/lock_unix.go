//go:build unix

package duckdb

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"github.com/bqbackfill/bqbackfill/shared/warehouse"
)

// lockDir takes an exclusive, non-blocking flock on dir/LOCK. flock locks
// belong to the open file, so a second Open in the same process conflicts
// too (DuckDB's own file locks would not catch that).
func lockDir(dir string) (func() error, error) {
	return flockDir(dir, false)
}

// lockDirShared takes a shared, non-blocking flock on dir/LOCK for a
// read-only open: readers coexist, a writer (lockDir) excludes them. The
// lock file is not created: a directory that never had a writer has none,
// and then there is nothing to exclude.
func lockDirShared(dir string) (func() error, error) {
	return flockDir(dir, true)
}

func flockDir(dir string, shared bool) (func() error, error) {
	path := filepath.Join(dir, "LOCK")
	open, how := func() (*os.File, error) { return os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644) }, syscall.LOCK_EX
	if shared {
		open, how = func() (*os.File, error) { return os.Open(path) }, syscall.LOCK_SH
	}
	f, err := open()
	if shared && errors.Is(err, os.ErrNotExist) {
		return func() error { return nil }, nil
	}
	if err != nil {
		return nil, fmt.Errorf("duckdb warehouse: open lock file: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), how|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, warehouse.Errorf(warehouse.FailedPrecondition, "open",
				"warehouse directory %s is in use by another process or warehouse (DuckDB files can be opened by one process at a time)", dir)
		}
		return nil, fmt.Errorf("duckdb warehouse: lock %s: %w", path, err)
	}
	return func() error {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		return f.Close()
	}, nil
}
