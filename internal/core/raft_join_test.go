package core

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cofferhq/coffer/internal/cluster"
	"github.com/cofferhq/coffer/internal/logical"
	"github.com/cofferhq/coffer/internal/physical/inmem"
	"github.com/cofferhq/coffer/internal/system"
)

// challengeServer answers join challenges as leader does.
func challengeServer(t *testing.T, leader *Core) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			ServerID    string `json:"server_id"`
			ClusterAddr string `json:"cluster_addr"`
		}
		_ = json.NewDecoder(r.Body).Decode(&in)
		ch, err := leader.RaftChallenge(r.Context(), in.ServerID, in.ClusterAddr, nextCaller())
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"data": ch})
	}))
	t.Cleanup(s.Close)
	return s
}

// impostor answers with a random challenge and the seal configuration
// sealConfig, and counts the requests it got.
func impostor(t *testing.T, sealConfig json.RawMessage, n *atomic.Int32) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		n.Add(1)
		if sealConfig == nil {
			w.WriteHeader(http.StatusForbidden)
			_, _ = w.Write([]byte(`{"errors":["REFLECTED-BODY"]}`))
			return
		}
		junk := make([]byte, 64)
		_, _ = rand.Read(junk)
		_ = json.NewEncoder(w).Encode(map[string]any{"data": cluster.Challenge{Challenge: junk, SealConfig: sealConfig}})
	}))
	t.Cleanup(s.Close)
	return s
}

func newJoiner(t *testing.T) *Core {
	t.Helper()
	c := New(Config{Physical: inmem.New(), StorageType: "raft", Raft: &fakeRaft{id: "n4"}, ClusterPort: fakePort{"10.0.0.4:8201"}})
	t.Cleanup(func() { c.stopJoins() })
	return c
}

func pendingLeader(c *Core) string {
	if j := c.clustering.join.Load(); j != nil {
		return j.leader.APIAddr
	}
	return ""
}

// An outsider's unauthenticated join to its own address (ATTACK10 F2)
// never holds the node: the operator's later join replaces it, and the
// cluster's shares on the impostor's challenge drop it with a message
// that says so, after which the operator joins the real leader.
func TestRaftJoinHijackRecovers(t *testing.T) {
	leader, _, share := joinLeader(t)
	cfg, err := leader.conf.Physical.Get(context.Background(), sealConfigPhysical)
	if err != nil || cfg == nil {
		t.Fatal(err)
	}
	real := challengeServer(t, leader)
	var hits atomic.Int32
	evil := impostor(t, cfg.Value, &hits)
	ctx := context.Background()
	joiner := newJoiner(t)

	// The latest join wins.
	if ok, err := joiner.RaftJoin(ctx, []cluster.Leader{{APIAddr: evil.URL}}, false); !ok || err != nil {
		t.Fatalf("join the impostor: %v %v", ok, err)
	}
	if ok, err := joiner.RaftJoin(ctx, []cluster.Leader{{APIAddr: real.URL}}, false); !ok || err != nil {
		t.Fatalf("join the leader: %v %v", ok, err)
	}
	if got := pendingLeader(joiner); got != real.URL {
		t.Fatalf("pending join with %q after the operator's join; want %q", got, real.URL)
	}

	// Taken again; the cluster's share does not open the impostor's
	// challenge: the join is dropped, with a message naming the cause.
	if ok, err := joiner.RaftJoin(ctx, []cluster.Leader{{APIAddr: evil.URL}}, false); !ok || err != nil {
		t.Fatalf("join the impostor again: %v %v", ok, err)
	}
	_, err = joiner.Unseal(ctx, share, false)
	if !errors.Is(err, logical.ErrInvalidRequest) || !strings.Contains(err.Error(), "do not open the join challenge of the leader at "+evil.URL) {
		t.Fatalf("unseal on the impostor's challenge: %v", err)
	}
	if got := pendingLeader(joiner); got != "" {
		t.Fatalf("the join with %q is still pending after the shares failed", got)
	}
	if st, err := joiner.SealStatus(ctx); err != nil || st.Initialized || st.Progress != 0 {
		t.Fatalf("seal status after the dropped join: %+v %v", st, err)
	}
	if ok, err := joiner.RaftJoin(ctx, []cluster.Leader{{APIAddr: real.URL}}, false); !ok || err != nil || pendingLeader(joiner) != real.URL {
		t.Fatalf("join the leader after the drop: %v %v, pending %q", ok, err, pendingLeader(joiner))
	}
}

