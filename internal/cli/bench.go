package cli

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	ucli "github.com/urfave/cli/v2"

	"github.com/cofferhq/coffer/internal/bench"
)

// benchCommand measures KV throughput, idle memory and start-up time of a
// server it starts itself on file storage with a static seal, next to the
// ceilings those figures are judged against, in the same run.
func benchCommand() *ucli.Command {
	return &ucli.Command{
		Name:  "bench",
		Usage: "Measure KV v2 read/write throughput against bare ceilings, idle RSS and start-up time",
		UsageText: "coffer bench [-clients=16] [-duration=10s] [-keys=1000] [-rounds=1] [-profile=DIR] [-grow=N] [-baseline=BINARY]\n" +
			"  [bare-http|kv-read|kv-read-client|bbolt-batch|kv-write|rss|startup|jwt-login[-batch]|token-create[-batch]|\n" +
			"   bare-http-client|kv-read-grown|rss-grown|startup-grown|raft-write|raft1-write|raft-read|raft-read-standby|raft-failover ...]",
		Description: "kv-read and kv-write pick a random key of -keys for every request (writes add versions);\n" +
			"kv-read-client reads the same way through the openbao/api/v2 Go client (KVv2 Get), and\n" +
			"bare-http-client reads the bare-http process with that client (kv-read-client's own ceiling).\n" +
			"bare-http is a bare net/http server process answering every request with a fixed body as\n" +
			"long as a KV read's response; bbolt-batch is a loop of bbolt Batch commits of random keys\n" +
			"into a temporary file with Coffer's bbolt settings, from -clients goroutines. Each line\n" +
			"reports the CPU per request of the process doing the work (the server's, from /proc; the\n" +
			"bench's own for bbolt-batch); each round ends with the ratios to the ceilings.\n" +
			"With -grow=N a second server runs on a store preloaded with N KV v2 keys (through the KV\n" +
			"engine and the barrier, in large transactions): kv-read-grown reads a random key of all N\n" +
			"(compared with kv-read of the same round), rss-grown reports its memory, startup-grown its\n" +
			"exec-to-ready times.\n" +
			"With -baseline=BINARY (another build of coffer) kv-read, kv-read-client and kv-write run on a second\n" +
			"server started from BINARY too, seeded alike, in turn with this binary's (baseline second in even\n" +
			"rounds, first in odd ones); its lines are named WORKLOAD@base, and each round and the medians give\n" +
			"the ratios this/baseline (cpu/req below 1 means this binary spends less per request).\n" +
			"The raft-* workloads start, on first use, a three-node raft cluster of \"coffer server\" processes\n" +
			"(one initialised, two joined by retry_join, one static seal key) and a single-node raft server:\n" +
			"raft-write writes to the cluster's active node, raft1-write to the single node (compare both with\n" +
			"kv-write on file storage in the same round), raft-read reads on the active node and\n" +
			"raft-read-standby through a standby, which forwards to the active node. raft-failover (after the\n" +
			"rounds) kills the active node with SIGKILL -kills times under -clients writers and reports the time\n" +
			"to the first acknowledged write started after each kill. The cpu/req of raft-write, raft-read and\n" +
			"raft-read-standby is the three nodes' together. All servers are stopped by PID at the end.",
		Flags: []ucli.Flag{
			&ucli.IntFlag{Name: "clients", Value: 16, Usage: "concurrent keep-alive clients"},
			&ucli.DurationFlag{Name: "duration", Value: 10 * time.Second, Usage: "measured time per workload"},
			&ucli.DurationFlag{Name: "warmup", Value: 2 * time.Second, Usage: "unmeasured load before each workload"},
			&ucli.IntFlag{Name: "keys", Value: 1000, Usage: "KV v2 keys written before the workloads; reads and writes pick among them"},
			&ucli.IntFlag{Name: "value-size", Value: 64, Usage: "bytes of secret value per key"},
			&ucli.IntFlag{Name: "rounds", Value: 1, Usage: "times to run the measured workloads in turn; medians are reported when more than 1"},
			&ucli.IntFlag{Name: "startups", Value: 10, Usage: "restarts timed by the startup workload"},
			&ucli.StringFlag{Name: "profile", Usage: "directory to save CPU and allocation profiles of the server (sys/pprof) during kv-read, kv-read-client, kv-write and kv-read-grown of round 1"},
			&ucli.StringFlag{Name: "dir", Usage: "directory for the server's store (a temporary one when empty)"},
			&ucli.IntFlag{Name: "grow", Usage: "KV v2 keys in the store of a second server, for the *-grown workloads (e.g. 1000000)"},
			&ucli.StringFlag{Name: "grow-dir", Usage: "keep the grown store in this directory and reuse it in later runs with the same -grow and -value-size (its preload takes minutes)"},
			&ucli.IntFlag{Name: "raft-multiplier", Usage: "performance_multiplier of the raft servers; 0 leaves it unset (the default timing)"},
			&ucli.IntFlag{Name: "kills", Value: 5, Usage: "times raft-failover kills the active node"},
			&ucli.IntFlag{Name: "port-base", Usage: "first of consecutive loopback ports for the servers' API and cluster listeners (free ephemeral ports when 0)"},
			&ucli.StringFlag{Name: "baseline", Usage: "another coffer binary: kv-read, kv-read-client and kv-write also run on a server started from it, alternated with this one's, and each round reports this/baseline"},
		},
		Action: runBench,
	}
}

