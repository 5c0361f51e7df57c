// Package cluster is the network between Coffer nodes: one TCP port (the
// cluster port, Vault's cluster_address, by default the API port + 1) that
// speaks only mutual TLS, with the protocol of each connection chosen by
// ALPN: raft's RPCs (ProtoRaft) and, for the active/standby layer, request
// forwarding (ProtoForward).
//
// The certificate is the cluster's own: a Keyring made once at init (an
// ECDSA P-256 key and a self-signed certificate that every member presents,
// as a server and as a client), kept in the barrier and handed to a joining
// node only after it has proved it holds the unseal key. No operator ever
// handles it. A peer whose certificate is not the cluster's is refused in
// the handshake, both ways.
//
// Until a Layer is given its Keyring (SetKeyring, after unseal or join),
// every handshake fails and Dial refuses: a sealed node takes part in
// nothing. The package is not the join protocol nor the forwarding itself;
// the core builds those on top.
package cluster
