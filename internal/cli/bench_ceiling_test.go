package cli

import (
	"bytes"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cofferhq/coffer/internal/bench"
)

func TestParseWorkloads(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		args        []string
		rounds, one []string
		wantErr     bool
	}{
		"defaults":   {rounds: []string{"bare-http", "kv-read", "bbolt-batch", "kv-write"}, one: []string{"rss", "startup"}},
		"order kept": {args: []string{"startup", "kv-write", "bbolt-batch"}, rounds: []string{"kv-write", "bbolt-batch"}, one: []string{"startup"}},
		"logins":     {args: []string{"jwt-login", "token-create-batch"}, rounds: []string{"jwt-login", "token-create-batch"}},
		"client":     {args: []string{"bare-http", "kv-read-client"}, rounds: []string{"bare-http", "kv-read-client"}},
		"grown":      {args: []string{"kv-read", "kv-read-grown", "startup-grown", "rss-grown"}, rounds: []string{"kv-read", "kv-read-grown"}, one: []string{"startup-grown", "rss-grown"}},
		"raft": {args: []string{"raft-failover", "kv-write", "raft1-write", "raft-write", "raft-read", "raft-read-standby"},
			rounds: []string{"kv-write", "raft1-write", "raft-write", "raft-read", "raft-read-standby"}, one: []string{"raft-failover"}},
		"unknown": {args: []string{"kv-read", "kv-reed"}, wantErr: true},
		"twice":   {args: []string{"kv-read", "kv-read"}, wantErr: true},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			rounds, once, err := parseWorkloads(tc.args)
			if (err != nil) != tc.wantErr {
				t.Fatalf("error %v, want error %v", err, tc.wantErr)
			}
			if !slices.Equal(rounds, tc.rounds) || !slices.Equal(once, tc.one) {
				t.Fatalf("rounds %q once %q; want %q %q", rounds, once, tc.rounds, tc.one)
			}
		})
	}
}

// result is a bench.Result of n requests over 1 s.
func result(n int, p99, cpu time.Duration) bench.Result {
	return bench.Result{Requests: n, Elapsed: time.Second, P50: p99 / 4, P99: p99, CPU: cpu * time.Duration(n)}
}

func TestRatiosAndReport(t *testing.T) {
	t.Parallel()
	round := map[string]bench.Result{
		"bare-http":   result(20000, 4*time.Millisecond, 30*time.Microsecond),
		"kv-read":     result(15000, 6*time.Millisecond, 45*time.Microsecond),
		"bbolt-batch": result(3000, 10*time.Millisecond, 100*time.Microsecond),
	}
	got := ratios(round)
	want := []string{"kv-read/bare-http: req/s 0.75, p99 1.50×, cpu/req 1.50×"}
	if !slices.Equal(got, want) {
		t.Fatalf("ratios without kv-write = %q, want %q", got, want)
	}
	round["kv-write"] = result(2700, 12*time.Millisecond, 0) // no CPU sample
	got = ratios(round)
	if len(got) != 2 || got[1] != "kv-write/bbolt-batch: req/s 0.90, p99 1.20×, cpu/req -×" {
		t.Fatalf("ratios = %q", got)
	}
	var out bytes.Buffer
	report(&out, "kv-read", round["kv-read"])
	line := out.String()
	for _, w := range []string{"kv-read", "15000 req/s", "p99 6ms", "cpu/req 45µs", "ok 15000 errors 0"} {
		if !strings.Contains(line, w) {
			t.Fatalf("report line %q lacks %q", line, w)
		}
	}
}

func TestSummarizeMedians(t *testing.T) {
	t.Parallel()
	var rounds []map[string]bench.Result
	for _, k := range []int{1, 3, 2} {
		rounds = append(rounds, map[string]bench.Result{
			"bare-http": result(10000*k, time.Millisecond, 30*time.Microsecond),
			"kv-read":   result(5000*k+1000, 2*time.Millisecond, 60*time.Microsecond),
		})
	}
	var out bytes.Buffer
	summarize(&out, []string{"bare-http", "kv-read"}, rounds)
	s := out.String()
	// Medians: bare 20,000; kv 11,000; ratios per round 0.6, 0.53, 0.55 → 0.55.
	for _, w := range []string{"medians of 3 rounds", "bare-http         20000 req/s", "kv-read           11000 req/s",
		"kv-read/bare-http (median of the rounds' ratios): req/s 0.55, p99 2.00×, cpu/req 2.00×"} {
		if !strings.Contains(s, w) {
			t.Fatalf("summary lacks %q:\n%s", w, s)
		}
	}
	if m := median([]float64{math.NaN(), 3, 1}); m != 2 {
		t.Fatalf("median ignoring NaN = %v", m)
	}
	if len(fixedBody(384)) != 384 || len(fixedBody(3)) != 11 {
		t.Fatalf("fixedBody lengths %d, %d", len(fixedBody(384)), len(fixedBody(3)))
	}
}
