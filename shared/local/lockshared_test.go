//go:build unix

package local

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestLockDirShared: readers share a directory and create nothing in it
// (no lock file where none exists); a writer's lock excludes readers and
// readers exclude a writer, each with an *InUseError.
func TestLockDirShared(t *testing.T) {
	dir := t.TempDir()
	r1, err := LockDirShared(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, LockFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a shared lock created %s (%v)", LockFile, err)
	}
	r2, err := LockDirShared(dir)
	if err != nil {
		t.Fatalf("second reader: %v", err)
	}
	r1.Unlock()
	r2.Unlock()

	w, err := LockDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var inUse *InUseError
	if _, err := LockDirShared(dir); !errors.As(err, &inUse) || inUse.PID != os.Getpid() {
		t.Errorf("reader beside a writer: %v, want an *InUseError naming pid %d", err, os.Getpid())
	}
	w.Unlock()
	r, err := LockDirShared(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Unlock()
	if _, err := LockDir(dir); !errors.As(err, &inUse) {
		t.Errorf("writer beside a reader: %v, want an *InUseError", err)
	}
}
