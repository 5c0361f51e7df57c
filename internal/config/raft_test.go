package config

import (
	"errors"
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
}
` + raftListener
	s, err := Parse([]byte(src), "config.hcl")
	if err != nil {
		t.Fatal(err)
	}
	want := RaftStorage{NodeID: "node-1", PerformanceMultiplier: 1, TrailingLogs: 500, SnapshotThreshold: 1000, SnapshotInterval: 30 * time.Second}
	if s.Storage.Type != StorageRaft || s.Storage.Path != "/var/lib/coffer" || s.Storage.Raft != want {
		t.Fatalf("storage = %+v", s.Storage)
	}
	s, err = Parse([]byte("storage \"raft\" {\n  path = \"/d\"\n}\n"+raftListener), "config.hcl")
	if err != nil || s.Storage.Raft != (RaftStorage{}) {
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
		"no path":        {``, ErrMissing, `config.hcl:1: storage "raft" needs path`},
		"multiplier 0":   {"path = \"/d\"\nperformance_multiplier = 0", ErrInvalidValue, "config.hcl:3: performance_multiplier must be between 1 and 10, not 0"},
		"multiplier 11":  {"path = \"/d\"\nperformance_multiplier = 11", ErrInvalidValue, "between 1 and 10, not 11"},
		"trailing logs":  {"path = \"/d\"\ntrailing_logs = -1", ErrInvalidValue, "trailing_logs must be positive"},
		"threshold":      {"path = \"/d\"\nsnapshot_threshold = 0", ErrInvalidValue, "snapshot_threshold must be positive"},
		"bad interval":   {"path = \"/d\"\nsnapshot_interval = \"often\"", ErrInvalidValue, `"snapshot_interval" must be a duration`},
		"retry_join":     {"path = \"/d\"\nretry_join {\n  leader_api_addr = \"https://a:8200\"\n}", ErrInvalidValue, "retry_join is not supported yet"},
		"unknown key":    {"path = \"/d\"\nha_enabled = true", ErrUnknownKey, `unknown key "ha_enabled" in storage "raft"`},
		"node_id number": {"path = \"/d\"\nnode_id = [1]", ErrInvalidValue, "node_id"},
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
