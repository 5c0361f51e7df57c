package cli

import (
	"testing"

	"github.com/cofferhq/coffer/internal/config"
)

// TestRaftNodeConfig: the bench's node configuration is one the server
// accepts, with performance_multiplier only when asked for (unset is the
// default timing the failover figure is about) and retry_join only on the
// nodes that join.
func TestRaftNodeConfig(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		join string
		mult int
	}{
		"first node, default timing": {},
		"joining node, multiplier 1": {join: "http://127.0.0.1:22004", mult: 1},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			src := raftNodeConfig("/tmp/b/node2", "node2", "127.0.0.1:22006", "127.0.0.1:22007", tc.join, "/tmp/b/seal.key", tc.mult)
			conf, err := config.Parse([]byte(src), "coffer.hcl")
			if err != nil {
				t.Fatalf("%v\n%s", err, src)
			}
			r := conf.Storage.Raft
			if conf.Storage.Type != config.StorageRaft || r.NodeID != "node2" || r.PerformanceMultiplier != tc.mult {
				t.Fatalf("storage %q node %q multiplier %d; want raft, node2, %d", conf.Storage.Type, r.NodeID, r.PerformanceMultiplier, tc.mult)
			}
			if got := len(r.RetryJoin); (tc.join != "") != (got == 1) || got > 1 || (got == 1 && r.RetryJoin[0].LeaderAPIAddr != tc.join) {
				t.Fatalf("retry_join %+v; want %q", r.RetryJoin, tc.join)
			}
		})
	}
}
