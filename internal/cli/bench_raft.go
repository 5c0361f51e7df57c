package cli

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	ucli "github.com/urfave/cli/v2"

	"github.com/cofferhq/coffer/internal/bench"
)

// raftWorkloads run against raft servers that "coffer bench" starts on
// first use: a cluster of three "coffer server" processes on storage
// "raft" (the first initialised, the others joined by retry_join, all on
// one static seal key) and a single-node raft server.
var raftWorkloads = []string{"raft-write", "raft1-write", "raft-read", "raft-read-standby"}

// raftServers are the raft workloads' servers.
type raftServers struct {
	nodes  []*benchServer // the three-node cluster, in start order
	single *benchServer   // the single-node raft server
	// mult is the performance_multiplier written in their configs, 0
	// for none (the default timing).
	mult int
}

// portPicker hands out loopback addresses: consecutive ports from port, or
// free ephemeral ones when port is 0.
type portPicker struct {
	mu   sync.Mutex
	port int
}

func (p *portPicker) next() (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.port > 0 {
		p.port++
		return "127.0.0.1:" + strconv.Itoa(p.port-1), nil
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// raftNodeConfig is a node's configuration: raft storage under dir, the
// API on api and the cluster port on clusterAddr, retry_join towards
// joinAPI when set, performance_multiplier only when mult > 0.
func raftNodeConfig(dir, id, api, clusterAddr, joinAPI, keyFile string, mult int) string {
	var extra strings.Builder
	if mult > 0 {
		fmt.Fprintf(&extra, "  performance_multiplier = %d\n", mult)
	}
	if joinAPI != "" {
		fmt.Fprintf(&extra, "  retry_join {\n    leader_api_addr = %q\n  }\n", joinAPI)
	}
	return fmt.Sprintf(`storage "raft" {
  path    = %q
  node_id = %q
%s}
listener "tcp" {
  address         = %q
  cluster_address = %q
  tls_disable     = true
}
api_addr     = "http://%s"
cluster_addr = "https://%s"
seal "static" { key_file = %q }
log_level    = "warn"
`, filepath.Join(dir, "data"), id, extra.String(), api, clusterAddr, api, clusterAddr, keyFile)
}

// startRaftNode starts one raft node in dir/id.
func startRaftNode(ctx context.Context, dir, id, joinAPI, keyFile string, mult int, ports *portPicker) (*benchServer, error) {
	dir = filepath.Join(dir, id)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	api, err := ports.next()
	if err != nil {
		return nil, err
	}
	clusterAddr, err := ports.next()
	if err != nil {
		return nil, err
	}
	return launchConfig(ctx, dir, api, raftNodeConfig(dir, id, api, clusterAddr, joinAPI, keyFile, mult), filepath.Join(dir, "server.log"))
}

// startRaft starts the single-node raft server and the three-node
// cluster under dir, seeds both with the -keys KV v2 keys and waits until
// the cluster's standbys have joined and caught up.
func (s *benchServer) startRaft(c *ucli.Context) error {
	dir := filepath.Join(s.dir, "raft")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	keyFile := filepath.Join(dir, "seal.key")
	if err := writeSealKey(keyFile); err != nil {
		return err
	}
	mult := c.Int("raft-multiplier")
	r := &raftServers{mult: mult}
	s.raft = r
	var err error
	if r.single, err = startRaftNode(c.Context, dir, "single", "", keyFile, mult, s.ports); err != nil {
		return fmt.Errorf("single-node raft server: %w", err)
	}
	if err := r.single.initialise(c.Context); err != nil {
		return fmt.Errorf("single-node raft server: %w", err)
	}
	first, err := startRaftNode(c.Context, dir, "node1", "", keyFile, mult, s.ports)
	if err != nil {
		return fmt.Errorf("raft node1: %w", err)
	}
	r.nodes = append(r.nodes, first)
	if err := first.initialise(c.Context); err != nil {
		return fmt.Errorf("raft node1: %w", err)
	}
	for i := 2; i <= 3; i++ {
		n, err := startRaftNode(c.Context, dir, "node"+strconv.Itoa(i), first.addr, keyFile, mult, s.ports)
		if err != nil {
			return fmt.Errorf("raft node%d: %w", i, err)
		}
		n.token = first.token
		r.nodes = append(r.nodes, n)
	}
	for _, n := range r.nodes[1:] {
		if err := n.waitHealth(c.Context, http.StatusTooManyRequests, 60*time.Second); err != nil {
			return fmt.Errorf("%s joining: %w", filepath.Base(n.dir), err)
		}
	}
	// Joiners come in as non-voters; autopilot promotes them after
	// server_stabilization_time (10 s). Measure only a three-voter quorum.
	if err := first.waitVoters(c.Context, len(r.nodes), 120*time.Second); err != nil {
		return err
	}
	for _, t := range []*benchServer{r.single, first} {
		if err := t.seed(c.Context, c.Int("keys"), c.Int("value-size")); err != nil {
			return err
		}
	}
	multText := "unset (default)"
	if mult > 0 {
		multText = strconv.Itoa(mult)
	}
	fmt.Fprintf(c.App.Writer, "raft: three-node cluster (pids %d %d %d) and single-node server (pid %d), performance_multiplier %s, logs in %s/*/server.log\n",
		r.nodes[0].cmd.Process.Pid, r.nodes[1].cmd.Process.Pid, r.nodes[2].cmd.Process.Pid, r.single.cmd.Process.Pid, multText, dir)
	return nil
}

// stop stops every raft server (by its process).
func (r *raftServers) stop() {
	if r == nil {
		return
	}
	for _, n := range r.nodes {
		n.stop()
	}
	r.single.stop()
}

// waitVoters waits until the raft configuration lists want servers, all
// voters.
func (s *benchServer) waitVoters(ctx context.Context, want int, limit time.Duration) error {
	var conf struct {
		Data struct {
			Config struct {
				Servers []struct {
					Voter bool `json:"voter"`
				} `json:"servers"`
			} `json:"config"`
		} `json:"data"`
	}
	deadline := time.Now().Add(limit)
	for {
		err := s.call(ctx, http.MethodGet, "sys/storage/raft/configuration", "", &conf)
		voters := 0
		for _, v := range conf.Data.Config.Servers {
			if v.Voter {
				voters++
			}
		}
		if err == nil && voters == want && len(conf.Data.Config.Servers) == want {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the raft cluster did not reach %d voters within %s (%d of %d servers voters, %v)",
				want, limit, voters, len(conf.Data.Config.Servers), err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// waitHealth waits until sys/health answers want (200 active, 429
// standby).
func (s *benchServer) waitHealth(ctx context.Context, want int, limit time.Duration) error {
	hc := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(limit)
	last := 0
	for time.Now().Before(deadline) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.addr+"/v1/sys/health", nil)
		if err != nil {
			return err
		}
		resp, err := hc.Do(req)
		if err == nil {
			resp.Body.Close()
			if last = resp.StatusCode; last == want {
				return nil
			}
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("sys/health of %s did not answer %d within %s (last %d)", s.addr, want, limit, last)
}

// active returns the cluster's active node and a standby.
func (r *raftServers) active(ctx context.Context) (active, standby *benchServer, err error) {
	for range 300 {
		active, standby = nil, nil
		for _, n := range r.nodes {
			switch n.health(ctx) {
			case http.StatusOK:
				active = n
			case http.StatusTooManyRequests:
				standby = n
			}
		}
		if active != nil && standby != nil {
			return active, standby, nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return nil, nil, errors.New("the raft cluster has no active node and standby after 15s")
}

// health is the status of sys/health, 0 when it does not answer.
func (s *benchServer) health(ctx context.Context) int {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.addr+"/v1/sys/health", nil)
	if err != nil {
		return 0
	}
	resp, err := quickClient.Do(req)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

var quickClient = &http.Client{Timeout: time.Second}

// raftWorkload runs the raft workload name; ok is false for other names.
func (s *benchServer) raftWorkload(c *ucli.Context, cfg bench.Config, name string, round int) (res *bench.Result, ok bool, err error) {
	if !slices.Contains(raftWorkloads, name) {
		return nil, false, nil
	}
	if s.raft == nil {
		if err := s.startRaft(c); err != nil {
			return nil, true, err
		}
	}
	target := s.raft.single
	if name != "raft1-write" {
		act, standby, err := s.raft.active(c.Context)
		if err != nil {
			return nil, true, err
		}
		target = act
		if name == "raft-read-standby" {
			// The standby forwards to the active node, which serves it.
			target = &benchServer{addr: standby.addr, token: act.token, cmd: act.cmd}
		}
	}
	keys := c.Int("keys")
	cfg.CPU = bench.ProcCPU(target.cmd.Process.Pid)
	if name != "raft1-write" {
		// The followers replicate and apply every write on the same
		// machine: the cluster's CPU per request is what a write costs it.
		cfg.CPU = s.raft.clusterCPU()
	}
	stop := target.profile(c, name, round)
	var op bench.Op
	if strings.HasSuffix(name, "-write") {
		body := fmt.Appendf(nil, `{"data":{"value":%q}}`, strings.Repeat("w", c.Int("value-size")))
		op = func(ctx context.Context, hc *http.Client, _, _ int) error {
			return target.do(ctx, hc, http.MethodPut, "secret/data/bench/key-"+strconv.Itoa(rand.IntN(keys)), body)
		}
	} else {
		op = func(ctx context.Context, hc *http.Client, _, _ int) error {
			return target.do(ctx, hc, http.MethodGet, "secret/data/bench/key-"+strconv.Itoa(rand.IntN(keys)), nil)
		}
	}
	r := bench.Run(c.Context, cfg, op)
	return &r, true, stop()
}

// clusterCPU samples the CPU time used by all three nodes together.
func (r *raftServers) clusterCPU() func() (time.Duration, error) {
	return func() (time.Duration, error) {
		var sum time.Duration
		for _, n := range r.nodes {
			d, err := bench.ProcCPU(n.cmd.Process.Pid)()
			if err != nil {
				return 0, err
			}
			sum += d
		}
		return sum, nil
	}
}

// raftFailover kills the cluster's active node with SIGKILL -kills times
// under -clients writers (each sending KV v2 writes to the nodes in turn,
// 3 s timeout) and reports the time from each kill to the first
// acknowledged write that started after it. The killed node is restarted
// (it unseals with the static key and rejoins) before the next kill.
func (s *benchServer) raftFailover(c *ucli.Context) error {
	if s.raft == nil {
		if err := s.startRaft(c); err != nil {
			return err
		}
	}
	r := s.raft
	w := &ackWatch{}
	ctx, cancel := context.WithCancel(c.Context)
	var wg sync.WaitGroup
	var acked, failed atomic.Int64
	for i := range c.Int("clients") {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.failoverWriter(ctx, i, w, &acked, &failed)
		}()
	}
	defer func() { cancel(); wg.Wait() }()
	var times []time.Duration
	for k := range c.Int("kills") {
		time.Sleep(2 * time.Second)
		act, _, err := r.active(c.Context)
		if err != nil {
			return err
		}
		first := w.arm()
		_ = act.cmd.Process.Kill()
		killed := time.Now()
		w.since(killed)
		_ = act.cmd.Wait()
		var d time.Duration
		select {
		case t := <-first:
			d = t.Sub(killed)
		case <-time.After(60 * time.Second):
			return fmt.Errorf("kill %d: no write acknowledged within 60s of killing %s", k+1, filepath.Base(act.dir))
		}
		times = append(times, d)
		fmt.Fprintf(c.App.Writer, "%-14s kill -9 #%d of %s (pid %d): first write acknowledged %s after the kill\n",
			"raft-failover", k+1, filepath.Base(act.dir), act.cmd.Process.Pid, d.Round(time.Millisecond))
		if _, err := act.launch(c.Context); err != nil {
			return fmt.Errorf("restart %s: %w", filepath.Base(act.dir), err)
		}
		if err := act.waitHealth(c.Context, http.StatusTooManyRequests, 60*time.Second); err != nil {
			return fmt.Errorf("restarted %s: %w", filepath.Base(act.dir), err)
		}
	}
	sorted := slices.Clone(times)
	slices.Sort(sorted)
	fmt.Fprintf(c.App.Writer, "%-14s median %s min %s max %s over %d kills; %d writes acknowledged, %d failed (timeouts, 503s while no node was active)\n",
		"raft-failover", sorted[len(sorted)/2].Round(time.Millisecond), sorted[0].Round(time.Millisecond),
		sorted[len(sorted)-1].Round(time.Millisecond), len(sorted), acked.Load(), failed.Load())
	return nil
}

// failoverWriter writes distinct keys through the nodes in turn until ctx
// ends, reporting acknowledged writes to w.
func (r *raftServers) failoverWriter(ctx context.Context, worker int, w *ackWatch, acked, failed *atomic.Int64) {
	hc := &http.Client{Timeout: 3 * time.Second}
	for seq := 0; ctx.Err() == nil; seq++ {
		n := r.nodes[(worker+seq)%len(r.nodes)]
		start := time.Now()
		body := fmt.Appendf(nil, `{"data":{"value":"%d"}}`, seq)
		err := n.do(ctx, hc, http.MethodPut, fmt.Sprintf("secret/data/failover/w%d-%d", worker, seq), body)
		if err != nil {
			failed.Add(1)
			hc.CloseIdleConnections()
			time.Sleep(10 * time.Millisecond)
			continue
		}
		acked.Add(1)
		w.ack(start, time.Now())
	}
}

// ackWatch reports the first acknowledged write that started after a
// moment.
type ackWatch struct {
	mu    sync.Mutex
	after time.Time
	first chan time.Time
}

// arm returns the channel of the next report; since sets its moment.
func (w *ackWatch) arm() <-chan time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.after = time.Now().Add(time.Hour) // nothing counts until since
	w.first = make(chan time.Time, 1)
	return w.first
}

func (w *ackWatch) since(t time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.after = t
}

func (w *ackWatch) ack(start, end time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.first != nil && !start.Before(w.after) {
		w.first <- end
		w.first = nil
	}
}
