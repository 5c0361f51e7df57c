package system

import (
	"context"
	"encoding/base64"

	"github.com/cofferhq/coffer/internal/cluster"
	"github.com/cofferhq/coffer/internal/framework"
	"github.com/cofferhq/coffer/internal/logical"
)

// RaftServer is one member as sys/storage/raft/configuration lists it.
type RaftServer struct {
	NodeID          string `json:"node_id"`
	Address         string `json:"address"`
	Leader          bool   `json:"leader"`
	Voter           bool   `json:"voter"`
	ProtocolVersion string `json:"protocol_version"`
}

// RaftAnswer is a joining node's answer: the sealed challenge it was given
// and the answer it opened. ServerID and ClusterAddr, if given, must be
// the ones the challenge was issued for.
type RaftAnswer struct {
	ServerID, ClusterAddr string
	Challenge, Answer     []byte
	// RemoteAddr is the caller's address, for rate limiting.
	RemoteAddr string
}

// Raft is integrated storage's membership. The core answers every method
// with a logical.ErrInvalidRequest error when the server does not run
// storage "raft" with a cluster address.
type Raft interface {
	// RaftJoin makes this uninitialised node ask leaders, in order, for a
	// join challenge; with retry it keeps asking in the background and
	// returns at once. The join completes when the node is unsealed with
	// the cluster's key.
	RaftJoin(ctx context.Context, leaders []cluster.Leader, retry bool) (joined bool, err error)
	// RaftChallenge and RaftAnswer are the leader's half of a join; the
	// leader keeps no state between them (the answer carries the challenge).
	// remote (the caller's address) is rate-limited; past the limit the
	// error is a logical.ErrRateLimited one.
	RaftChallenge(ctx context.Context, serverID, clusterAddr, remote string) (*cluster.Challenge, error)
	RaftAnswer(ctx context.Context, a RaftAnswer) (*cluster.Answered, error)
	RaftConfiguration(ctx context.Context) ([]RaftServer, error)
	RaftRemovePeer(ctx context.Context, serverID string) error
}

// RaftPreAuthPaths are served while sealed and without a token: a node
// that has not joined yet has neither. Relative to "sys/".
var RaftPreAuthPaths = []string{"storage/raft/join"}

// RaftUnsealedPreAuthPaths are served without a token, but only on an
// unsealed member: the joining node proves itself with the answer, not a
// token. Relative to "sys/".
var RaftUnsealedPreAuthPaths = []string{"storage/raft/bootstrap/challenge", "storage/raft/bootstrap/answer"}

// raftSudoPaths need sudo: removing a member can cost the quorum.
var raftSudoPaths = []string{"storage/raft/remove-peer"}

func (b *backend) raftPaths() []*framework.Path {
	r, ok := b.core.(Raft)
	if !ok {
		return nil
	}
	str := func() *framework.FieldSchema { return &framework.FieldSchema{Type: framework.TypeString} }
	return []*framework.Path{
		{
			Pattern: "storage/raft/join",
			Fields: map[string]*framework.FieldSchema{
				"leader_api_addr": str(), "leader_ca_cert": str(), "leader_client_cert": str(), "leader_client_key": str(),
				"leader_tls_servername": str(), "retry": {Type: framework.TypeBool}, "non_voter": {Type: framework.TypeBool},
				"auto_join": str(), "auto_join_scheme": str(), "auto_join_port": {Type: framework.TypeInt},
			},
			Operations: map[logical.Operation]framework.OperationFunc{logical.UpdateOperation: raftJoin(r)},
			Help:       "Join this uninitialised node to the cluster of leader_api_addr; unseal it afterwards with the cluster's keys.",
		},
		{
			Pattern:    "storage/raft/bootstrap/challenge",
			Fields:     map[string]*framework.FieldSchema{"server_id": str(), "cluster_addr": str()},
			Operations: map[logical.Operation]framework.OperationFunc{logical.UpdateOperation: raftChallenge(r)},
		},
		{
			Pattern: "storage/raft/bootstrap/answer",
			Fields: map[string]*framework.FieldSchema{
				"server_id": str(), "cluster_addr": str(), "answer": str(), "challenge": str(),
				"non_voter": {Type: framework.TypeBool}, "sdk_version": str(), "upgrade_version": str(),
			},
			Operations: map[logical.Operation]framework.OperationFunc{logical.UpdateOperation: raftAnswer(r)},
		},
		{
			Pattern:    "storage/raft/configuration",
			Operations: map[logical.Operation]framework.OperationFunc{logical.ReadOperation: raftConfiguration(r)},
			Help:       "The cluster's raft members.",
		},
		{
			Pattern:    "storage/raft/remove-peer",
			Fields:     map[string]*framework.FieldSchema{"server_id": str(), "dr_operation_token": str()},
			Operations: map[logical.Operation]framework.OperationFunc{logical.UpdateOperation: raftRemovePeer(r)},
			Help:       "Remove a member from the raft cluster.",
		},
	}
}

