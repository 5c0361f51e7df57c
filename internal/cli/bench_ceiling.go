package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	ucli "github.com/urfave/cli/v2"

	"github.com/cofferhq/coffer/internal/bench"
)

// defaultWorkloads run when "coffer bench" names none: each figure next to
// its ceiling, then memory and start-up.
var defaultWorkloads = []string{"bare-http", "kv-read", "bbolt-batch", "kv-write", "rss", "startup"}

// onceWorkloads are measured once, after the rounds: they restart the server.
var onceWorkloads = []string{"rss", "startup", "rss-grown", "startup-grown", "raft-failover"}

var roundWorkloads = []string{"bare-http", "bare-http-client", "kv-read", "kv-read-client", "bbolt-batch", "kv-write",
	"jwt-login", "jwt-login-batch", "token-create", "token-create-batch", "kv-read-grown",
	"raft-write", "raft1-write", "raft-read", "raft-read-standby"}

// ceilings pairs each workload with the ceiling it is judged against.
var ceilings = []struct{ work, ceiling string }{{"kv-read", "bare-http"}, {"kv-read-client", "bare-http"},
	{"kv-read-client", "bare-http-client"},
	{"kv-write", "bbolt-batch"}, {"kv-read-grown", "kv-read"},
	{"raft-write", "kv-write"}, {"raft1-write", "kv-write"}, {"raft-write", "raft1-write"}, {"raft-read-standby", "raft-read"}}

// parseWorkloads splits the named workloads (the defaults when none) into
// those measured every round and those measured once; an unknown or
// repeated name is an error.
func parseWorkloads(args []string) (rounds, once []string, err error) {
	if len(args) == 0 {
		args = defaultWorkloads
	}
	for i, a := range args {
		if slices.Contains(args[:i], a) {
			return nil, nil, fmt.Errorf("workload %q named twice", a)
		}
		switch {
		case slices.Contains(onceWorkloads, a):
			once = append(once, a)
		case slices.Contains(roundWorkloads, a):
			rounds = append(rounds, a)
		default:
			return nil, nil, fmt.Errorf("unknown workload %q: use %s", a, strings.Join(slices.Concat(roundWorkloads, onceWorkloads), ", "))
		}
	}
	return rounds, once, nil
}

// ratios compares, for each workload whose ceiling ran in the same round,
// throughput (higher is better), p99 and CPU per request (lower is better).
func ratios(res map[string]bench.Result) []string {
	var out []string
	for _, p := range pairsIn(res) {
		w, okW := res[p.work]
		c, okC := res[p.ceiling]
		if !okW || !okC {
			continue
		}
		out = append(out, fmt.Sprintf("%s/%s: req/s %s, p99 %s×, cpu/req %s×", p.work, p.ceiling,
			fmtRatio(w.RPS(), c.RPS()), fmtRatio(w.P99.Seconds(), c.P99.Seconds()),
			fmtRatio(w.CPUPerOp().Seconds(), c.CPUPerOp().Seconds())))
	}
	return out
}

func ratio(a, b float64) float64 {
	if b <= 0 || a <= 0 {
		return math.NaN()
	}
	return a / b
}

func fmtRatio(a, b float64) string {
	r := ratio(a, b)
	if math.IsNaN(r) {
		return "-"
	}
	return fmt.Sprintf("%.2f", r)
}

// summarize prints, per workload, the median over the rounds of req/s,
// p50, p99 and CPU per request, and the median of each round's ratios.
func summarize(w io.Writer, names []string, rounds []map[string]bench.Result) {
	fmt.Fprintf(w, "medians of %d rounds:\n", len(rounds))
	for _, n := range names {
		var rps, p50, p99, cpu []float64
		for _, r := range rounds {
			if res, ok := r[n]; ok {
				rps = append(rps, res.RPS())
				p50 = append(p50, float64(res.P50))
				p99 = append(p99, float64(res.P99))
				cpu = append(cpu, float64(res.CPUPerOp()))
			}
		}
		if len(rps) == 0 {
			continue
		}
		fmt.Fprintf(w, "%-14s %8.0f req/s  p50 %-9s p99 %-9s cpu/req %s\n", n, median(rps),
			time.Duration(median(p50)).Round(time.Microsecond), time.Duration(median(p99)).Round(time.Microsecond),
			time.Duration(median(cpu)).Round(100*time.Nanosecond))
	}
	for _, p := range pairsIn(rounds...) {
		var rps, p99, cpu []float64
		for _, r := range rounds {
			a, okA := r[p.work]
			b, okB := r[p.ceiling]
			if okA && okB {
				rps = append(rps, ratio(a.RPS(), b.RPS()))
				p99 = append(p99, ratio(a.P99.Seconds(), b.P99.Seconds()))
				cpu = append(cpu, ratio(a.CPUPerOp().Seconds(), b.CPUPerOp().Seconds()))
			}
		}
		if len(rps) > 0 {
			fmt.Fprintf(w, "%-14s %s/%s (median of the rounds' ratios): req/s %.2f, p99 %.2f×, cpu/req %.2f×\n",
				"ratio", p.work, p.ceiling, median(rps), median(p99), median(cpu))
		}
	}
}

// median of xs, NaNs (ratios with a missing side) left out.
func median(xs []float64) float64 {
	xs = slices.DeleteFunc(slices.Clone(xs), math.IsNaN)
	if len(xs) == 0 {
		return math.NaN()
	}
	slices.Sort(xs)
	if len(xs)%2 == 1 {
		return xs[len(xs)/2]
	}
	return (xs[len(xs)/2-1] + xs[len(xs)/2]) / 2
}

