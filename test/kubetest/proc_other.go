//go:build !linux

package kubetest

import "syscall"

// childAttr has nothing to add outside Linux: there is no parent-death
// signal, so a test binary killed hard may leave its servers running
// there; Stop still ends them on every normal exit.
func childAttr() *syscall.SysProcAttr { return nil }
