package kubetest

import "syscall"

// childAttr puts a child in its own process group and kills it when the
// thread that started it exits (see startProcess).
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
