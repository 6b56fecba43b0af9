//go:build !unix

package local

import (
	"errors"
	"os"
	"runtime"
)

// errLocked: the lock is held elsewhere.
var errLocked = errors.New("locked")

// flock refuses: without flock(2) two processes could open one state
// directory at once and lose ledger updates (fake-gcs-server's own lock is
// in-process only), so a file-backed state directory is not offered here.
func flock(*os.File) error {
	return errors.New("file-backed local state needs flock(2), which " + runtime.GOOS + " lacks; use an in-memory stack")
}

func unlock(*os.File) error { return nil }

func flockShared(f *os.File) error { return flock(f) }
