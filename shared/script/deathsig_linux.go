package script

import "syscall"

// setParentDeathSignal has the kernel send the script SIGTERM when
// bqbackfill dies, however it dies (kill -9 included). SIGTERM, not
// SIGKILL: the bootstrap answers it by killing the script's whole process
// group, which SIGKILL to the leader alone would leave running.
func setParentDeathSignal(a *syscall.SysProcAttr) { a.Pdeathsig = syscall.SIGTERM }
