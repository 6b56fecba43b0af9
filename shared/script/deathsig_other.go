//go:build unix && !linux

package script

import "syscall"

// setParentDeathSignal: only Linux has a parent-death signal; elsewhere a
// script outlives a bqbackfill killed with SIGKILL (any other end of
// bqbackfill cancels the run, which kills the group).
func setParentDeathSignal(*syscall.SysProcAttr) {}
