package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/openbao/openbao/api/v2"
)

// raftCluster is coffer server processes (three unless said otherwise) on
// storage "raft", joined by retry_join, unsealed, with KV v2 mounted at
// secret/.
type raftCluster struct {
	bin   string
	nodes []*raftNode
	keys  []string // enough unseal shares (the threshold)
	root  string
}

// formRaftCluster starts three nodes, initialises node1 (3 shares,
// threshold 2), lets node2 and node3 join it by retry_join and unseals them.
func formRaftCluster(t *testing.T, bin string) *raftCluster {
	t.Helper()
	return formRaftClusterOf(t, bin, 3)
}

// formRaftClusterOf is formRaftCluster with size nodes.
func formRaftClusterOf(t *testing.T, bin string, size int) *raftCluster {
	t.Helper()
	n1 := newRaftNode(t, 1, "")
	rc := &raftCluster{bin: bin, nodes: []*raftNode{n1}}
	for i := 2; i <= size; i++ {
		rc.nodes = append(rc.nodes, newRaftNode(t, i, n1.api))
	}
	for _, n := range rc.nodes {
		n.start(t, bin)
	}
	c1 := newClient(t, n1.api, "")
	init, err := c1.Sys().Init(&api.InitRequest{SecretShares: 3, SecretThreshold: 2})
	if err != nil {
		t.Fatalf("init: %v\n%s", err, n1.log.String())
	}
	rc.keys, rc.root = init.KeysB64[:2], init.RootToken
	unsealWith(t, c1, rc.keys)
	for _, n := range rc.nodes[1:] {
		c := newClient(t, n.api, "")
		waitUntil(t, 30*time.Second, n.id+" to get its join challenge", func() bool {
			st, err := c.Sys().SealStatus()
			return err == nil && st.Initialized && st.T == 2
		})
		unsealWith(t, c, rc.keys)
	}
	c1.SetToken(rc.root)
	if err := c1.Sys().Mount("secret", &api.MountInput{Type: "kv-v2"}); err != nil {
		t.Fatal(err)
	}
	waitVoters(t, c1, size)
	return rc
}

// waitVoters waits until the raft configuration, read through c (with a
// token), has want members, every one a voter: joining nodes come in as
// non-voters and autopilot promotes them once they are stable.
func waitVoters(t *testing.T, c *api.Client, want int) {
	t.Helper()
	var last any
	ok := eventuallyTrue(90*time.Second, func() bool {
		sec, err := c.Logical().Read("sys/storage/raft/configuration")
		if err != nil || sec == nil {
			last = err
			return false
		}
		cfg, _ := sec.Data["config"].(map[string]any)
		servers, _ := cfg["servers"].([]any)
		last = servers
		voters := 0
		for _, s := range servers {
			if m, _ := s.(map[string]any); m["voter"] == true {
				voters++
			}
		}
		return len(servers) == want && voters == want
	})
	if !ok {
		t.Fatalf("the raft configuration never had %d voters: %v", want, last)
	}
}

// restart starts a killed node again on its data directory and unseals it.
func (rc *raftCluster) restart(t *testing.T, n *raftNode) {
	t.Helper()
	n.start(t, rc.bin)
	unsealWith(t, newClient(t, n.api, ""), rc.keys)
}

var quickHTTP = &http.Client{Timeout: 2 * time.Second}

// active returns the node among candidates whose sys/health answers 200,
// or nil.
func active(candidates ...*raftNode) *raftNode {
	for _, n := range candidates {
		resp, err := quickHTTP.Get(n.api + "/v1/sys/health")
		if err != nil {
			continue
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			return n
		}
	}
	return nil
}

// waitActive waits for one of candidates to be active.
func waitActive(t *testing.T, candidates ...*raftNode) *raftNode {
	t.Helper()
	var a *raftNode
	waitUntil(t, 30*time.Second, "an active node", func() bool { a = active(candidates...); return a != nil })
	return a
}