func raftJoin(r Raft) framework.OperationFunc {
	return func(ctx context.Context, _ *logical.Request, d *framework.FieldData) (*logical.Response, error) {
		if d.String("auto_join") != "" {
			return nil, logical.InvalidRequest("auto_join (cloud discovery) is not supported; give leader_api_addr")
		}
		if d.Bool("non_voter") {
			return nil, logical.InvalidRequest("non-voting members are not supported")
		}
		addr := d.String("leader_api_addr")
		if addr == "" {
			return nil, logical.InvalidRequest("leader_api_addr is required")
		}
		l := cluster.Leader{APIAddr: addr, CACert: d.String("leader_ca_cert"), ClientCert: d.String("leader_client_cert"),
			ClientKey: d.String("leader_client_key"), ServerName: d.String("leader_tls_servername")}
		joined, err := r.RaftJoin(ctx, []cluster.Leader{l}, d.Bool("retry"))
		if err != nil {
			return nil, err
		}
		return &logical.Response{Data: map[string]any{"joined": joined}}, nil
	}
}

func raftChallenge(r Raft) framework.OperationFunc {
	return func(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
		ch, err := r.RaftChallenge(ctx, d.String("server_id"), d.String("cluster_addr"), req.RemoteAddr)
		if err != nil {
			return nil, err
		}
		return &logical.Response{Data: map[string]any{"challenge": ch.Challenge, "seal_config": ch.SealConfig}}, nil
	}
}

func raftAnswer(r Raft) framework.OperationFunc {
	return func(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
		if d.Bool("non_voter") {
			return nil, logical.InvalidRequest("non-voting members are not supported")
		}
		answer, err := base64.StdEncoding.DecodeString(d.String("answer"))
		if err != nil || len(answer) == 0 {
			return nil, logical.InvalidRequest("answer must be the base64 of the opened challenge")
		}
		challenge, err := base64.StdEncoding.DecodeString(d.String("challenge"))
		if err != nil || len(challenge) == 0 {
			return nil, logical.InvalidRequest("challenge must be the base64 of the sealed challenge the answer opens")
		}
		a, err := r.RaftAnswer(ctx, RaftAnswer{ServerID: d.String("server_id"), ClusterAddr: d.String("cluster_addr"), Challenge: challenge, Answer: answer, RemoteAddr: req.RemoteAddr})
		if err != nil {
			return nil, err
		}
		return &logical.Response{Data: map[string]any{"peers": a.Peers, "tls_keyring": a.TLSKeyring}}, nil
	}
}

func raftConfiguration(r Raft) framework.OperationFunc {
	return func(ctx context.Context, _ *logical.Request, _ *framework.FieldData) (*logical.Response, error) {
		servers, err := r.RaftConfiguration(ctx)
		if err != nil {
			return nil, err
		}
		return &logical.Response{Data: map[string]any{"config": map[string]any{"servers": servers, "index": 0}}}, nil
	}
}

func raftRemovePeer(r Raft) framework.OperationFunc {
	return func(ctx context.Context, _ *logical.Request, d *framework.FieldData) (*logical.Response, error) {
		id := d.String("server_id")
		if id == "" {
			return nil, logical.InvalidRequest("server_id is required")
		}
		return nil, r.RaftRemovePeer(ctx, id)
	}
}
