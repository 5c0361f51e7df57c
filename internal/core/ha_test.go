package core_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cofferhq/coffer/internal/cluster"
	"github.com/cofferhq/coffer/internal/core"
	"github.com/cofferhq/coffer/internal/forward"
	"github.com/cofferhq/coffer/internal/httpapi"
	"github.com/cofferhq/coffer/internal/physical"
	"github.com/cofferhq/coffer/internal/physical/raft"
	"github.com/cofferhq/coffer/internal/registry"
)

// haNode is one in-process server of a raft cluster: its core, its API on
// a loopback listener and its cluster port (mutual TLS, forwarding).
type haNode struct {
	core *core.Core
	api  *httptest.Server
}

// haStore is storage an HA node runs on (raft or PostgreSQL with HA).
type haStore interface {
	physical.Backend
	physical.HABackend
	Close() error
}

// startHANode starts a server on st with its API on a loopback listener
// and request forwarding over layer; cfg supplies what differs between
// storages (StorageType, StepDownWait, ClusterPort), the rest is filled in.
func startHANode(t *testing.T, st haStore, layer *cluster.Layer, cfg core.Config) *haNode {
	t.Helper()
	n := &haNode{api: httptest.NewUnstartedServer(nil)}
	cfg.Physical, cfg.HA = st, st
	cfg.Engines, cfg.AuthMethods = registry.Engines(), registry.AuthMethods()
	cfg.APIAddr, cfg.ClusterAddr = "http://"+n.api.Listener.Addr().String(), layer.Addr()
	cfg.Logger = testLogger(t).With("node", cfg.APIAddr)
	client := forward.NewClient(layer, cfg.Logger)
	cfg.HAEcho = client.Echo
	n.core = core.New(cfg)
	h := httpapi.New(n.core, httpapi.Options{Forwarder: client, Logger: cfg.Logger})
	n.api.Config.Handler = h
	n.api.Start()
	srv := forward.Serve(layer.Listen(cluster.ProtoForward), forward.Handler(h, n.core.RecordEcho), nil)
	t.Cleanup(func() {
		_ = n.core.Seal(context.Background())
		n.api.Close()
		_ = srv.Close()
		client.Close()
		_ = layer.Close()
		_ = st.Close()
	})
	return n
}

// testLogger passes warnings and errors to t.Log, so that a failing test
// shows what its servers logged (an internal error's cause is only there),
// until the test's cleanups have run: the servers' goroutines may log
// after it, when t.Log would panic. Call it before anything whose cleanup
// stops a server.
func testLogger(t *testing.T) *slog.Logger {
	w := &testLogWriter{t: t}
	t.Cleanup(func() {
		w.mu.Lock()
		w.done = true
		w.mu.Unlock()
	})
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type testLogWriter struct {
	mu   sync.Mutex
	t    *testing.T
	done bool
}

func (w *testLogWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(strings.TrimSuffix(string(p), "\n"))
	}
	return len(p), nil
}

