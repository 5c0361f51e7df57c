package core_test

import (
	"bytes"
	"io"
	"net/http"
	"testing"
	"time"
)

// raw sends body as is and returns the status and the answer's bytes.
func raw(t *testing.T, n *haNode, method, path, token string, body []byte) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, n.api.URL+"/v1/"+path, bytes.NewReader(body))
	req.Header.Set("X-Vault-Token", token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// A snapshot taken while another node was active brings back that node's
// lock record and advertisement; the active node that restores it records
// itself again, so standbys keep forwarding to the active node instead of
// answering 503 until the next election.
func TestHARestoreKeepsStandbysForwarding(t *testing.T) {
	nodes, root := haCluster(t)
	first := active(t, nodes)
	code, snap := raw(t, nodes[first], http.MethodGet, "sys/storage/raft/snapshot", root, nil)
	if code != 200 || len(snap) == 0 {
		t.Fatalf("snapshot: %d %s", code, snap)
	}
	do(t, nodes[first], http.MethodPut, "sys/step-down", root, nil, nil, 204)
	eventually(t, "another node becomes active", func() bool {
		var ls leaderStatus
		do(t, nodes[first], http.MethodGet, "sys/leader", "", nil, &ls, 200)
		return ls.LeaderAddress != "" && ls.LeaderAddress != nodes[first].api.URL
	})
	next := restoreOnActive(t, nodes, root, snap)
	var after leaderStatus
	do(t, nodes[next], http.MethodGet, "sys/leader", "", nil, &after, 200)
	// Each node, once it has applied the restore, must name an active node
	// (itself, or another node of the cluster it forwards to) and serve
	// requests, and keep doing so past its next polls (one a second).
	// Before the fix standbys named no active node and answered 503 until
	// leadership moved. Leadership may move after the restore on a loaded
	// machine: any active node is right, not only the one that restored.
	for i, n := range nodes {
		var since time.Time
		deadline := time.Now().Add(20 * time.Second)
		for {
			var ls leaderStatus
			do(t, n, http.MethodGet, "sys/leader", "", nil, &ls, 200)
			code := do(t, n, http.MethodGet, "sys/mounts", root, nil, nil, -1)
			ok := ls.Committed >= after.Committed && namesActive(t, nodes, i, ls) && code == 200
			if !ok {
				since = time.Time{}
			} else if since.IsZero() {
				since = time.Now()
			} else if time.Since(since) > 3*time.Second {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("node%d after the restore on node%d: leader %q (self %v), sys/mounts %d", i, next, ls.LeaderAddress, ls.IsSelf, code)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

// namesActive reports whether node i's sys/leader answer ls names an
// active node: itself when it says it is active, otherwise another node
// of the cluster that says it is active now (not, say, the node whose
// advertisement the snapshot brought back, a standby since).
func namesActive(t *testing.T, nodes []*haNode, i int, ls leaderStatus) bool {
	t.Helper()
	if ls.IsSelf {
		return ls.LeaderAddress == nodes[i].api.URL
	}
	for j, n := range nodes {
		if j != i && ls.LeaderAddress == n.api.URL {
			var named leaderStatus
			do(t, n, http.MethodGet, "sys/leader", "", nil, &named, 200)
			return named.IsSelf
		}
	}
	return false
}

// restoreOnActive restores snap through the active node and returns its
// index. Under load the active node can lose raft leadership during the
// restore (its followers busy installing the snapshot): the answer is then
// a 400 naming the lost leadership, and the restore is run again on the
// node active then, as an operator would.
func restoreOnActive(t *testing.T, nodes []*haNode, root string, snap []byte) int {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		next := active(t, nodes)
		code, b := raw(t, nodes[next], http.MethodPost, "sys/storage/raft/snapshot", root, snap)
		if code == 204 || code == 200 {
			return next
		}
		if code != 400 || !bytes.Contains(b, []byte("not the raft leader")) || time.Now().After(deadline) {
			t.Fatalf("restore on node%d: %d %s", next, code, b)
		}
		t.Logf("restore on node%d: %d %s; again on the node active now", next, code, b)
	}
}
