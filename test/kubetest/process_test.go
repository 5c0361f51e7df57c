package kubetest

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// alive reports whether pid names a running (not zombie) process.
func alive(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return runtime.GOOS != "linux"
	}
	// The state follows the parenthesised command name.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

func sleepBinary(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip("no sleep binary")
	}
	return p
}

func TestProcessStop(t *testing.T) {
	p, err := startProcess("sleep", sleepBinary(t), []string{"600"}, filepath.Join(t.TempDir(), "log"))
	if err != nil {
		t.Fatal(err)
	}
	pid := p.proc.Pid
	if !alive(pid) || p.exited() {
		t.Fatal("the child is not running")
	}
	p.stop(5 * time.Second)
	if !p.exited() || alive(pid) {
		t.Fatal("stop left the child running")
	}
	p.stop(time.Second) // twice is harmless
}

// TestNoOrphansWhenTestBinaryDies kills a test binary that started a
// child hard (as go test's timeout or a Ctrl-C would) and checks that the
// child dies with it.
func TestNoOrphansWhenTestBinaryDies(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the parent-death signal is Linux only")
	}
	if os.Getenv("KUBETEST_ORPHAN_CHILD") == "1" {
		p, err := startProcess("sleep", sleepBinary(t), []string{"600"}, filepath.Join(os.TempDir(), "kubetest-orphan.log"))
		if err != nil {
			t.Fatal(err)
		}
		os.Stdout.WriteString("pid " + strconv.Itoa(p.proc.Pid) + "\n")
		time.Sleep(10 * time.Minute) // killed by the parent test long before
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestNoOrphansWhenTestBinaryDies$", "-test.v")
	cmd.Env = append(os.Environ(), "KUBETEST_ORPHAN_CHILD=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := 0
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "pid "); ok {
			pid, _ = strconv.Atoi(rest)
			break
		}
	}
	if pid == 0 {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatal("the helper test binary did not report its child")
	}
	if !alive(pid) {
		t.Fatal("the grandchild is not running")
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	deadline := time.Now().Add(30 * time.Second)
	for alive(pid) {
		if time.Now().After(deadline) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			t.Fatal("the child outlived the test binary that started it")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
