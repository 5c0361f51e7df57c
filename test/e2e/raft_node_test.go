package e2e

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// raftNode is one coffer server process on storage "raft" with a cluster
// port on loopback.
type raftNode struct {
	id, dir, conf, api string
	// env is added to the process's environment (COFFER_* cleared first).
	env []string
	cmd *exec.Cmd
	log *lockedBuffer
}

// freeLoopbackAddr returns a loopback address nobody listens on now.
func freeLoopbackAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// newRaftNode writes node i's configuration: its API and cluster ports,
// and retry_join towards joinAPI when it is not empty.
func newRaftNode(t *testing.T, i int, joinAPI string) *raftNode {
	t.Helper()
	dir := t.TempDir()
	apiAddr, clusterAddr := freeLoopbackAddr(t), freeLoopbackAddr(t)
	n := &raftNode{id: fmt.Sprintf("node%d", i), dir: dir, conf: filepath.Join(dir, "coffer.hcl"), api: "http://" + apiAddr}
	join := ""
	if joinAPI != "" {
		join = fmt.Sprintf("  retry_join {\n    leader_api_addr = %q\n  }\n", joinAPI)
	}
	conf := fmt.Sprintf(`storage "raft" {
  path    = %q
  node_id = %q
  performance_multiplier = 1
%s}
listener "tcp" {
  address         = %q
  cluster_address = %q
  tls_disable     = true
}
api_addr     = %q
cluster_addr = "https://%s"
log_level    = "info"
`, filepath.Join(dir, "data"), n.id, join, apiAddr, clusterAddr, n.api, clusterAddr)
	if err := os.WriteFile(n.conf, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	return n
}

// start runs the node's process and waits until its API answers.
func (n *raftNode) start(t *testing.T, bin string) {
	t.Helper()
	n.cmd = exec.Command(bin, "server", "-config="+n.conf)
	n.cmd.Env = append(cleanEnv(), n.env...)
	n.log = &lockedBuffer{}
	n.cmd.Stderr, n.cmd.Stdout = n.log, n.log
	if err := n.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	cmd := n.cmd
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	waitUntil(t, 30*time.Second, n.id+" answers on its API", func() bool {
		resp, err := http.Get(n.api + "/v1/sys/seal-status")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

// kill stops the process at once (SIGKILL).
func (n *raftNode) kill() {
	_ = n.cmd.Process.Kill()
	_ = n.cmd.Wait()
}

func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "COFFER_") && !strings.HasPrefix(kv, "VAULT_") {
			env = append(env, kv)
		}
	}
	return env
}

// signal sends sig (SIGSTOP, SIGCONT) to the node's process.
func (n *raftNode) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := n.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signal %v to %s: %v", sig, n.id, err)
	}
}
