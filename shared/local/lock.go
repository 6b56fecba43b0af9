package local

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// LockFile is the name of the lock file OpenGCS keeps in its directory.
const LockFile = "lock"

// InUseError reports a directory held by another process (or by another
// open in this process: the lock belongs to the open file, not the process).
type InUseError struct {
	Dir string // the locked directory
	PID int    // the holder's pid as recorded in the lock file; 0 if unknown
}

func (e *InUseError) Error() string {
	pid := "unknown"
	if e.PID > 0 {
		pid = strconv.Itoa(e.PID)
	}
	return fmt.Sprintf("state directory %s is in use by another bqbackfill process (pid %s)", e.Dir, pid)
}

// DirLock is an exclusive advisory lock on a directory, held until Unlock.
type DirLock struct {
	f *os.File
}

// LockDir takes an exclusive, non-blocking lock on dir/lock (created if
// missing) and records this process's pid in it. If another process — or
// another LockDir in this process — holds the lock, it returns an
// *InUseError naming the holder's pid. The lock is released by Unlock or
// when the process exits, however it exits.
func LockDir(dir string) (*DirLock, error) {
	p := filepath.Join(dir, LockFile)
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open lock file %s: %w", p, err)
	}
	if err := flock(f); err != nil {
		f.Close()
		if errors.Is(err, errLocked) {
			return nil, &InUseError{Dir: dir, PID: readPID(p)}
		}
		return nil, fmt.Errorf("lock %s: %w", p, err)
	}
	if err := f.Truncate(0); err != nil {
		unlock(f)
		f.Close()
		return nil, fmt.Errorf("write lock file %s: %w", p, err)
	}
	if _, err := f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0); err != nil {
		unlock(f)
		f.Close()
		return nil, fmt.Errorf("write lock file %s: %w", p, err)
	}
	return &DirLock{f: f}, nil
}

// LockDirShared takes a shared, non-blocking lock for a reader that
// writes nothing (status, sql on a read-only state directory): readers
// coexist, and a writer's LockDir excludes them (an *InUseError). It
// creates nothing: it locks dir/lock if it exists, else the directory
// itself (a directory no writer ever locked).
func LockDirShared(dir string) (*DirLock, error) {
	p := filepath.Join(dir, LockFile)
	f, err := os.Open(p)
	if errors.Is(err, os.ErrNotExist) {
		p = dir
		f, err = os.Open(dir)
	}
	if err != nil {
		return nil, fmt.Errorf("open lock file %s: %w", p, err)
	}
	if err := flockShared(f); err != nil {
		f.Close()
		if errors.Is(err, errLocked) {
			return nil, &InUseError{Dir: dir, PID: readPID(filepath.Join(dir, LockFile))}
		}
		return nil, fmt.Errorf("lock %s: %w", p, err)
	}
	return &DirLock{f: f}, nil
}

// Unlock releases the lock. The lock file stays (removing it would let a
// waiter lock a file that is about to disappear); a stale pid in it is
// harmless, because only the lock itself counts. Calling Unlock again does
// nothing.
func (l *DirLock) Unlock() error {
	if l == nil || l.f == nil {
		return nil
	}
	f := l.f
	l.f = nil
	uerr := unlock(f)
	cerr := f.Close()
	if uerr != nil {
		return fmt.Errorf("unlock %s: %w", f.Name(), uerr)
	}
	if cerr != nil {
		return fmt.Errorf("close lock file %s: %w", f.Name(), cerr)
	}
	return nil
}

// readPID reads the pid recorded in a lock file; 0 if there is none (the
// holder may be between truncating the file and writing its pid).
func readPID(path string) int {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || pid <= 0 {
		return 0
	}
	return pid
}
