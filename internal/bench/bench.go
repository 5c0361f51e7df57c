// Package bench is Coffer's load generator: a fixed number of keep-alive
// HTTP clients issue requests for a fixed time, and the result reports
// throughput and latency percentiles. "coffer bench" drives it against a
// server it starts itself or one that is already running.
//
// It measures; it asserts nothing and is not a test helper.
package bench

import (
	"context"
	"net/http"
	"slices"
	"sync"
	"time"
)

// Op issues one request with the worker's client. worker is the worker's
// index and seq counts that worker's requests.
type Op func(ctx context.Context, c *http.Client, worker, seq int) error

// Config describes one run.
type Config struct {
	Clients  int
	Duration time.Duration
	// Warmup runs the load for this long before measuring.
	Warmup time.Duration
	// CPU, when set, samples the CPU time used so far by the process
	// doing the work (ProcCPU, SelfCPU); Run samples it at the start and
	// end of the measured time.
	CPU func() (time.Duration, error)
}

// Result is what a run measured. Latencies are of successful requests.
type Result struct {
	Requests int
	Errors   int
	Elapsed  time.Duration
	P50, P90 time.Duration
	P99, Max time.Duration
	// CPU is what Config.CPU moved by over the measured time; zero
	// without a sampler or when a sample failed.
	CPU time.Duration
}

// CPUPerOp is CPU time per successful request, zero when unknown.
func (r Result) CPUPerOp() time.Duration {
	if r.Requests == 0 || r.CPU <= 0 {
		return 0
	}
	return r.CPU / time.Duration(r.Requests)
}

// RPS is successful requests per second.
func (r Result) RPS() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Requests) / r.Elapsed.Seconds()
}

// NewClient returns an HTTP client that keeps one connection per worker.
func NewClient(clients int) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = clients * 2
	t.MaxIdleConnsPerHost = clients * 2
	t.MaxConnsPerHost = clients * 2
	return &http.Client{Transport: t, Timeout: 30 * time.Second}
}

// Run drives op from cfg.Clients goroutines and returns the measurement.
func Run(ctx context.Context, cfg Config, op Op) Result {
	client := NewClient(cfg.Clients)
	defer client.CloseIdleConnections()
	if cfg.Warmup > 0 {
		run(ctx, client, cfg.Clients, cfg.Warmup, op)
	}
	var cpu0 time.Duration
	var cpuErr error
	if cfg.CPU != nil {
		cpu0, cpuErr = cfg.CPU()
	}
	res := run(ctx, client, cfg.Clients, cfg.Duration, op)
	if cfg.CPU != nil && cpuErr == nil {
		if cpu1, err := cfg.CPU(); err == nil {
			res.CPU = cpu1 - cpu0
		}
	}
	return res
}

func run(ctx context.Context, client *http.Client, clients int, d time.Duration, op Op) Result {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	lat := make([][]time.Duration, clients)
	errs := make([]int, clients)
	var wg sync.WaitGroup
	start := time.Now()
	for w := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l := make([]time.Duration, 0, 1<<14)
			for seq := 0; ctx.Err() == nil; seq++ {
				t0 := time.Now()
				if err := op(ctx, client, w, seq); err != nil {
					if ctx.Err() == nil {
						errs[w]++
					}
					continue
				}
				l = append(l, time.Since(t0))
			}
			lat[w] = l
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	var all []time.Duration
	res := Result{Elapsed: elapsed}
	for w := range clients {
		all = append(all, lat[w]...)
		res.Errors += errs[w]
	}
	res.Requests = len(all)
	if len(all) == 0 {
		return res
	}
	slices.Sort(all)
	pct := func(p float64) time.Duration { return all[min(len(all)-1, int(float64(len(all))*p))] }
	res.P50, res.P90, res.P99, res.Max = pct(0.50), pct(0.90), pct(0.99), all[len(all)-1]
	return res
}
