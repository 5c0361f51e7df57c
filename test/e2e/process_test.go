package e2e

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// proc is a "coffer server -dev" running as a process of its own, for the
// tests that watch what the whole process does (its memory).
type proc struct {
	cmd  *exec.Cmd
	url  string
	root string
}

// buildCoffer builds the coffer binary into a temporary directory.
func buildCoffer(t *testing.T) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	bin := filepath.Join(t.TempDir(), "coffer")
	cmd := exec.Command(goTool, "build", "-o", bin, "github.com/cofferhq/coffer/cmd/coffer")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build coffer: %v\n%s", err, out)
	}
	return bin
}

// startProcess runs bin as a dev server on a free loopback port, with the
// Go runtime's memory settings at their defaults (no GOGC or GOMEMLIMIT
// from the test's environment), and stops it when the test ends.
func startProcess(t *testing.T, bin string) *proc {
	t.Helper()
	const root = "e2e-process-root"
	cmd := exec.Command(bin, "server", "-dev", "-dev-root-token-id="+root, "-dev-listen-address=127.0.0.1:0", "-log-level=warn")
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GOGC=") && !strings.HasPrefix(kv, "GOMEMLIMIT=") && !strings.HasPrefix(kv, "COFFER_") && !strings.HasPrefix(kv, "VAULT_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	addr := regexp.MustCompile(`Api Address: (http://\S+)`)
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := addr.FindStringSubmatch(sc.Text()); m != nil {
				found <- m[1]
			}
		}
	}()
	select {
	case url := <-found:
		return &proc{cmd: cmd, url: url, root: root}
	case <-time.After(30 * time.Second):
		t.Fatal("the server printed no address within 30s")
	}
	return nil
}

// memKiB reads a "Vm…" line (VmRSS, VmHWM) of the server process's
// /proc status, in KiB.
func (p *proc) memKiB(field string) (int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(p.cmd.Process.Pid) + "/status")
	if err != nil {
		return 0, fmt.Errorf("read the server's /proc status: %w", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			return strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
		}
	}
	return 0, fmt.Errorf("no %s in the server's /proc status", field)
}