// Repeated unauthenticated joins with retry run one loop, which backs off
// (ATTACK10 F3); a failed join tells the caller nothing the target said;
// leader_api_addr cannot choose a path.
func TestRaftJoinOneLoopNoEcho(t *testing.T) {
	var hits atomic.Int32
	target := impostor(t, nil, &hits)
	ctx := context.Background()
	joiner := newJoiner(t)
	for range 50 {
		if ok, err := joiner.RaftJoin(ctx, []cluster.Leader{{APIAddr: target.URL}}, true); !ok || err != nil {
			t.Fatalf("join -retry: %v %v", ok, err)
		}
	}
	time.Sleep(500 * time.Millisecond)
	hits.Store(0)
	time.Sleep(5 * time.Second)
	if n := hits.Load(); n > 3 {
		t.Fatalf("%d requests in 5 s after 50 join -retry calls; want one loop (≤ 3)", n)
	}

	_, err := joiner.RaftJoin(ctx, []cluster.Leader{{APIAddr: target.URL}}, false)
	if err == nil || !errors.Is(err, logical.ErrInvalidRequest) || !strings.Contains(err.Error(), "did not answer as a Coffer leader") {
		t.Fatalf("join a non-leader: %v", err)
	}
	for _, leak := range []string{"REFLECTED", "403", "Forbidden"} {
		if strings.Contains(err.Error(), leak) {
			t.Fatalf("the join error echoes what the target answered (%q): %v", leak, err)
		}
	}

	hits.Store(0)
	for _, addr := range []string{target.URL + "/v1/other?", target.URL + "/x", target.URL + "#frag", target.URL + "?q=1",
		strings.Replace(target.URL, "http://", "http://user:pw@", 1), strings.TrimPrefix(target.URL, "http://"), "ftp://example.com"} {
		_, err := joiner.RaftJoin(ctx, []cluster.Leader{{APIAddr: addr}}, false)
		if !errors.Is(err, logical.ErrInvalidRequest) || !strings.Contains(err.Error(), "must be http(s)://host[:port]") {
			t.Fatalf("leader_api_addr %q: %v", addr, err)
		}
	}
	if n := hits.Load(); n != 0 {
		t.Fatalf("%d requests sent to refused addresses", n)
	}
}

// A joiner holding the unseal key cannot take a member's node id at
// another address, or a member's address under another id (ATTACK10 F5);
// the same id at the same address joins again as before.
func TestRaftAnswerRefusesTakenIDOrAddress(t *testing.T) {
	leader, r, share := joinLeader(t)
	ctx := context.Background()
	_ = r.AddVoter(ctx, "n1", "10.0.0.1:8201")
	for _, tc := range []struct{ id, addr, want string }{
		{"n1", "10.0.0.9:8201", `node id "n1" is already a member at 10.0.0.1:8201; remove that peer first`},
		{"n9", "10.0.0.1:8201", `cluster address 10.0.0.1:8201 already belongs to member "n1"; remove that peer first`},
		{"n9", "127.0.0.1:8201", `already belongs to member "leader"`},
	} {
		ch := challengeFor(t, leader, tc.id, tc.addr)
		_, err := leader.RaftAnswer(ctx, system.RaftAnswer{Challenge: ch.Challenge, Answer: answerOf(t, share, ch)})
		if !errors.Is(err, logical.ErrInvalidRequest) || !strings.Contains(err.Error(), tc.want) {
			t.Fatalf("%s at %s: %v, want %q", tc.id, tc.addr, err, tc.want)
		}
	}
	if v := r.added(); len(v) != 1 {
		t.Fatalf("members added: %+v, want only n1", v)
	}
	ch := challengeFor(t, leader, "n1", "10.0.0.1:8201")
	if _, err := leader.RaftAnswer(ctx, system.RaftAnswer{Challenge: ch.Challenge, Answer: answerOf(t, share, ch)}); err != nil {
		t.Fatalf("n1 joining again at its own address: %v", err)
	}
}

// remove-peer of an id that is no member is a 400 and changes nothing
// (ATTACK10 F6).
func TestRaftRemovePeerUnknown(t *testing.T) {
	leader, r, _ := joinLeader(t)
	_ = r.AddVoter(context.Background(), "n1", "10.0.0.1:8201")
	err := leader.RaftRemovePeer(context.Background(), "nosuch")
	if !errors.Is(err, logical.ErrInvalidRequest) || !strings.Contains(err.Error(), "no raft peer with server_id nosuch") {
		t.Fatalf("remove nosuch: %v", err)
	}
	if err := leader.RaftRemovePeer(context.Background(), "n1"); err != nil {
		t.Fatal(err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.removed) != 1 || r.removed[0] != "n1" {
		t.Fatalf("RemoveServer calls: %v, want [n1]", r.removed)
	}
}
