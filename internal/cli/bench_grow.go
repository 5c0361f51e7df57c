package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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
// own, preloaded with n KV v2 keys (bench.Preload: through the KV engine
// and the barrier in large transactions, the server stopped), and
// restarts it on the grown store. The store is under dir, or in -grow-dir
// when set: there a store grown by an earlier run with the same n and
// size is reused (grownState), and a new one is kept for the next run.
func startGrown(c *ucli.Context, dir string, ports *portPicker, n, size int) (*benchServer, error) {
	dir = filepath.Join(dir, "grown")
	if gd := c.String("grow-dir"); gd != "" {
		dir = gd
		if g, err := reuseGrown(c, dir, ports, n, size); g != nil || err != nil {
			return g, err
		}
	}
	if err := os.Mkdir(dir, 0o700); err != nil && !(errors.Is(err, os.ErrExist) && isEmptyDir(dir)) {
		return nil, fmt.Errorf("the grown store's directory must be new or empty: %w", err)
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
	fmt.Fprintf(c.App.Writer, "grown store: %d KV v2 keys preloaded in %s through the KV engine and the barrier, "+
		"10,000 writes a bbolt transaction; file %.0f MiB\n", n, time.Since(t0).Round(100*time.Millisecond), fileMiB(dir))
	if _, err := g.launch(c.Context); err != nil {
		return nil, err
	}
	st, _ := json.Marshal(grownState{Keys: n, ValueSize: size, Token: g.token})
	return g, os.WriteFile(filepath.Join(dir, grownStateFile), st, 0o600)
}

// grownStateFile, in a kept grown store's directory, says what the store
// holds; it is written once the preload is complete.
const grownStateFile = "grown.json"

type grownState struct {
	Keys      int    `json:"keys"`
	ValueSize int    `json:"value_size"`
	Token     string `json:"root_token"`
}

// reuseGrown starts a server on the grown store kept in dir by an earlier
// run; nil, nil when dir holds none. The file is read through once first,
// so that the page cache holds it as it did after the preload.
func reuseGrown(c *ucli.Context, dir string, ports *portPicker, n, size int) (*benchServer, error) {
	raw, err := os.ReadFile(filepath.Join(dir, grownStateFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	var st grownState
	if err == nil {
		err = json.Unmarshal(raw, &st)
	}
	if err != nil {
		return nil, fmt.Errorf("grown store in %s: %w", dir, err)
	}
	if st.Keys != n || st.ValueSize != size {
		return nil, fmt.Errorf("the grown store in %s holds %d keys of %d bytes, not %d of %d: use another -grow-dir",
			dir, st.Keys, st.ValueSize, n, size)
	}
	if err := readThrough(filepath.Join(dir, "data", "coffer.db")); err != nil {
		return nil, err
	}
	addr, err := ports.next()
	if err != nil {
		return nil, err
	}
	g, err := launchConfig(c.Context, dir, addr, benchConfig(dir, addr), "")
	if err != nil {
		return nil, err
	}
	g.token = st.Token
	fmt.Fprintf(c.App.Writer, "grown store: %d KV v2 keys reused from %s; file %.0f MiB\n", n, dir, fileMiB(dir))
	return g, nil
}

// readThrough reads a file once, to bring it into the page cache.
func readThrough(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(io.Discard, f)
	return err
}

func isEmptyDir(dir string) bool {
	ents, err := os.ReadDir(dir)
	return err == nil && len(ents) == 0
}

func fileMiB(dir string) float64 {
	fi, err := os.Stat(filepath.Join(dir, "data", "coffer.db"))
	if err != nil {
		return 0
	}
	return float64(fi.Size()) / (1 << 20)
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
