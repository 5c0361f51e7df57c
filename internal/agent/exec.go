package agent

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"syscall"
	"time"

	"github.com/cofferhq/coffer/internal/config"
)

// childStopTimeout is how long a child has to exit after the stop signal
// before it is killed.
const childStopTimeout = 30 * time.Second

// child supervises the exec block's process: started after the first
// render, restarted (or left alone) when a template changes, stopped when
// the agent stops. Used by the agent's loop goroutine only.
type child struct {
	cfg            *config.Exec
	stdout, stderr io.Writer
	log            *slog.Logger

	cmd *exec.Cmd
	// exited receives the exit error of the running process, once.
	exited chan error
}

// start runs the command with the agent's environment.
func (c *child) start() error {
	cmd := exec.Command(c.cfg.Command[0], c.cfg.Command[1:]...)
	cmd.Stdin = nil
	cmd.Stdout, cmd.Stderr = c.stdout, c.stderr
	cmd.Env = os.Environ()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("exec %s: %w", c.cfg.Command[0], err)
	}
	c.cmd = cmd
	c.exited = make(chan error, 1)
	go func(ch chan error) { ch <- cmd.Wait() }(c.exited)
	c.log.Info("exec child started", "pid", cmd.Process.Pid)
	return nil
}

// done is the channel that reports the child's own exit; nil (blocking
// forever) when no child runs.
func (c *child) done() <-chan error {
	if c.cmd == nil {
		return nil
	}
	return c.exited
}

// stop sends the stop signal, waits up to childStopTimeout, then kills.
func (c *child) stop(sig syscall.Signal) {
	if c.cmd == nil {
		return
	}
	_ = c.cmd.Process.Signal(sig)
	t := time.NewTimer(childStopTimeout)
	defer t.Stop()
	select {
	case <-c.exited:
	case <-t.C:
		_ = c.cmd.Process.Kill()
		<-c.exited
	}
	c.cmd = nil
}

// restart stops the child with the configured signal and starts it again.
func (c *child) restart() error {
	c.log.Info("secrets changed; restarting exec child", "signal", c.cfg.RestartStopSignal.String())
	c.stop(c.cfg.RestartStopSignal)
	return c.start()
}

// exitCode turns a child's Wait error into an exit code for the agent.
func exitCode(err error) int {
	if err == nil {
		return 0
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal())
		}
		return ee.ExitCode()
	}
	return 1
}
