package config

import (
	"fmt"
	"net/url"
	"strings"
)

// Environment variables that override settings of the file, as in Vault:
// each COFFER_ name wins over its VAULT_ alias, and either wins over the
// file. They let one file serve every replica of a StatefulSet, each pod
// passing its own name (the Helm chart sets them from the pod's name).
const (
	EnvAPIAddr     = "COFFER_API_ADDR"
	EnvClusterAddr = "COFFER_CLUSTER_ADDR"
	EnvRaftNodeID  = "COFFER_RAFT_NODE_ID"
)

// envOverrides lists each overridable setting: its variables in order of
// precedence, the key it replaces, and where it goes.
func envOverrides(s *Server) []struct {
	names []string
	key   string
	dst   *string
} {
	return []struct {
		names []string
		key   string
		dst   *string
	}{
		{[]string{EnvAPIAddr, "VAULT_API_ADDR"}, "api_addr", &s.APIAddr},
		{[]string{EnvClusterAddr, "VAULT_CLUSTER_ADDR"}, "cluster_addr", &s.ClusterAddr},
		{[]string{EnvRaftNodeID, "VAULT_RAFT_NODE_ID"}, `storage "raft" node_id`, &s.Storage.Raft.NodeID},
	}
}

// ApplyEnv overrides api_addr, cluster_addr and the raft node_id with
// COFFER_API_ADDR, COFFER_CLUSTER_ADDR and COFFER_RAFT_NODE_ID (or their
// VAULT_ aliases) when getenv returns a non-blank value for them; the
// node id only matters with storage "raft". The values are whole
// settings: nothing inside the file is expanded. A value that the file
// could not hold either (api_addr that is not an http(s) URL) is an
// *Error naming the variable. ApplyEnv is not safe for concurrent use
// with readers of s.
func (s *Server) ApplyEnv(getenv func(string) string) error {
	for _, o := range envOverrides(s) {
		var name, v string
		for _, n := range o.names {
			if v = strings.TrimSpace(getenv(n)); v != "" {
				name = n
				break
			}
		}
		if v == "" {
			continue
		}
		if err := checkEnvValue(o.key, v); err != nil {
			return &Error{File: "$" + name, Kind: ErrInvalidValue, Msg: err.Error()}
		}
		*o.dst = v
	}
	return nil
}

// checkEnvValue checks what the file's parser checks for the same key:
// only api_addr has a shape to check there.
func checkEnvValue(key, v string) error {
	if key != "api_addr" {
		return nil
	}
	if u, err := url.Parse(v); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("api_addr %q must be a URL such as https://coffer-server-0.coffer-internal:8200", v)
	}
	return nil
}
