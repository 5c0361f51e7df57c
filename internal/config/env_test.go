package config

import (
	"errors"
	"strings"
	"testing"
)

func TestApplyEnv(t *testing.T) {
	t.Parallel()
	const file = `storage "raft" {
  path    = "/coffer/data/raft"
  node_id = "from-file"
}
listener "tcp" {
  tls_disable     = true
  cluster_address = "[::]:8201"
}
api_addr     = "https://file:8200"
cluster_addr = "https://file:8201"
`
	for name, tc := range map[string]struct {
		env                  map[string]string
		api, cluster, nodeID string
		wantErr              string
	}{
		"none: the file's": {nil, "https://file:8200", "https://file:8201", "from-file", ""},
		"coffer names": {map[string]string{
			EnvAPIAddr: "https://coffer-server-1.coffer-internal:8200", EnvClusterAddr: "https://coffer-server-1.coffer-internal:8201",
			EnvRaftNodeID: "coffer-server-1",
		}, "https://coffer-server-1.coffer-internal:8200", "https://coffer-server-1.coffer-internal:8201", "coffer-server-1", ""},
		"vault aliases": {map[string]string{"VAULT_API_ADDR": "http://v:8200", "VAULT_CLUSTER_ADDR": "v:8201", "VAULT_RAFT_NODE_ID": "v"},
			"http://v:8200", "v:8201", "v", ""},
		"coffer wins over vault": {map[string]string{EnvRaftNodeID: "c", "VAULT_RAFT_NODE_ID": "v"}, "https://file:8200", "https://file:8201", "c", ""},
		"blank is unset":         {map[string]string{EnvRaftNodeID: "  ", "VAULT_RAFT_NODE_ID": "v"}, "https://file:8200", "https://file:8201", "v", ""},
		"api_addr not a URL":     {map[string]string{EnvAPIAddr: "coffer-server-0:8200"}, "", "", "", "$COFFER_API_ADDR: api_addr \"coffer-server-0:8200\" must be a URL"},
		"alias named in error":   {map[string]string{"VAULT_API_ADDR": "ftp://x"}, "", "", "", "$VAULT_API_ADDR: api_addr"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s, err := Parse([]byte(file), "coffer.hcl")
			if err != nil {
				t.Fatal(err)
			}
			err = s.ApplyEnv(func(k string) string { return tc.env[k] })
			if tc.wantErr != "" {
				if err == nil || !errors.Is(err, ErrInvalidValue) || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want ErrInvalidValue containing %q", err, tc.wantErr)
				}
				if s.APIAddr != "https://file:8200" {
					t.Errorf("api_addr = %q after a refused override", s.APIAddr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if s.APIAddr != tc.api || s.ClusterAddr != tc.cluster || s.Storage.Raft.NodeID != tc.nodeID {
				t.Errorf("api_addr %q cluster_addr %q node_id %q; want %q %q %q",
					s.APIAddr, s.ClusterAddr, s.Storage.Raft.NodeID, tc.api, tc.cluster, tc.nodeID)
			}
		})
	}
}
