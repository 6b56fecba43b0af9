//go:build unix

package script

import (
	"os"
	"os/exec"
	"syscall"
)

// setProcessGroup starts the script as the leader of a new process group,
// so that it and everything it spawns can be killed together; where the
// system has one, a parent-death signal tells it when bqbackfill dies.
func setProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	setParentDeathSignal(cmd.SysProcAttr)
}

// killProcessGroup kills the script's whole process group. It is called
// again after the script exits, to remove what it left running; an already
// empty group is not an error.
func killProcessGroup(p *os.Process) {
	if p == nil {
		return
	}
	_ = syscall.Kill(-p.Pid, syscall.SIGKILL)
}