type benchServer struct {
	dir, addr, token string
	cmd              *exec.Cmd
	// jwtTokens are the signed tokens of the jwt-login workloads, made by
	// jwtSetup on first use.
	jwtTokens []string
	// bare is the bare-http ceiling's process, started on first use.
	bare *bareServer
	// grown is the second server of a -grow run.
	grown *benchServer
	// raft holds the raft servers of the raft-* workloads, started on
	// first use.
	raft *raftServers
	// ports gives the loopback addresses of the servers started later.
	ports *portPicker
	// logFile, when set, receives the server's log instead of stderr.
	logFile string
	// base is the -baseline server; exe, when set, is the binary this
	// server runs instead of the bench's own; profileTag is added to the
	// names of its results and profiles.
	base       *benchServer
	exe        string
	profileTag string
}

func runBench(c *ucli.Context) error {
	measured, once, err := parseWorkloads(c.Args().Slice())
	if err != nil {
		return err
	}
	dir := c.String("dir")
	if dir == "" {
		d, err := os.MkdirTemp("", "coffer-bench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	ports := &portPicker{port: c.Int("port-base")}
	s, err := startBenchServer(c.Context, dir, ports)
	if err != nil {
		return err
	}
	s.ports = ports
	defer s.stop()
	defer func() { s.raft.stop() }()
	// s.bare is started on first use, so it is read when the run ends.
	defer func() { s.bare.stop() }()
	if err := s.seed(c.Context, c.Int("keys"), c.Int("value-size")); err != nil {
		return err
	}
	if err := s.startGrownIfAsked(c, dir, slices.Concat(measured, once)); err != nil {
		return err
	}
	defer func() { s.grown.stop() }()
	if err := s.startBaselineIfAsked(c, dir); err != nil {
		return err
	}
	defer func() { s.base.stop() }()
	out := c.App.Writer
	fmt.Fprintf(out, "clients=%d duration=%s keys=%d value-size=%d rounds=%d storage=file (bbolt, fsync) GOMAXPROCS=%d\n",
		c.Int("clients"), c.Duration("duration"), c.Int("keys"), c.Int("value-size"), c.Int("rounds"), runtime.GOMAXPROCS(0))
	var rounds []map[string]bench.Result
	for r := range max(1, c.Int("rounds")) {
		got := map[string]bench.Result{}
		for _, w := range measured {
			if err := s.measure(c, out, w, r, got); err != nil {
				return err
			}
		}
		for _, l := range ratios(got) {
			fmt.Fprintf(out, "%-14s %s\n", "ratio", l)
		}
		rounds = append(rounds, got)
	}
	if len(rounds) > 1 {
		summarize(out, withBaseline(measured), rounds)
	}
	for _, w := range once {
		if err := s.workload1(c, w); err != nil {
			return fmt.Errorf("%s: %w", w, err)
		}
	}
	return nil
}

// workload runs one measured workload; a nil result means it reported
// itself (the login workloads).
func (s *benchServer) workload(c *ucli.Context, name string, round int) (*bench.Result, error) {
	cfg := bench.Config{Clients: c.Int("clients"), Duration: c.Duration("duration"), Warmup: c.Duration("warmup")}
	keys := c.Int("keys")
	switch name {
	case "kv-read":
		cfg.CPU = bench.ProcCPU(s.cmd.Process.Pid)
		stop := s.profile(c, name, round)
		res := bench.Run(c.Context, cfg, func(ctx context.Context, hc *http.Client, _, _ int) error {
			return s.do(ctx, hc, http.MethodGet, "secret/data/bench/key-"+strconv.Itoa(rand.IntN(keys)), nil)
		})
		return &res, stop()
	case "kv-write":
		cfg.CPU = bench.ProcCPU(s.cmd.Process.Pid)
		body := fmt.Appendf(nil, `{"data":{"value":%q}}`, strings.Repeat("w", c.Int("value-size")))
		stop := s.profile(c, name, round)
		res := bench.Run(c.Context, cfg, func(ctx context.Context, hc *http.Client, _, _ int) error {
			return s.do(ctx, hc, http.MethodPut, "secret/data/bench/key-"+strconv.Itoa(rand.IntN(keys)), body)
		})
		if err := stop(); err != nil {
			return nil, err
		}
		// A LIST returns once bbolt holds every acknowledged write: the
		// log's background commit, up to a second of writes, then no
		// longer overlaps the next workload (another server's, with
		// -baseline).
		return &res, s.do(c.Context, http.DefaultClient, "LIST", "secret/metadata/bench/", nil)
	case "kv-read-client":
		return s.kvReadClient(c, cfg, round)
	case "bare-http":
		return s.bareHTTP(c, cfg)
	case "bare-http-client":
		return s.bareHTTPClient(c, cfg)
	case "bbolt-batch":
		return bboltBatch(c, cfg, filepath.Join(s.dir, fmt.Sprintf("ceiling-%d", round)))
	case "kv-read-grown":
		return s.kvReadGrown(c, cfg, c.Int("grow"), round)
	}
	if res, ok, err := s.raftWorkload(c, cfg, name, round); ok {
		return res, err
	}
	if ok, err := s.loginWorkload(c, name); ok {
		return nil, err
	}
	return nil, fmt.Errorf("unknown workload %q", name)
}

// workload1 runs a workload that is measured once, after the rounds.
func (s *benchServer) workload1(c *ucli.Context, name string) error {
	switch name {
	case "rss":
		return s.rss(c)
	case "startup":
		return s.startups(c, c.Int("startups"))
	case "rss-grown":
		return s.rssGrown(c)
	case "startup-grown":
		return s.startupsGrown(c, c.Int("startups"))
	case "raft-failover":
		return s.raftFailover(c)
	}
	return fmt.Errorf("unknown workload %q", name)
}

func report(w io.Writer, name string, r bench.Result) {
	cpu := "-"
	if per := r.CPUPerOp(); per > 0 {
		cpu = per.Round(100 * time.Nanosecond).String()
	}
	fmt.Fprintf(w, "%-14s %8.0f req/s  p50 %-9s p90 %-9s p99 %-9s max %-9s cpu/req %-8s ok %d errors %d\n", name, r.RPS(),
		r.P50.Round(time.Microsecond), r.P90.Round(time.Microsecond), r.P99.Round(time.Microsecond),
		r.Max.Round(time.Microsecond), cpu, r.Requests, r.Errors)
}

// startBenchServer writes a config with file storage and a static seal key
// into dir, starts "coffer server" on a loopback port from ports and
// initialises it.
func startBenchServer(ctx context.Context, dir string, ports *portPicker) (*benchServer, error) {
	return startBenchServerFrom(ctx, "", dir, ports)
}

// startBenchServerFrom is startBenchServer running the binary exe (the
// bench's own when empty).
func startBenchServerFrom(ctx context.Context, exe, dir string, ports *portPicker) (*benchServer, error) {
	if err := writeSealKey(filepath.Join(dir, "seal.key")); err != nil {
		return nil, err
	}
	addr, err := ports.next()
	if err != nil {
		return nil, err
	}
	s, err := launchConfigFrom(ctx, exe, dir, addr, benchConfig(dir, addr), "")
	if err != nil {
		return nil, err
	}
	return s, s.initialise(ctx)
}

// benchConfig is the configuration of a bench server on file storage
// under dir, statically sealed, listening on addr.
func benchConfig(dir, addr string) string {
	return fmt.Sprintf(`storage "file" { path = %q }
listener "tcp" {
  address = %q
  tls_disable = true
}
seal "static" { key_file = %q }
log_level = "warn"
`, filepath.Join(dir, "data"), addr, filepath.Join(dir, "seal.key"))
}

// writeSealKey writes a new random static seal key, hex encoded.
func writeSealKey(file string) error {
	key := make([]byte, 32)
	if _, err := crand.Read(key); err != nil {
		return err
	}
	return os.WriteFile(file, []byte(hex.EncodeToString(key)), 0o600)
}

// launchConfig writes conf as dir/coffer.hcl and starts a server on it
// whose API listens on addr.
func launchConfig(ctx context.Context, dir, addr, conf, logFile string) (*benchServer, error) {
	return launchConfigFrom(ctx, "", dir, addr, conf, logFile)
}

// launchConfigFrom is launchConfig running the binary exe (the bench's
// own when empty).
func launchConfigFrom(ctx context.Context, exe, dir, addr, conf, logFile string) (*benchServer, error) {
	if err := os.WriteFile(filepath.Join(dir, "coffer.hcl"), []byte(conf), 0o600); err != nil {
		return nil, err
	}
	s := &benchServer{dir: dir, addr: "http://" + addr, logFile: logFile, exe: exe}
	if _, err := s.launch(ctx); err != nil {
		s.stop()
		return nil, err
	}
	return s, nil
}

// initialise initialises the (static-sealed, so then unsealed) server,
// waits until it is active and mounts KV v2 at secret/.
func (s *benchServer) initialise(ctx context.Context) error {
	var init struct {
		RootToken string `json:"root_token"`
	}
	if err := s.call(ctx, http.MethodPut, "sys/init", `{"secret_shares":1,"secret_threshold":1}`, &init); err != nil {
		return err
	}
	s.token = init.RootToken
	if err := s.waitHealth(ctx, http.StatusOK, 30*time.Second); err != nil {
		return err
	}
	return s.call(ctx, http.MethodPost, "sys/mounts/secret", `{"type":"kv","options":{"version":"2"}}`, nil)
}

// launch starts the server process and waits until sys/health answers,
// returning how long that took from exec.
func (s *benchServer) launch(ctx context.Context) (time.Duration, error) {
	exe := s.exe
	if exe == "" {
		var err error
		if exe, err = os.Executable(); err != nil {
			return 0, err
		}
	}
	s.cmd = exec.CommandContext(ctx, exe, "server", "-config="+filepath.Join(s.dir, "coffer.hcl"))
	s.cmd.Stderr = os.Stderr
	if s.logFile != "" {
		f, err := os.OpenFile(s.logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			return 0, err
		}
		defer f.Close() // the child has its own descriptor
		s.cmd.Stderr, s.cmd.Stdout = f, f
	}
	t0 := time.Now()
	if err := s.cmd.Start(); err != nil {
		return 0, err
	}
	hc := &http.Client{Timeout: time.Second}
	for time.Since(t0) < 10*time.Second {
		resp, err := hc.Get(s.addr + "/v1/sys/health?uninitcode=200&sealedcode=200&standbycode=200")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return time.Since(t0), nil
			}
		}
		time.Sleep(time.Millisecond)
	}
	return 0, errors.New("server did not answer sys/health within 10s")
}

