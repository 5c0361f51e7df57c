package kubetest

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"syscall"
	"time"
)

// process is one child server with its output in a log file.
type process struct {
	name    string
	logPath string
	proc    *os.Process
	done    chan struct{} // closed when the process has exited
	err     error         // its exit status, valid once done is closed
}

// startProcess starts bin with args, its output appended to logPath.
//
// The child is started from a goroutine locked to its OS thread that
// lives exactly as long as the child: on Linux the child gets SIGKILL
// when the thread that started it dies (Pdeathsig), so it can never
// outlive the test binary, even one killed by a timeout or a signal. The
// child also gets its own process group, so a Ctrl-C in a terminal
// reaches only the Go program, which then stops it in order.
func startProcess(name, bin string, args []string, logPath string) (*process, error) {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	p := &process{name: name, logPath: logPath, done: make(chan struct{})}
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with this goroutine
		defer logf.Close()
		cmd := exec.Command(bin, args...)
		cmd.Stdout = logf
		cmd.Stderr = logf
		cmd.SysProcAttr = childAttr()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		p.proc = cmd.Process
		started <- nil
		p.err = cmd.Wait()
		close(p.done)
	}()
	if err := <-started; err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	return p, nil
}

// exited reports whether the process has ended.
func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM, waits up to grace for the process to exit, then
// kills it, and waits for it to be reaped. It is safe to call twice.
func (p *process) stop(grace time.Duration) {
	if p.exited() {
		return
	}
	_ = p.proc.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return
	case <-time.After(grace):
	}
	_ = p.proc.Kill()
	<-p.done
}

// logTail returns the last lines of the process's log, for errors.
func (p *process) logTail(lines int) string {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		return ""
	}
	b = bytes.TrimRight(b, "\n")
	for i, n := len(b)-1, 0; i >= 0; i-- {
		if b[i] == '\n' {
			n++
			if n == lines {
				return string(b[i+1:])
			}
		}
	}
	return string(b)
}

// portInUse reports whether the process died because a port was taken
// between choosing it and binding it (another test binary got it first).
func (p *process) portInUse() bool {
	b, _ := os.ReadFile(p.logPath)
	return bytes.Contains(b, []byte("address already in use"))
}

// exitError describes a process that ended while it was awaited.
func (p *process) exitError() error {
	<-p.done
	err := p.err
	if err == nil {
		err = errors.New("exited with status 0")
	}
	return fmt.Errorf("%w: %s exited: %v; last lines of %s:\n%s", ErrStart, p.name, err, p.logPath, p.logTail(30))
}
