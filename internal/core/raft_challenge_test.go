package core

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cofferhq/coffer/internal/barrier"
	"github.com/cofferhq/coffer/internal/cluster"
	"github.com/cofferhq/coffer/internal/logical"
	"github.com/cofferhq/coffer/internal/physical/inmem"
	raftstore "github.com/cofferhq/coffer/internal/physical/raft"
	"github.com/cofferhq/coffer/internal/registry"
	"github.com/cofferhq/coffer/internal/system"
)

// fakeRaft is a one-node raft that leads and records the voters added.
type fakeRaft struct {
	id     string
	mu     sync.Mutex
	voters []raftstore.Server
	// removed are the ids RemoveServer was called with.
	removed []string
}

func (f *fakeRaft) NodeID() string                   { return f.id }
func (f *fakeRaft) IsLeader() bool                   { return true }
func (f *fakeRaft) HasState() (bool, error)          { return false, nil }
func (f *fakeRaft) Bootstrap(context.Context) error  { return nil }
func (f *fakeRaft) FixAddress(context.Context) error { return nil }
func (f *fakeRaft) AddVoter(_ context.Context, id, addr string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.voters = append(f.voters, raftstore.Server{ID: id, Address: addr, Voter: true})
	return nil
}

func (f *fakeRaft) RemoveServer(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.removed = append(f.removed, id)
	return nil
}

func (f *fakeRaft) Servers(context.Context) ([]raftstore.Server, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]raftstore.Server{{ID: f.id, Address: "127.0.0.1:8201", Leader: true, Voter: true}}, f.voters...), nil
}

func (f *fakeRaft) added() []raftstore.Server {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]raftstore.Server(nil), f.voters...)
}

type fakePort struct{ addr string }

func (p fakePort) SetKeyring(*cluster.Keyring) error { return nil }
func (p fakePort) Addr() string                      { return p.addr }

// joinLeader is an unsealed raft leader core (fake raft) and its unseal key.
func joinLeader(t *testing.T) (*Core, *fakeRaft, []byte) {
	t.Helper()
	r := &fakeRaft{id: "leader"}
	c := New(Config{Physical: inmem.New(), Engines: registry.Engines(), AuthMethods: registry.AuthMethods(),
		StorageType: "raft", Raft: r, ClusterPort: fakePort{"127.0.0.1:8201"}})
	share, _, err := c.DevInit(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Seal(context.Background()) })
	return c, r, share
}

// openChallenge opens ch as a joining node with the unseal key would.
func openChallenge(t *testing.T, share []byte, leader string, ch *cluster.Challenge) *pendingJoin {
	t.Helper()
	j, err := newPendingJoin(cluster.Leader{APIAddr: leader}, ch)
	if err != nil {
		t.Fatal(err)
	}
	if done, err := j.keys.Add(share, j.opens); err != nil || !done {
		t.Fatalf("open the pending join: %v %v", err, done)
	}
	return j
}

// callers hands each test call a caller address of its own, so that the
// per-address join rate limit does not get in the way.
var callers atomic.Int32

func nextCaller() string {
	n := callers.Add(1)
	return fmt.Sprintf("10.7.%d.%d:40000", n/250, n%250)
}

func challengeFor(t *testing.T, c *Core, id, addr string) *cluster.Challenge {
	t.Helper()
	ch, err := c.RaftChallenge(context.Background(), id, addr, nextCaller())
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

// A relay posing as the leader asks for a challenge for another node id or
// address; the joining node opens it and refuses to answer.
func TestRaftJoinRefusesRelayedChallenge(t *testing.T) {
	leader, _, share := joinLeader(t)
	var answers atomic.Int32
	relay := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		answers.Add(1)
		http.Error(w, "{}", http.StatusInternalServerError)
	}))
	defer relay.Close()
	joiner := New(Config{Physical: inmem.New(), StorageType: "raft", Raft: &fakeRaft{id: "n4"}, ClusterPort: fakePort{"10.0.0.4:8201"}})
	for _, tc := range []struct{ id, addr string }{{"evil", "10.99.99.99:8201"}, {"n4", "10.99.99.99:8201"}, {"evil", "10.0.0.4:8201"}} {
		j := openChallenge(t, share, relay.URL, challengeFor(t, leader, tc.id, tc.addr))
		start := time.Now()
		err := joiner.finishJoin(context.Background(), j)
		if err == nil || !errors.Is(err, logical.ErrInvalidRequest) || !strings.Contains(err.Error(), "refusing to answer a join challenge issued for node") {
			t.Fatalf("%v: finishJoin = %v, want a refusal", tc, err)
		}
		if time.Since(start) > 5*time.Second {
			t.Fatalf("%v: the refusal took %s", tc, time.Since(start))
		}
	}
	if n := answers.Load(); n != 0 {
		t.Fatalf("the joiner sent %d answers to the relay", n)
	}
	// Control: a challenge for this very node opens to its answer.
	j := openChallenge(t, share, relay.URL, challengeFor(t, leader, "n4", "10.0.0.4:8201"))
	if ans, err := joiner.openJoinChallenge(j); err != nil || len(ans) != 32 {
		t.Fatalf("own challenge: %d bytes, %v", len(ans), err)
	}
}

