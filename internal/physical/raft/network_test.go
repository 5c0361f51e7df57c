package raft

import (
	"context"
	"fmt"
	"testing"
	"time"

	clusterport "github.com/cofferhq/coffer/internal/cluster"
)

// TestClusterOverTheClusterPort runs three nodes over raft's network
// transport on the cluster port (mutual TLS, internal/cluster), the way
// servers run: the first bootstraps, the others are added as voters once
// they have the keyring; a write reaches every node, and the membership
// reads back with each address.
func TestClusterOverTheClusterPort(t *testing.T) {
	k, err := clusterport.NewKeyring()
	if err != nil {
		t.Fatal(err)
	}
	var nodes []*Backend
	for i := range 3 {
		l, err := clusterport.Listen("127.0.0.1:0", "", nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = l.Close() })
		if err := l.SetKeyring(k); err != nil {
			t.Fatal(err)
		}
		b, err := Open(Config{Path: t.TempDir(), NodeID: fmt.Sprintf("n%d", i), Stream: l.RaftStream(), NoBootstrap: true,
			PerformanceMultiplier: 1, baseTimeout: 500 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = b.Close() })
		if b.Addr() != l.Addr() {
			t.Fatalf("raft address %q, cluster port %q", b.Addr(), l.Addr())
		}
		if has, err := b.HasState(); err != nil || has {
			t.Fatalf("new node has state: %v %v", has, err)
		}
		nodes = append(nodes, b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	if err := nodes[0].Bootstrap(ctx); err != nil {
		t.Fatal(err)
	}
	eventually(t, "n0 leads", nodes[0].IsLeader)
	for _, b := range nodes[1:] {
		if err := nodes[0].AddVoter(ctx, b.NodeID(), b.Addr()); err != nil {
			t.Fatal(err)
		}
	}
	c := &cluster{t: t, nodes: nodes, down: map[int]bool{}}
	c.write("k", "v")
	c.converged(map[string]string{"k": "v"})
	servers, err := nodes[2].Servers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(servers) != 3 {
		t.Fatalf("servers = %+v", servers)
	}
	for i, s := range servers {
		if s.ID != nodes[i].NodeID() || s.Address != nodes[i].Addr() || !s.Voter || s.Leader != (i == 0) {
			t.Errorf("server %d = %+v", i, s)
		}
	}
	if err := nodes[0].RemoveServer(ctx, "n2"); err != nil {
		t.Fatal(err)
	}
	if servers, _ := nodes[0].Servers(ctx); len(servers) != 2 {
		t.Fatalf("after remove: %+v", servers)
	}
}