// bareServer is the bare-http ceiling: "coffer bench-bare-http" in a process
// of its own, so that its CPU is read from /proc as the server's is.
type bareServer struct {
	cmd  *exec.Cmd
	addr string
}

func (b *bareServer) stop() {
	if b != nil && b.cmd.Process != nil {
		_ = b.cmd.Process.Signal(os.Interrupt)
		_ = b.cmd.Wait()
	}
}

// bareHTTP measures GETs against the bare server, which answers with a body
// as long as the response to a KV read of this run.
func (s *benchServer) bareHTTP(c *ucli.Context, cfg bench.Config) (*bench.Result, error) {
	if err := s.startBareOnce(c.Context); err != nil {
		return nil, err
	}
	cfg.CPU = bench.ProcCPU(s.bare.cmd.Process.Pid)
	url := s.bare.addr + "/v1/secret/data/bench/key-0"
	res := bench.Run(c.Context, cfg, func(ctx context.Context, hc *http.Client, _, _ int) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		req.Header.Set("X-Vault-Token", s.token)
		return drain(hc.Do(req))
	})
	return &res, nil
}

// startBareOnce starts the bare-http process on first use, serving the
// response body of a KV read of this run (the same bytes, so the openbao
// client can decode it too).
func (s *benchServer) startBareOnce(ctx context.Context) error {
	if s.bare != nil {
		return nil
	}
	body, err := s.readBody(ctx)
	if err != nil {
		return err
	}
	file := filepath.Join(s.dir, "bare-body.json")
	if err := os.WriteFile(file, body, 0o600); err != nil {
		return err
	}
	s.bare, err = startBare(ctx, file)
	return err
}

// readBody is the response body of a KV read in this run.
func (s *benchServer) readBody(ctx context.Context) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.addr+"/v1/secret/data/bench/key-0", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("X-Vault-Token", s.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("read a KV key for the bare server's body: status %d, %v", resp.StatusCode, err)
	}
	return body, nil
}

func drain(resp *http.Response, err error) error {
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}

// startBare starts the bare-http process serving the contents of file.
func startBare(ctx context.Context, file string) (*bareServer, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, exe, "bench-bare-http", "-body-file="+file)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	b := &bareServer{cmd: cmd}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		b.stop()
		return nil, fmt.Errorf("bare-http server printed no address: %w", err)
	}
	b.addr = "http://" + strings.TrimSpace(line)
	return b, nil
}

// bboltBatch measures the bare bbolt Batch loop in a new file under dir.
func bboltBatch(c *ucli.Context, cfg bench.Config, dir string) (*bench.Result, error) {
	op, closeDB, err := bench.BoltBatch(dir, c.Int("keys"), c.Int("value-size"))
	if err != nil {
		return nil, err
	}
	cfg.CPU = bench.SelfCPU
	res := bench.Run(c.Context, cfg, op)
	err = closeDB()
	return &res, errors.Join(err, os.RemoveAll(dir))
}

// profile fetches a CPU profile of the server over the warm-up and the
// measured time of round 1 into the -profile directory, with the
// allocation profile before and after (compare them with go tool pprof
// -base NAME.allocs-start.pprof NAME.allocs.pprof); the returned stop
// waits for them.
func (s *benchServer) profile(c *ucli.Context, name string, round int) (stop func() error) {
	dir := c.String("profile")
	if dir == "" || round != 0 {
		return func() error { return nil }
	}
	name += s.profileTag
	if err := s.fetchProfile(c.Context, dir, "allocs", name+".allocs-start.pprof"); err != nil {
		return func() error { return err }
	}
	secs := int(math.Ceil((c.Duration("warmup") + c.Duration("duration")).Seconds()))
	done := make(chan error, 1)
	go func() {
		done <- s.fetchProfile(c.Context, dir, fmt.Sprintf("profile?seconds=%d", secs), name+".cpu.pprof")
	}()
	return func() error {
		return errors.Join(<-done, s.fetchProfile(c.Context, dir, "allocs", name+".allocs.pprof"))
	}
}

// benchBareHTTPCommand is the bare-http ceiling's process (hidden: only
// "coffer bench" starts it). It prints its address, then serves a fixed
// JSON body, -body-file's contents or else -size bytes, on loopback until
// interrupted.
func benchBareHTTPCommand() *ucli.Command {
	return &ucli.Command{
		Name:   "bench-bare-http",
		Hidden: true,
		Flags: []ucli.Flag{&ucli.IntFlag{Name: "size", Value: 460, Usage: "bytes of the response body"},
			&ucli.StringFlag{Name: "body-file", Usage: "file whose contents are the response body (instead of -size)"}},
		Action: func(c *ucli.Context) error {
			body := fixedBody(c.Int("size"))
			if f := c.String("body-file"); f != "" {
				var err error
				if body, err = os.ReadFile(f); err != nil {
					return err
				}
			}
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				return err
			}
			// Background jobs of a shell start with SIGINT ignored, which the
			// process would inherit; asking for it restores the stop.
			ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
			defer stop()
			fmt.Fprintln(c.App.Writer, ln.Addr().String())
			srv := &http.Server{Handler: bench.FixedHandler(body), ReadHeaderTimeout: 10 * time.Second}
			go func() {
				<-ctx.Done()
				_ = srv.Close()
			}()
			if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		},
	}
}

// fixedBody is a JSON object of exactly n bytes (at least 10).
func fixedBody(n int) []byte {
	const pre, post = `{"data":"`, `"}`
	pad := max(0, n-len(pre)-len(post))
	return []byte(pre + strings.Repeat("x", pad) + post)
}
