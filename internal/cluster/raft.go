package cluster

import (
	"context"
	"net"
	"time"

	hraft "github.com/hashicorp/raft"
)

// RaftStream returns hashicorp/raft's StreamLayer over the cluster port:
// raft.NewNetworkTransport on it carries raft's RPCs as ProtoRaft. Its
// Addr is the advertised cluster address, which is what raft records as
// this node's address in the cluster configuration.
func (l *Layer) RaftStream() hraft.StreamLayer {
	return &raftStream{Listener: l.Listen(ProtoRaft), layer: l}
}

type raftStream struct {
	net.Listener
	layer *Layer
}

var _ hraft.StreamLayer = (*raftStream)(nil)

func (s *raftStream) Dial(addr hraft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return s.layer.Dial(ctx, string(addr), ProtoRaft)
}
