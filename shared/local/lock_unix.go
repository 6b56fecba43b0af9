//go:build unix

package local

import (
	"errors"
	"os"
	"syscall"
)

// errLocked: the lock is held elsewhere.
var errLocked = errors.New("locked")

// flock takes an exclusive, non-blocking flock(2). flock locks belong to the
// open file description, so a second open of the same file in this process
// conflicts too, and the kernel drops the lock when the process dies.
func flock(f *os.File) error {
	err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return errLocked
	}
	return err
}

func unlock(f *os.File) error { return syscall.Flock(int(f.Fd()), syscall.LOCK_UN) }

// flockShared takes a shared, non-blocking flock(2): readers coexist, an
// exclusive holder (a writer) excludes them.
func flockShared(f *os.File) error {
	err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return errLocked
	}
	return err
}