// appliedIndex is n's own raft_applied_index (sys/leader is node-local).
func appliedIndex(n *raftNode) (uint64, error) {
	resp, err := quickHTTP.Get(n.api + "/v1/sys/leader")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var out struct {
		Applied uint64 `json:"raft_applied_index"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return 0, err
	}
	return out.Applied, nil
}

// waitCaughtUp waits until n has applied at least what ref had applied
// when the wait began.
func waitCaughtUp(t *testing.T, n, ref *raftNode) {
	t.Helper()
	want, err := appliedIndex(ref)
	if err != nil {
		t.Fatalf("applied index of %s: %v", ref.id, err)
	}
	waitUntil(t, 30*time.Second, n.id+" to catch up to index "+fmt.Sprint(want), func() bool {
		got, err := appliedIndex(n)
		return err == nil && got >= want
	})
}

// kvWrite writes {"v": val} at secret/<key> through node api and reports
// whether the write was acknowledged (2xx).
func kvWrite(c *http.Client, apiURL, token, key, val string) bool {
	body, _ := json.Marshal(map[string]any{"data": map[string]string{"v": val}})
	req, err := http.NewRequest(http.MethodPost, apiURL+"/v1/secret/data/"+key, bytes.NewReader(body))
	if err != nil {
		return false
	}
	req.Header.Set("X-Vault-Token", token)
	resp, err := c.Do(req)
	if err != nil {
		return false
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode/100 == 2
}

// kvRead reads secret/<key>'s "v" through node api.
func kvRead(c *http.Client, apiURL, token, key string) (string, error) {
	req, err := http.NewRequest(http.MethodGet, apiURL+"/v1/secret/data/"+key, nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("X-Vault-Token", token)
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("status %d", resp.StatusCode)
	}
	var out struct {
		Data struct {
			Data map[string]string `json:"data"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return "", err
	}
	return out.Data.Data["v"], nil
}

// apis are the nodes' API addresses, in node order.
func (rc *raftCluster) apis() []string {
	out := make([]string, len(rc.nodes))
	for i, n := range rc.nodes {
		out[i] = n.api
	}
	return out
}

// writeLoad is concurrent writers of distinct KV v2 keys through any of
// the API addresses apis, with token: a writer that gets an error or a
// non-2xx answer retries the same key and value on the next address; only
// acknowledged writes are recorded. Storage-agnostic: raft and PostgreSQL
// HA tests share it.
type writeLoad struct {
	apis  []string
	token string
	mu    sync.Mutex
	acked map[string]string
	spans [][2]time.Time // start and end of each acknowledged write
	stop  chan struct{}
	wg    sync.WaitGroup
}

func startWriteLoad(apis []string, token string, writers int) *writeLoad {
	w := &writeLoad{apis: apis, token: token, acked: map[string]string{}, stop: make(chan struct{})}
	for g := 0; g < writers; g++ {
		w.wg.Add(1)
		go w.writer(g)
	}
	return w
}

func (w *writeLoad) writer(g int) {
	defer w.wg.Done()
	c := &http.Client{Timeout: 3 * time.Second}
	node := g % len(w.apis)
	for seq := 0; ; seq++ {
		key, val := fmt.Sprintf("load/w%02d-%05d", g, seq), fmt.Sprintf("%d.%d.%d", g, seq, time.Now().UnixNano())
		for {
			select {
			case <-w.stop:
				return
			default:
			}
			start := time.Now()
			if kvWrite(c, w.apis[node], w.token, key, val) {
				w.mu.Lock()
				w.acked[key] = val
				w.spans = append(w.spans, [2]time.Time{start, time.Now()})
				w.mu.Unlock()
				break
			}
			node = (node + 1) % len(w.apis)
			time.Sleep(20 * time.Millisecond)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// firstAckAfter is the end of the first acknowledged write that started at
// or after t0, or the zero time.
func (w *writeLoad) firstAckAfter(t0 time.Time) time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	var first time.Time
	for _, s := range w.spans {
		if !s[0].Before(t0) && (first.IsZero() || s[1].Before(first)) {
			first = s[1]
		}
	}
	return first
}

func (w *writeLoad) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.acked)
}

// finish stops the writers and returns every acknowledged write.
func (w *writeLoad) finish() map[string]string {
	close(w.stop)
	w.wg.Wait()
	return w.acked
}

// failoverTime waits, up to within, for a write that started after the
// kill at t0 to be acknowledged and returns the time from t0 to that
// acknowledgement.
func failoverTime(t *testing.T, w *writeLoad, t0 time.Time, within time.Duration) time.Duration {
	t.Helper()
	var first time.Time
	waitUntil(t, within, "a write acknowledged after the failure", func() bool {
		first = w.firstAckAfter(t0)
		return !first.IsZero()
	})
	return first.Sub(t0)
}

func median(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
