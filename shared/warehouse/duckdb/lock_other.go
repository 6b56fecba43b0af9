//go:build !unix

package duckdb

// lockDir relies on DuckDB's own file locks where flock is unavailable:
// a second process fails when it attaches a project file.
func lockDir(dir string) (func() error, error) {
	return func() error { return nil }, nil
}

// lockDirShared is lockDir for a read-only open.
func lockDirShared(dir string) (func() error, error) { return lockDir(dir) }