func (s *benchServer) stop() {
	if s != nil && s.cmd != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Signal(os.Interrupt)
		_ = s.cmd.Wait()
	}
}

// rss reports the resident memory of the running server after whatever
// load came before, and of a freshly restarted one on the same store, each
// after two idle seconds.
func (s *benchServer) rss(c *ucli.Context) error {
	time.Sleep(2 * time.Second)
	loaded, err := rssKiB(s.cmd.Process.Pid)
	if err != nil {
		return err
	}
	s.stop()
	if _, err := s.launch(c.Context); err != nil {
		return err
	}
	time.Sleep(2 * time.Second)
	idle, err := rssKiB(s.cmd.Process.Pid)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.App.Writer, "%-9s idle RSS %.1f MiB after a restart; %.1f MiB idle after the workloads above\n",
		"rss", float64(idle)/1024, float64(loaded)/1024)
	return nil
}

// startups restarts the server n times on the existing, auto-unsealed
// store and reports exec-to-200 times.
func (s *benchServer) startups(c *ucli.Context, n int) error {
	var times []time.Duration
	for range n {
		s.stop()
		d, err := s.launch(c.Context)
		if err != nil {
			return err
		}
		resp, err := http.Get(s.addr + "/v1/sys/health")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("restarted server answers %d, not 200 (still sealed?)", resp.StatusCode)
		}
		times = append(times, d)
	}
	slices.Sort(times)
	fmt.Fprintf(c.App.Writer, "%-9s exec to 200 from sys/health: median %s min %s max %s (%d runs)\n", "startup",
		times[len(times)/2].Round(100*time.Microsecond), times[0].Round(100*time.Microsecond),
		times[len(times)-1].Round(100*time.Microsecond), n)
	return nil
}

func (s *benchServer) seed(ctx context.Context, keys, size int) error {
	val := strings.Repeat("v", size)
	for i := range keys {
		body := fmt.Sprintf(`{"data":{"value":%q,"n":"%d"}}`, val, i)
		if err := s.call(ctx, http.MethodPut, fmt.Sprintf("secret/data/bench/key-%d", i), body, nil); err != nil {
			return fmt.Errorf("seed key %d: %w", i, err)
		}
	}
	return nil
}

func (s *benchServer) call(ctx context.Context, method, path, body string, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, s.addr+"/v1/"+path, strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("X-Vault-Token", s.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		return fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, bytes.TrimSpace(raw))
	}
	if out != nil {
		return json.Unmarshal(raw, out)
	}
	return nil
}

// do is the hot-path request of a workload: the body is drained so the
// connection is reused.
func (s *benchServer) do(ctx context.Context, hc *http.Client, method, path string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, method, s.addr+"/v1/"+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("X-Vault-Token", s.token)
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusNoContent {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}

// rssKiB reads a process's resident set size from /proc.
func rssKiB(pid int) (int, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			return strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")))
		}
	}
	return 0, errors.New("VmRSS not found")
}
