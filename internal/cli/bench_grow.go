package cli

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
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
	"github.com/cofferhq/coffer/internal/config"
	"github.com/cofferhq/coffer/internal/physical/cache"
)

// grownWorkloads need -grow: they run against a second server whose store
// holds -grow KV v2 keys.
var grownWorkloads = []string{"kv-read-grown", "rss-grown", "startup-grown"}

// startGrown starts the second server of a growth run on a store of its
// own under dir, preloaded with n KV v2 keys (bench.Preload: through the
// KV engine and the barrier in large transactions, the server stopped),
// and restarts it on the grown store.
func startGrown(c *ucli.Context, dir string, ports *portPicker, n, size int) (*benchServer, error) {
	dir = filepath.Join(dir, "grown")
	if err := os.Mkdir(dir, 0o700); err != nil {
		return nil, err
	}
	g, err := startBenchServer(c.Context, dir, ports)
	if err != nil {
		return nil, err
	}
	var mounts struct {
		Data map[string]struct {
			UUID string `json:"uuid"`
		} `json:"data"`
	}
	if err := g.call(c.Context, http.MethodGet, "sys/mounts", "", &mounts); err != nil {
		g.stop()
		return nil, err
	}
	g.stop()
	key, err := (&config.Seal{Type: config.SealStatic, KeyFile: filepath.Join(dir, "seal.key")}).ReadKey()
	if err != nil {
		return nil, err
	}
	t0 := time.Now()
	err = bench.Preload{DataDir: filepath.Join(dir, "data"), Key: key, MountUUID: mounts.Data["secret/"].UUID,
		To: n, ValueSize: size}.Run(c.Context)
	if err != nil {
		return nil, err
	}
	fi, _ := os.Stat(filepath.Join(dir, "data", "coffer.db"))
	var mib float64
	if fi != nil {
		mib = float64(fi.Size()) / (1 << 20)
	}
	fmt.Fprintf(c.App.Writer, "grown store: %d KV v2 keys preloaded in %s through the KV engine and the barrier, "+
		"10,000 writes a bbolt transaction; file %.0f MiB\n", n, time.Since(t0).Round(100*time.Millisecond), mib)
	if _, err := g.launch(c.Context); err != nil {
		return nil, err
	}
	return g, nil
}

// kvReadGrown reads a random key of all n on the grown server.
func (s *benchServer) kvReadGrown(c *ucli.Context, cfg bench.Config, n, round int) (*bench.Result, error) {
	g := s.grown
	cfg.CPU = bench.ProcCPU(g.cmd.Process.Pid)
	stop := g.profile(c, "kv-read-grown", round)
	res := bench.Run(c.Context, cfg, func(ctx context.Context, hc *http.Client, _, _ int) error {
		return g.do(ctx, hc, http.MethodGet, "secret/data/bench/key-"+strconv.Itoa(rand.IntN(n)), nil)
	})
	return &res, stop()
}

// rssGrown reports the grown server's memory idle after the rounds, after
// a restart, and after reading more distinct keys than the read cache
// holds, so that the cache is full.
func (s *benchServer) rssGrown(c *ucli.Context) error {
	g, out := s.grown, c.App.Writer
	time.Sleep(2 * time.Second)
	if err := reportRSS(out, "rss-grown", "idle after the workloads above", g.cmd.Process.Pid); err != nil {
		return err
	}
	g.stop()
	if _, err := g.launch(c.Context); err != nil {
		return err
	}
	time.Sleep(2 * time.Second)
	if err := reportRSS(out, "rss-grown", "idle after a restart", g.cmd.Process.Pid); err != nil {
		return err
	}
	distinct := min(c.Int("grow"), cache.DefaultSize+cache.DefaultSize/4)
	if err := g.readAll(c.Context, c.Int("clients"), distinct); err != nil {
		return err
	}
	time.Sleep(2 * time.Second)
	return reportRSS(out, "rss-grown", fmt.Sprintf("idle after reading %d distinct keys (the read cache holds %d entries)",
		distinct, cache.DefaultSize), g.cmd.Process.Pid)
}