func answerOf(t *testing.T, share []byte, ch *cluster.Challenge) []byte {
	t.Helper()
	j := openChallenge(t, share, "http://unused", ch)
	raw, err := barrier.OpenWithKey(j.keys.Key(), raftChallengePath, ch.Challenge)
	if err != nil {
		t.Fatal(err)
	}
	var b boundChallenge
	if err := json.Unmarshal(raw, &b); err != nil {
		t.Fatal(err)
	}
	return b.Answer
}

// The voter added is the one the challenge was issued for, whatever the
// answer request says; an answer is good once.
func TestRaftAnswerAddsOnlyTheBoundNode(t *testing.T) {
	leader, r, share := joinLeader(t)
	ctx := context.Background()
	ch := challengeFor(t, leader, "n4", "10.0.0.4:8201")
	ans := answerOf(t, share, ch)
	for _, bad := range []system.RaftAnswer{
		{ServerID: "evil", Challenge: ch.Challenge, Answer: ans},
		{ClusterAddr: "10.99.99.99:8201", Challenge: ch.Challenge, Answer: ans},
		{ServerID: "n4", ClusterAddr: "10.99.99.99:8201", Challenge: ch.Challenge, Answer: ans},
	} {
		if _, err := leader.RaftAnswer(ctx, bad); !errors.Is(err, logical.ErrInvalidRequest) {
			t.Fatalf("%s@%s: %v, want a 400", bad.ServerID, bad.ClusterAddr, err)
		}
	}
	if v := r.added(); len(v) != 0 {
		t.Fatalf("voters added under another id/address: %+v", v)
	}
	// A fresh challenge (the one above is spent) answered with no id: the bound node is added.
	ch = challengeFor(t, leader, "n4", "10.0.0.4:8201")
	ans = answerOf(t, share, ch)
	if _, err := leader.RaftAnswer(ctx, system.RaftAnswer{Challenge: ch.Challenge, Answer: ans}); err != nil {
		t.Fatal(err)
	}
	if v := r.added(); len(v) != 1 || v[0].ID != "n4" || v[0].Address != "10.0.0.4:8201" {
		t.Fatalf("voters = %+v, want n4 at 10.0.0.4:8201", v)
	}
	_, err := leader.RaftAnswer(ctx, system.RaftAnswer{ServerID: "n4", ClusterAddr: "10.0.0.4:8201", Challenge: ch.Challenge, Answer: ans})
	if !errors.Is(err, logical.ErrInvalidRequest) || !strings.Contains(err.Error(), "already been answered") {
		t.Fatalf("replay: %v", err)
	}
	if v := r.added(); len(v) != 1 {
		t.Fatalf("replay added a voter: %+v", v)
	}
}

// doFrom is an unauthenticated request from the caller address remote.
func doFrom(c *Core, remote, path string, data map[string]any) (*logical.Response, error) {
	return c.HandleRequest(context.Background(), &logical.Request{ID: "t", Operation: logical.UpdateOperation, Path: path, Data: data, RemoteAddr: remote})
}

// Unauthenticated challenge requests (refused past the rate limit), wrong
// answers and a second challenge for the same node id neither fill
// anything nor cancel a pending join.
func TestRaftChallengeFloodDoesNotBlockJoin(t *testing.T) {
	leader, r, share := joinLeader(t)
	ch := challengeFor(t, leader, "n4", "10.0.0.4:8201")
	limited := 0
	for i := 0; i < 100; i++ {
		id := fmt.Sprintf("x%d", i)
		if i%10 == 0 {
			id = "n4" // the predictable id of the node being joined
		}
		resp, err := doFrom(leader, "192.0.2.66:1234", "sys/storage/raft/bootstrap/challenge",
			map[string]any{"server_id": id, "cluster_addr": "10.9.9.9:8201"})
		switch {
		case errors.Is(err, logical.ErrRateLimited):
			limited++
		case err != nil || resp == nil || resp.Data["challenge"] == nil:
			t.Fatalf("challenge %d: %v", i, err)
		}
	}
	if limited < 80 {
		t.Fatalf("%d of 100 challenges from one address were refused; want all past the burst", limited)
	}
	wrong := base64.StdEncoding.EncodeToString(make([]byte, 32))
	for _, body := range []map[string]any{
		{"server_id": "n4", "cluster_addr": "10.0.0.4:8201", "answer": wrong, "challenge": base64.StdEncoding.EncodeToString(ch.Challenge)},
		{"server_id": "n4", "cluster_addr": "10.0.0.4:8201", "answer": wrong, "challenge": base64.StdEncoding.EncodeToString([]byte("junk"))},
	} {
		if _, err := doFrom(leader, "192.0.2.67:1234", "sys/storage/raft/bootstrap/answer", body); err == nil {
			t.Fatal("a wrong answer was accepted")
		}
	}
	if v := r.added(); len(v) != 0 {
		t.Fatalf("voters = %+v", v)
	}
	resp, err := doFrom(leader, "10.0.0.4:5555", "sys/storage/raft/bootstrap/answer", map[string]any{
		"server_id": "n4", "cluster_addr": "10.0.0.4:8201",
		"challenge": base64.StdEncoding.EncodeToString(ch.Challenge), "answer": base64.StdEncoding.EncodeToString(answerOf(t, share, ch)),
	})
	if err != nil || resp.Data["tls_keyring"] == nil {
		t.Fatalf("the legitimate answer: %v", err)
	}
	if v := r.added(); len(v) != 1 || v[0].ID != "n4" || v[0].Address != "10.0.0.4:8201" {
		t.Fatalf("voters = %+v", v)
	}
}

