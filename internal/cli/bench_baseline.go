package cli

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	ucli "github.com/urfave/cli/v2"

	"github.com/cofferhq/coffer/internal/bench"
)

// baseTag marks the results, and the profiles, of the -baseline server.
const baseTag = "@base"

// baselineWorkloads are the workloads -baseline runs on both servers.
var baselineWorkloads = []string{"kv-read", "kv-read-client", "kv-write"}

// startBaselineIfAsked starts, with -baseline=BINARY, a second server
// from that binary on a store of its own under dir, seeded as the first.
func (s *benchServer) startBaselineIfAsked(c *ucli.Context, dir string) error {
	exe := c.String("baseline")
	if exe == "" {
		return nil
	}
	if _, err := os.Stat(exe); err != nil {
		return fmt.Errorf("-baseline: %w", err)
	}
	bdir := filepath.Join(dir, "baseline")
	if err := os.MkdirAll(bdir, 0o700); err != nil {
		return err
	}
	b, err := startBenchServerFrom(c.Context, exe, bdir, s.ports)
	if err != nil {
		return fmt.Errorf("baseline server: %w", err)
	}
	b.profileTag = baseTag
	s.base = b
	return b.seed(c.Context, c.Int("keys"), c.Int("value-size"))
}

// measure runs workload w of round r and records its result in got. With
// -baseline, the workloads of baselineWorkloads run on the baseline server
// too, under w+baseTag: after this binary's server in even rounds, before
// it in odd ones, so that neither side always runs second.
func (s *benchServer) measure(c *ucli.Context, out io.Writer, w string, r int, got map[string]bench.Result) error {
	order := []*benchServer{s}
	if s.base != nil && slices.Contains(baselineWorkloads, w) {
		order = append(order, s.base)
		if r%2 == 1 {
			slices.Reverse(order)
		}
	}
	for _, srv := range order {
		res, err := srv.workload(c, w, r)
		if err != nil {
			return fmt.Errorf("%s%s: %w", w, srv.profileTag, err)
		}
		if res != nil {
			got[w+srv.profileTag] = *res
			report(out, w+srv.profileTag, *res)
		}
	}
	return nil
}

// withBaseline lists each workload followed by its baseline's name;
// summarize leaves out the names that have no results.
func withBaseline(names []string) []string {
	var out []string
	for _, n := range names {
		out = append(out, n, n+baseTag)
	}
	return out
}

// pairsIn is the ceilings, then for every baseline result in rounds the
// workload against its baseline (this binary / the baseline) and the
// baseline against the workload's ceilings.
func pairsIn(rounds ...map[string]bench.Result) []struct{ work, ceiling string } {
	pairs := slices.Clone(ceilings)
	var base []string
	for _, r := range rounds {
		for k := range r {
			if strings.HasSuffix(k, baseTag) && !slices.Contains(base, k) {
				base = append(base, k)
			}
		}
	}
	slices.Sort(base)
	for _, k := range base {
		w := strings.TrimSuffix(k, baseTag)
		pairs = append(pairs, struct{ work, ceiling string }{w, k})
		for _, p := range ceilings {
			if p.work == w {
				pairs = append(pairs, struct{ work, ceiling string }{k, p.ceiling})
			}
		}
	}
	return pairs
}
