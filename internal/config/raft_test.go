package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

const raftListener = "listener \"tcp\" {\n  tls_disable = true\n}\n"

func TestParseRaftStorage(t *testing.T) {
	t.Parallel()
	src := `storage "raft" {
  path                   = "/var/lib/coffer"
  node_id                = "node-1"
  performance_multiplier = 1
  trailing_logs          = 500
  snapshot_threshold     = 1000
  snapshot_interval      = "30s"
  max_snapshot_size      = 104857600
}
` + raftListener
	s, err := Parse([]byte(src), "config.hcl")
	if err != nil {
		t.Fatal(err)
	}
	want := RaftStorage{NodeID: "node-1", PerformanceMultiplier: 1, TrailingLogs: 500, SnapshotThreshold: 1000, SnapshotInterval: 30 * time.Second, MaxSnapshotSize: 100 << 20}
	if s.Storage.Type != StorageRaft || s.Storage.Path != "/var/lib/coffer" || !reflect.DeepEqual(s.Storage.Raft, want) {
		t.Fatalf("storage = %+v", s.Storage)
	}
	s, err = Parse([]byte("storage \"raft\" {\n  path = \"/d\"\n}\n"+raftListener), "config.hcl")
	if err != nil || !reflect.DeepEqual(s.Storage.Raft, RaftStorage{}) {
		t.Fatalf("defaults: %+v, %v; want zero settings (the backend's defaults)", s.Storage.Raft, err)
	}
}

func TestParseRaftStorageErrors(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		body string
		kind error
		want string
	}{
		"no path":              {``, ErrMissing, `config.hcl:1: storage "raft" needs path`},
		"multiplier 0":         {"path = \"/d\"\nperformance_multiplier = 0", ErrInvalidValue, "config.hcl:3: performance_multiplier must be between 1 and 10, not 0"},
		"multiplier 11":        {"path = \"/d\"\nperformance_multiplier = 11", ErrInvalidValue, "between 1 and 10, not 11"},
		"trailing logs":        {"path = \"/d\"\ntrailing_logs = -1", ErrInvalidValue, "trailing_logs must be positive"},
		"threshold":            {"path = \"/d\"\nsnapshot_threshold = 0", ErrInvalidValue, "snapshot_threshold must be positive"},
		"snapshot size 0":      {"path = \"/d\"\nmax_snapshot_size = 0", ErrInvalidValue, "max_snapshot_size must be a positive number of bytes"},
		"bad interval":         {"path = \"/d\"\nsnapshot_interval = \"often\"", ErrInvalidValue, `"snapshot_interval" must be a duration`},
		"retry_join no addr":   {"path = \"/d\"\nretry_join {\n  leader_tls_servername = \"a\"\n}", ErrMissing, "retry_join needs leader_api_addr"},
		"retry_join bad addr":  {"path = \"/d\"\nretry_join {\n  leader_api_addr = \"a:8200\"\n}", ErrInvalidValue, "must be a URL"},
		"retry_join value":     {"path = \"/d\"\nretry_join = \"x\"", ErrInvalidValue, "retry_join must be a block"},
		"retry_join cert only": {"path = \"/d\"\nretry_join {\n  leader_api_addr = \"https://a:8200\"\n  leader_client_cert_file = \"/nonexistent\"\n}", ErrInvalidValue, "cannot read"},
		"retry_join unknown":   {"path = \"/d\"\nretry_join {\n  leader_api_addr = \"https://a:8200\"\n  auto_join = \"x\"\n}", ErrUnknownKey, "auto_join"},
		"unknown key":          {"path = \"/d\"\nha_enabled = true", ErrUnknownKey, `unknown key "ha_enabled" in storage "raft"`},
		"node_id number":       {"path = \"/d\"\nnode_id = [1]", ErrInvalidValue, "node_id"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := Parse([]byte("storage \"raft\" {\n"+tc.body+"\n}\n"+raftListener), "config.hcl")
			if !errors.Is(err, tc.kind) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v; want kind %v containing %q", err, tc.kind, tc.want)
			}
		})
	}
}

func TestParseRaftRetryJoinAndClusterAddr(t *testing.T) {
	t.Parallel()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, []byte("PEM"), 0o600); err != nil {
		t.Fatal(err)
	}
	src := `cluster_addr = "https://node2:8201"
storage "raft" {
  path = "/d"
  retry_join {
    leader_api_addr     = "https://node1:8200"
    leader_ca_cert_file = "` + ca + `"
  }
  retry_join {
    leader_api_addr       = "http://node3:8200"
    leader_tls_servername = "coffer"
  }
}
listener "tcp" {
  address         = "127.0.0.1:8200"
  cluster_address = "127.0.0.1:8201"
  tls_disable     = true
}
`
	s, err := Parse([]byte(src), "config.hcl")
	if err != nil {
		t.Fatal(err)
	}
	j := s.Storage.Raft.RetryJoin
	if len(j) != 2 || j[0].LeaderAPIAddr != "https://node1:8200" || j[0].LeaderCACert != "PEM" ||
		j[1].LeaderAPIAddr != "http://node3:8200" || j[1].LeaderTLSServerName != "coffer" {
		t.Fatalf("retry_join = %+v", j)
	}
	if s.ClusterAddr != "https://node2:8201" || s.Listeners[0].ClusterAddress != "127.0.0.1:8201" {
		t.Fatalf("cluster_addr %q, cluster_address %q", s.ClusterAddr, s.Listeners[0].ClusterAddress)
	}
}