// haCluster starts three servers on raft's in-memory transport, each with
// a real cluster port on loopback sharing one cluster certificate, inits
// the cluster through node 0 and unseals every node.
func haCluster(t *testing.T) ([]*haNode, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	stores, err := raft.OpenInmemCluster(ctx, []string{t.TempDir(), t.TempDir(), t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	kr, err := cluster.NewKeyring()
	if err != nil {
		t.Fatal(err)
	}
	nodes := make([]*haNode, len(stores))
	for i, st := range stores {
		layer, err := cluster.Listen("127.0.0.1:0", "", nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := layer.SetKeyring(kr); err != nil {
			t.Fatal(err)
		}
		n := startHANode(t, st, layer, core.Config{StorageType: "raft", StepDownWait: 2 * time.Second})
		nodes[i] = n
	}
	var init struct {
		Keys      []string `json:"keys"`
		RootToken string   `json:"root_token"`
	}
	// Init through the raft leader, whichever it is now: these servers have
	// no Config.Raft, so Initialize does not wait for leadership as a real
	// server's does, and a node that is not the leader answers 503. Init
	// is not atomic: one cut off after the seal config was written cannot
	// be retried ("already initialized").
	var code int
	var body []byte
	eventually(t, "sys/init through the raft leader answered other than 503", func() bool {
		for i, st := range stores {
			if st.IsLeader() {
				code, body = send(t, nodes[i], http.MethodPut, "sys/init", "", map[string]any{"secret_shares": 1, "secret_threshold": 1}, &init)
				if code == http.StatusServiceUnavailable {
					t.Logf("sys/init: 503, retrying: %s", body)
				}
				return code != http.StatusServiceUnavailable
			}
		}
		return false
	})
	if code != http.StatusOK {
		t.Fatalf("sys/init: status %d: %s", code, body)
	}
	for i, n := range nodes {
		eventually(t, fmt.Sprintf("node%d unseals", i), func() bool {
			var st struct{ Sealed bool }
			code := do(t, n, http.MethodPut, "sys/unseal", "", map[string]any{"key": init.Keys[0]}, &st, -1)
			return code == 200 && !st.Sealed
		})
	}
	return nodes, init.RootToken
}

// do sends one request and decodes the answer into out; want is the
// status expected (-1: any), and the status is returned.
func do(t *testing.T, n *haNode, method, path, token string, body any, out any, want int) int {
	t.Helper()
	code, raw := send(t, n, method, path, token, body, out)
	if want >= 0 && code != want {
		t.Fatalf("%s %s: status %d, want %d: %s", method, path, code, want, raw)
	}
	return code
}

// retried is do for a client of an HA cluster, which sends a request again
// while the answer is 503: leadership may move at any time on a loaded
// machine (raft's timing is scaled down here), and the node that was
// active then refuses writes with a 503 until a new one is elected.
func retried(t *testing.T, n *haNode, method, path, token string, body any, out any, want int) {
	t.Helper()
	if code, raw, _ := retry(t, n, method, path, token, body, out); code != want {
		t.Fatalf("%s %s: status %d, want %d: %s", method, path, code, want, raw)
	}
}

// retry sends a request until the answer is not a 503 and returns that
// answer; again reports that a 503 came first, after which a write may
// find itself applied already (the 503 says it may or may not have been).
func retry(t *testing.T, n *haNode, method, path, token string, body any, out any) (code int, raw []byte, again bool) {
	t.Helper()
	eventually(t, method+" "+path+" answered other than 503", func() bool {
		code, raw = send(t, n, method, path, token, body, out)
		if code == http.StatusServiceUnavailable {
			t.Logf("%s %s: 503, retrying: %s", method, path, raw)
			again = true
			return false
		}
		return true
	})
	return code, raw, again
}

// send sends one request, decodes the answer into out and returns the
// status and the body as it came.
func send(t *testing.T, n *haNode, method, path, token string, body any, out any) (int, []byte) {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, n.api.URL+"/v1/"+path, r)
	if token != "" {
		req.Header.Set("X-Vault-Token", token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil && len(raw) > 0 {
		_ = json.Unmarshal(raw, out)
	}
	return resp.StatusCode, raw
}

type leaderStatus struct {
	HAEnabled     bool   `json:"ha_enabled"`
	IsSelf        bool   `json:"is_self"`
	LeaderAddress string `json:"leader_address"`
	Committed     uint64 `json:"raft_committed_index"`
}

// active waits until exactly one node says it is active and every other
// node names it as leader, and returns its index.
func active(t *testing.T, nodes []*haNode) int {
	t.Helper()
	found := -1
	// What each node said last, for the failure message (a deferred call
	// runs when eventually gives up through t.Fatalf).
	var said []string
	defer func() {
		if t.Failed() {
			t.Logf("sys/leader answers last seen: %v", said)
		}
	}()
	eventually(t, "one active node, known to all", func() bool {
		found = -1
		var addr string
		said = said[:0]
		for i, n := range nodes {
			var ls leaderStatus
			do(t, n, http.MethodGet, "sys/leader", "", nil, &ls, 200)
			said = append(said, fmt.Sprintf("node%d (%s): self %v, leader %q, committed %d", i, n.api.URL, ls.IsSelf, ls.LeaderAddress, ls.Committed))
			if ls.IsSelf {
				if found >= 0 {
					return false
				}
				found = i
			}
			if addr != "" && ls.LeaderAddress != addr || ls.LeaderAddress == "" {
				return false
			}
			addr = ls.LeaderAddress
		}
		return found >= 0 && addr == nodes[found].api.URL
	})
	return found
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting: %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestHAOneActiveStandbysForward(t *testing.T) {
	nodes, root := haCluster(t)
	// Only the active node has the unsealed state, with its lease
	// manager and token sweeper; standbys run none of it.
	act := leasesOnlyOnActive(t, nodes)
	s1, s2 := nodes[(act+1)%3], nodes[(act+2)%3]
	for i, n := range nodes {
		if n.core.Sealed() {
			t.Fatalf("node%d reports sealed", i)
		}
	}

	// sys/health: 200 on the active, 429 on a standby, 200 with standbyok,
	// and standbycode honoured.
	var health struct{ Standby bool }
	do(t, nodes[act], http.MethodGet, "sys/health", "", nil, &health, 200)
	if health.Standby {
		t.Fatal("the active node reports standby")
	}
	do(t, s1, http.MethodGet, "sys/health", "", nil, &health, 429)
	if !health.Standby {
		t.Fatal("a standby does not report standby")
	}
	do(t, s1, http.MethodGet, "sys/health?standbyok=true", "", nil, nil, 200)
	do(t, s1, http.MethodGet, "sys/health?standbycode=299", "", nil, nil, 299)
	var ls leaderStatus
	do(t, s1, http.MethodGet, "sys/leader", "", nil, &ls, 200)
	if !ls.HAEnabled || ls.IsSelf || ls.Committed == 0 {
		t.Fatalf("sys/leader on a standby: %+v", ls)
	}

	// A write through one standby (mount, then a secret), a read through
	// the other: both forwarded to the active node.
	// A client retries a 503, which a leadership change under load gives.
	code, raw, again := retry(t, s1, http.MethodPost, "sys/mounts/secret", root, map[string]any{"type": "kv", "options": map[string]any{"version": "2"}}, nil)
	if code != http.StatusNoContent && !(again && code == http.StatusBadRequest && bytes.Contains(raw, []byte("already in use"))) {
		t.Fatalf("mount through a standby: status %d: %s", code, raw)
	}
	retried(t, s1, http.MethodPut, "secret/data/app", root, map[string]any{"data": map[string]any{"password": "hunter2"}}, nil, 200)
	var got struct {
		Data struct {
			Data map[string]string `json:"data"`
		} `json:"data"`
	}
	retried(t, s2, http.MethodGet, "secret/data/app", root, nil, &got, 200)
	if got.Data.Data["password"] != "hunter2" {
		t.Fatalf("read through a standby: %+v", got)
	}
	// A bad token is refused by the active node, through the standby.
	retried(t, s2, http.MethodGet, "secret/data/app", "nope", nil, nil, 403)
	// A standby will not seal itself on a request it cannot authorise
	// (asked of one that is a standby now: leadership may have moved).
	act = active(t, nodes)
	s1, s2 = nodes[(act+1)%3], nodes[(act+2)%3]
	do(t, s2, http.MethodPut, "sys/seal", root, nil, nil, 400)

	// The token sweeper runs on the active node: a short-lived token
	// created through a standby is gone once it expires.
	var tok struct {
		Auth struct {
			ClientToken string `json:"client_token"`
		} `json:"auth"`
	}
	retried(t, s1, http.MethodPost, "auth/token/create", root, map[string]any{"ttl": "1s", "policies": []string{"default"}}, &tok, 200)
	retried(t, s2, http.MethodGet, "auth/token/lookup-self", tok.Auth.ClientToken, nil, nil, 200)
	eventually(t, "the expired token is refused", func() bool {
		return do(t, s2, http.MethodGet, "auth/token/lookup-self", tok.Auth.ClientToken, nil, nil, -1) == 403
	})

	// sys/ha-status on the active node lists all three, itself first, once
	// the standbys have echoed.
	eventually(t, "ha-status lists three nodes", func() bool {
		var hs struct {
			Data struct {
				Nodes []struct {
					APIAddress string `json:"api_address"`
					Active     bool   `json:"active_node"`
				} `json:"nodes"`
			} `json:"data"`
		}
		// 503 while a leadership change settles: the client retries.
		code := do(t, s2, http.MethodGet, "sys/ha-status", root, nil, &hs, -1)
		if code == http.StatusServiceUnavailable {
			return false
		}
		if code != http.StatusOK {
			t.Fatalf("sys/ha-status through a standby: status %d", code)
		}
		var ls leaderStatus
		do(t, s2, http.MethodGet, "sys/leader", "", nil, &ls, 200)
		return len(hs.Data.Nodes) == 3 && hs.Data.Nodes[0].Active && hs.Data.Nodes[0].APIAddress == ls.LeaderAddress
	})
}

func TestHAStepDownMovesActivity(t *testing.T) {
	nodes, root := haCluster(t)
	act := active(t, nodes)
	standby := nodes[(act+1)%3]
	// Sent to a standby, the step-down is forwarded to the active node.
	do(t, standby, http.MethodPut, "sys/step-down", root, nil, nil, 204)
	eventually(t, "another node becomes active", func() bool {
		var ls leaderStatus
		for i, n := range nodes {
			do(t, n, http.MethodGet, "sys/leader", "", nil, &ls, 200)
			if ls.IsSelf && i != act {
				return true
			}
		}
		return false
	})
	// The node that stepped down stops its lease manager, the new active
	// node runs one (whichever node is active by then: under load
	// leadership can move again, even back).
	next := leasesOnlyOnActive(t, nodes)
	// The active node serves writes, also through the old one; a client
	// retries the 503 a further leadership move gives.
	code, raw, again := retry(t, nodes[act], http.MethodPost, "sys/mounts/kv", root, map[string]any{"type": "kv"}, nil)
	if code != http.StatusNoContent && !(again && code == http.StatusBadRequest && bytes.Contains(raw, []byte("already in use"))) {
		t.Fatalf("mount through the old active node: status %d: %s", code, raw)
	}
	retried(t, nodes[act], http.MethodPut, "kv/x", root, map[string]any{"v": "1"}, nil, 204)
	retried(t, nodes[next], http.MethodGet, "kv/x", root, nil, nil, 200)
	// Step-down needs sudo: a default-policy token is refused.
	var tok struct {
		Auth struct {
			ClientToken string `json:"client_token"`
		} `json:"auth"`
	}
	retried(t, nodes[next], http.MethodPost, "auth/token/create", root, map[string]any{"policies": []string{"default"}}, &tok, 200)
	retried(t, nodes[next], http.MethodPut, "sys/step-down", tok.Auth.ClientToken, nil, nil, 403)
}

// leasesOnlyOnActive waits until exactly one node says it is active, it
// runs a lease manager and no other node does, and returns its index. It
// asks again while leadership moves: the product promises this of
// whichever node is active, not of one named earlier.
func leasesOnlyOnActive(t *testing.T, nodes []*haNode) int {
	t.Helper()
	found := -1
	eventually(t, "only the active node runs a lease manager", func() bool {
		found = -1
		for i, n := range nodes {
			var ls leaderStatus
			do(t, n, http.MethodGet, "sys/leader", "", nil, &ls, 200)
			if ls.IsSelf {
				if found >= 0 {
					return false
				}
				found = i
			}
		}
		if found < 0 {
			return false
		}
		for i, n := range nodes {
			if (n.core.LeaseManager() != nil) != (i == found) {
				return false
			}
		}
		return true
	})
	return found
}
