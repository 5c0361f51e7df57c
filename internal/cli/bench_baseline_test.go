package cli

import (
	"bytes"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cofferhq/coffer/internal/bench"
)

func TestBaselineRatios(t *testing.T) {
	t.Parallel()
	var rounds []map[string]bench.Result
	for _, k := range []int{1, 3, 2} {
		rounds = append(rounds, map[string]bench.Result{
			"kv-read-client":           result(3000*k, 2*time.Millisecond, 50*time.Microsecond),
			"kv-read-client" + baseTag: result(2000*k, 4*time.Millisecond, time.Duration(90+10*k)*time.Microsecond),
			"bare-http-client":         result(4000*k, 2*time.Millisecond, 40*time.Microsecond),
		})
	}
	got := ratios(rounds[0])
	want := []string{"kv-read-client/bare-http-client: req/s 0.75, p99 1.00×, cpu/req 1.25×",
		"kv-read-client/kv-read-client@base: req/s 1.50, p99 0.50×, cpu/req 0.50×",
		"kv-read-client@base/bare-http-client: req/s 0.50, p99 2.00×, cpu/req 2.50×"}
	if !slices.Equal(got, want) {
		t.Fatalf("ratios = %q, want %q", got, want)
	}
	var out bytes.Buffer
	summarize(&out, withBaseline([]string{"kv-read-client"}), rounds)
	s := out.String()
	// cpu/req ratios per round: 50/100, 50/120, 50/110 → median 0.45.
	for _, w := range []string{"kv-read-client@base ", "cpu/req 110µs",
		"kv-read-client/kv-read-client@base (median of the rounds' ratios): req/s 1.50, p99 0.50×, cpu/req 0.45×"} {
		if !strings.Contains(s, w) {
			t.Fatalf("summary lacks %q:\n%s", w, s)
		}
	}
	if got := withBaseline([]string{"a", "b"}); !slices.Equal(got, []string{"a", "a@base", "b", "b@base"}) {
		t.Fatalf("withBaseline = %q", got)
	}
}