// readAll reads keys 0…n-1 once each from clients goroutines.
func (s *benchServer) readAll(ctx context.Context, clients, n int) error {
	hc := bench.NewClient(clients)
	defer hc.CloseIdleConnections()
	var next atomic.Int64
	errs := make([]error, clients)
	var wg sync.WaitGroup
	for w := range clients {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < n && errs[w] == nil; i = int(next.Add(1) - 1) {
				errs[w] = s.do(ctx, hc, http.MethodGet, "secret/data/bench/key-"+strconv.Itoa(i), nil)
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// startupsGrown restarts the grown server n times and reports the time
// from exec to a 200 from sys/health (the static seal unseals before the
// listener opens, so this includes the unseal) and to the first KV read.
func (s *benchServer) startupsGrown(c *ucli.Context, n int) error {
	g := s.grown
	var health, read []time.Duration
	for range n {
		g.stop()
		t0 := time.Now()
		if _, err := g.launch(c.Context); err != nil {
			return err
		}
		health = append(health, time.Since(t0))
		key := "secret/data/bench/key-" + strconv.Itoa(rand.IntN(c.Int("grow")))
		if err := g.call(c.Context, http.MethodGet, key, "", nil); err != nil {
			return err
		}
		read = append(read, time.Since(t0))
	}
	med := func(ds []time.Duration) string {
		slices.Sort(ds)
		return fmt.Sprintf("median %s min %s max %s", ds[len(ds)/2].Round(100*time.Microsecond),
			ds[0].Round(100*time.Microsecond), ds[len(ds)-1].Round(100*time.Microsecond))
	}
	fmt.Fprintf(c.App.Writer, "%-9s %d keys, exec to 200 from sys/health (unsealed, active): %s; to the first KV read: %s (%d runs)\n",
		"startup-grown", c.Int("grow"), med(health), med(read), n)
	return nil
}

// reportRSS prints a process's resident memory, split into anonymous
// (heap, stacks) and file-backed (bbolt's mapped pages, the binary).
func reportRSS(w interface{ Write([]byte) (int, error) }, name, when string, pid int) error {
	m, err := procStatus(pid)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "%-9s RSS %.1f MiB (anon %.1f, file %.1f) %s\n", name,
		float64(m["VmRSS"])/1024, float64(m["RssAnon"])/1024, float64(m["RssFile"])/1024, when)
	return nil
}

// procStatus reads the kB fields of /proc/<pid>/status.
func procStatus(pid int) (map[string]int, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return nil, err
	}
	out := map[string]int{}
	for _, line := range strings.Split(string(raw), "\n") {
		name, rest, ok := strings.Cut(line, ":")
		rest = strings.TrimSpace(rest)
		if !ok || !strings.HasSuffix(rest, " kB") {
			continue
		}
		if n, err := strconv.Atoi(strings.TrimSuffix(rest, " kB")); err == nil {
			out[name] = n
		}
	}
	if _, ok := out["VmRSS"]; !ok {
		return nil, errors.New("VmRSS not found")
	}
	return out, nil
}

// startGrownIfAsked starts the grown server when -grow is set, and refuses
// the grown workloads without it.
func (s *benchServer) startGrownIfAsked(c *ucli.Context, dir string, workloads []string) error {
	n := c.Int("grow")
	if n <= 0 {
		for _, w := range workloads {
			if slices.Contains(grownWorkloads, w) {
				return fmt.Errorf("workload %s needs -grow=N (the number of keys in the grown store)", w)
			}
		}
		return nil
	}
	g, err := startGrown(c, dir, s.ports, n, c.Int("value-size"))
	if err != nil {
		return fmt.Errorf("grow: %w", err)
	}
	s.grown = g
	return nil
}
