package cli

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	ucli "github.com/urfave/cli/v2"

	"github.com/cofferhq/coffer/internal/bench"
)

// benchCommand measures KV throughput, idle memory and start-up time of a
// server it starts itself on file storage with a static seal.
func benchCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "bench",
		Usage:     "Measure KV v2 read/write throughput, idle RSS and start-up time",
		UsageText: "coffer bench [-clients=16] [-duration=10s] [-keys=1000] [kv-read|kv-write|rss|startup|jwt-login[-batch]|token-create[-batch] ...]",
		Flags: []ucli.Flag{
			&ucli.IntFlag{Name: "clients", Value: 16, Usage: "concurrent keep-alive clients"},
			&ucli.DurationFlag{Name: "duration", Value: 10 * time.Second, Usage: "measured time per workload"},
			&ucli.DurationFlag{Name: "warmup", Value: 2 * time.Second, Usage: "unmeasured load before each workload"},
			&ucli.IntFlag{Name: "keys", Value: 1000, Usage: "KV v2 keys written before the read workload"},
			&ucli.IntFlag{Name: "value-size", Value: 64, Usage: "bytes of secret value per key"},
			&ucli.IntFlag{Name: "startups", Value: 10, Usage: "restarts timed by the startup workload"},
			&ucli.StringFlag{Name: "dir", Usage: "directory for the server's store (a temporary one when empty)"},
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
}

func runBench(c *ucli.Context) error {
	work := c.Args().Slice()
	if len(work) == 0 {
		work = []string{"kv-read", "kv-write", "rss", "startup"}
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
	s, err := startBenchServer(c.Context, dir)
	if err != nil {
		return err
	}
	defer s.stop()
	if err := s.seed(c.Context, c.Int("keys"), c.Int("value-size")); err != nil {
		return err
	}
	out := c.App.Writer
	fmt.Fprintf(out, "clients=%d duration=%s keys=%d value-size=%d storage=file (bbolt, fsync)\n",
		c.Int("clients"), c.Duration("duration"), c.Int("keys"), c.Int("value-size"))
	for _, w := range work {
		if err := s.workload(c, w); err != nil {
			return fmt.Errorf("%s: %w", w, err)
		}
	}
	return nil
}

func (s *benchServer) workload(c *ucli.Context, name string) error {
	cfg := bench.Config{Clients: c.Int("clients"), Duration: c.Duration("duration"), Warmup: c.Duration("warmup")}
	out := c.App.Writer
	switch name {
	case "kv-read":
		keys := c.Int("keys")
		res := bench.Run(c.Context, cfg, func(ctx context.Context, hc *http.Client, w, seq int) error {
			return s.do(ctx, hc, http.MethodGet, fmt.Sprintf("secret/data/bench/key-%d", (w*7919+seq)%keys), nil)
		})
		report(out, name, res)
	case "kv-write":
		val := strings.Repeat("w", c.Int("value-size"))
		res := bench.Run(c.Context, cfg, func(ctx context.Context, hc *http.Client, w, seq int) error {
			body := []byte(fmt.Sprintf(`{"data":{"value":%q}}`, val))
			return s.do(ctx, hc, http.MethodPut, fmt.Sprintf("secret/data/bench/w%d-%d", w, seq%1000), body)
		})
		report(out, name, res)
	case "rss":
		return s.rss(c)
	case "startup":
		return s.startups(c, c.Int("startups"))
	default:
		if ok, err := s.loginWorkload(c, name); ok {
			return err
		}
		return fmt.Errorf("unknown workload %q: use kv-read, kv-write, rss, startup, jwt-login, jwt-login-batch, token-create or token-create-batch", name)
	}
	return nil
}

func report(w io.Writer, name string, r bench.Result) {
	fmt.Fprintf(w, "%-9s %8.0f req/s  p50 %-9s p90 %-9s p99 %-9s max %-9s ok %d errors %d\n", name, r.RPS(),
		r.P50.Round(time.Microsecond), r.P90.Round(time.Microsecond), r.P99.Round(time.Microsecond),
		r.Max.Round(time.Microsecond), r.Requests, r.Errors)
}

// startBenchServer writes a config with file storage and a static seal key
// into dir, starts "coffer server" on a free loopback port and initialises it.
func startBenchServer(ctx context.Context, dir string) (*benchServer, error) {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "seal.key"), []byte(hex.EncodeToString(key)), 0o600); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := ln.Addr().String()
	ln.Close()
	conf := fmt.Sprintf(`storage "file" { path = %q }
listener "tcp" {
  address = %q
  tls_disable = true
}
seal "static" { key_file = %q }
log_level = "warn"
`, filepath.Join(dir, "data"), addr, filepath.Join(dir, "seal.key"))
	if err := os.WriteFile(filepath.Join(dir, "coffer.hcl"), []byte(conf), 0o600); err != nil {
		return nil, err
	}
	s := &benchServer{dir: dir, addr: "http://" + addr}
	if _, err := s.launch(ctx); err != nil {
		return nil, err
	}
	var init struct {
		RootToken string `json:"root_token"`
	}
	if err := s.call(ctx, http.MethodPut, "sys/init", `{"secret_shares":1,"secret_threshold":1}`, &init); err != nil {
		return nil, err
	}
	s.token = init.RootToken
	return s, s.call(ctx, http.MethodPost, "sys/mounts/secret", `{"type":"kv","options":{"version":"2"}}`, nil)
}

// launch starts the server process and waits until sys/health answers,
// returning how long that took from exec.
func (s *benchServer) launch(ctx context.Context) (time.Duration, error) {
	exe, err := os.Executable()
	if err != nil {
		return 0, err
	}
	s.cmd = exec.CommandContext(ctx, exe, "server", "-config="+filepath.Join(s.dir, "coffer.hcl"))
	s.cmd.Stderr = os.Stderr
	t0 := time.Now()
	if err := s.cmd.Start(); err != nil {
		return 0, err
	}
	hc := &http.Client{Timeout: time.Second}
	for time.Since(t0) < 10*time.Second {
		resp, err := hc.Get(s.addr + "/v1/sys/health?uninitcode=200&sealedcode=200")
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
	if s.cmd != nil && s.cmd.Process != nil {
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
