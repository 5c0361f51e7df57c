package cli

import (
	"strings"
	"testing"

	"github.com/cofferhq/coffer/internal/config"
)

func TestClusterAddrs(t *testing.T) {
	t.Parallel()
	raft := func(clusterAddr, listenerCluster string, join bool) *config.Server {
		s := &config.Server{ClusterAddr: clusterAddr, Storage: config.Storage{Type: config.StorageRaft},
			Listeners: []config.Listener{{Address: "127.0.0.1:8200", ClusterAddress: listenerCluster}}}
		if join {
			s.Storage.Raft.RetryJoin = []config.RetryJoin{{LeaderAPIAddr: "https://a:8200"}}
		}
		return s
	}
	pg := func(clusterAddr string, ha bool) *config.Server {
		return &config.Server{ClusterAddr: clusterAddr, Storage: config.Storage{Type: config.StoragePostgres, HAEnabled: ha},
			Listeners: []config.Listener{{Address: "127.0.0.1:8200"}}}
	}
	cases := map[string]struct {
		cfg               *config.Server
		listen, advertise string
		err               string
	}{
		"none: single node":      {cfg: raft("", "", false)},
		"cluster_addr as URL":    {cfg: raft("https://node1:8201", "", false), listen: "127.0.0.1:8201", advertise: "node1:8201"},
		"listener only":          {cfg: raft("", "127.0.0.1:9301", false), listen: "127.0.0.1:9301", advertise: "127.0.0.1:9301"},
		"both":                   {cfg: raft("node1:9301", "0.0.0.0:9301", false), listen: "0.0.0.0:9301", advertise: "node1:9301"},
		"every interface alone":  {cfg: raft("", "0.0.0.0:8201", false), err: "set cluster_addr"},
		"retry_join without one": {cfg: raft("", "", true), err: "retry_join needs a cluster port"},
		"not raft":               {cfg: &config.Server{ClusterAddr: "x:1", Storage: config.Storage{Type: config.StorageFile}}},
		"postgresql without ha":  {cfg: pg("node1:8201", false)},
		"postgresql ha":          {cfg: pg("https://node1:8201", true), listen: "127.0.0.1:8201", advertise: "node1:8201"},
		"postgresql ha, none":    {cfg: pg("", true)},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			listen, advertise, err := clusterAddrs(tc.cfg)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || listen != tc.listen || advertise != tc.advertise {
				t.Fatalf("= %q, %q, %v; want %q, %q", listen, advertise, err, tc.listen, tc.advertise)
			}
		})
	}
}