// An expired challenge, a request without an address, and one for the
// leader's own node id (a retry_join naming the node itself) are refused.
func TestRaftChallengeExpiryAndAddress(t *testing.T) {
	leader, r, _ := joinLeader(t)
	ctx := context.Background()
	if _, err := leader.RaftChallenge(ctx, "leader", "10.0.0.9:8201", nextCaller()); !errors.Is(err, logical.ErrInvalidRequest) || !strings.Contains(err.Error(), "this leader itself") {
		t.Fatalf("a challenge for the leader's own id: %v", err)
	}
	for _, addr := range []string{"", "nohost", ":8201"} {
		if _, err := leader.RaftChallenge(ctx, "n4", addr, nextCaller()); !errors.Is(err, logical.ErrInvalidRequest) {
			t.Fatalf("cluster_addr %q: %v", addr, err)
		}
	}
	raw, _ := json.Marshal(boundChallenge{ServerID: "n4", ClusterAddr: "10.0.0.4:8201", Expires: time.Now().Add(-time.Second).Unix(), Answer: []byte("0123456789abcdef0123456789abcdef")})
	sealed, err := leader.barrier.SealWithUnsealKey(raftChallengePath, raw)
	if err != nil {
		t.Fatal(err)
	}
	_, err = leader.RaftAnswer(ctx, system.RaftAnswer{Challenge: sealed, Answer: []byte("0123456789abcdef0123456789abcdef")})
	if err == nil || !strings.Contains(err.Error(), "expired") || len(r.added()) != 0 {
		t.Fatalf("expired challenge: %v, voters %+v", err, r.added())
	}
}

// An unauthenticated challenge carries the sealed challenge and the seal
// configuration only: neither the keyring ciphertext nor the TLS keyring
// (ATTACK F5). The TLS keyring comes with a correct answer, sealed under
// the unseal key, and opens to the leader's.
func TestRaftChallengeLeaksNothingBeforeProof(t *testing.T) {
	leader, _, share := joinLeader(t)
	ctx := context.Background()
	resp, err := doFrom(leader, "192.0.2.10:1", "sys/storage/raft/bootstrap/challenge", map[string]any{"server_id": "n4", "cluster_addr": "10.0.0.4:8201"})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for k := range resp.Data {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if !slices.Equal(keys, []string{"challenge", "seal_config"}) {
		t.Fatalf("an unauthenticated challenge answered %v; want challenge and seal_config only", keys)
	}
	raw, _ := json.Marshal(resp.Data)
	kr, _ := leader.conf.Physical.Get(ctx, keyringPhysical)
	tlsEntry, _ := leader.barrier.Get(ctx, raftTLSKey)
	for name, secret := range map[string][]byte{"keyring ciphertext": kr.Value, "TLS keyring": tlsEntry.Value} {
		enc := base64.StdEncoding.EncodeToString(secret)
		if strings.Contains(string(raw), enc[:32]) || strings.Contains(string(raw), string(secret[:16])) {
			t.Fatalf("the challenge holds the %s", name)
		}
	}
	ch := &cluster.Challenge{Challenge: resp.Data["challenge"].([]byte), SealConfig: resp.Data["seal_config"].(json.RawMessage)}
	wrongKey := make([]byte, 32)
	if _, err := barrier.OpenWithKey(wrongKey, raftChallengePath, ch.Challenge); !errors.Is(err, barrier.ErrBadKey) {
		t.Fatalf("the challenge opened with another key: %v", err)
	}
	j := openChallenge(t, share, "http://unused", ch)
	ans, err := leader.RaftAnswer(ctx, system.RaftAnswer{Challenge: ch.Challenge, Answer: answerOf(t, share, ch), RemoteAddr: "10.0.0.4:1"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := barrier.OpenWithKey(j.keys.Key(), raftTLSKey, ans.TLSKeyring)
	if err != nil || string(got) != string(tlsEntry.Value) {
		t.Fatalf("the answer's TLS keyring does not open to the leader's: %v", err)
	}
}
