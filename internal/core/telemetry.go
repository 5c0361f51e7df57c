package core

import (
	"context"
	"log/slog"
	"strings"
	"time"

	"github.com/cofferhq/coffer/internal/logical"
	"github.com/cofferhq/coffer/internal/router"
	"github.com/cofferhq/coffer/internal/system"
	"github.com/cofferhq/coffer/internal/telemetry"
	"github.com/cofferhq/coffer/internal/token"
)

// HandleRequest serves one request (handleRequest) inside its telemetry
// record: the record puts the request ID in every log line written with
// ctx, and, with Config.Metrics, times the request by mount type and
// operation and counts logins.
func (c *Core) HandleRequest(ctx context.Context, req *logical.Request) (*logical.Response, error) {
	rs := new(requestState)
	ctx, rec := c.conf.Metrics.BeginIn(&rs.record, ctx, req.ID)
	// The clock is read for the debug line only when it will be written.
	debug := c.logger.Enabled(ctx, slog.LevelDebug)
	var start time.Time
	if debug {
		start = time.Now()
	}
	resp, err := c.handleRequest(ctx, req, rs)
	err = c.notLeaderError(ctx, err)
	rec.End(strings.HasPrefix(req.Path, "sys/"), string(req.Operation), err == nil && resp != nil && resp.Auth != nil, err != nil)
	if debug {
		// The mount type, never the path: a path may name a user.
		args := []any{"operation", string(req.Operation), "mount_type", rec.MountType(), "duration", time.Since(start)}
		if err != nil {
			args = append(args, "error", err.Error())
		}
		c.logger.DebugContext(ctx, "request handled", args...)
	}
	return resp, err
}

// Metrics returns Config.Metrics (nil when none).
func (c *Core) Metrics() *telemetry.Metrics { return c.conf.Metrics }

// noteRoute tells the request's record where it was routed; a request
// served without a token by an auth method is a login.
func noteRoute(ctx context.Context, route *router.Route, sub *logical.Request) {
	telemetry.Route(ctx, route.Type, string(sub.Operation), sub.Unauthenticated && strings.HasPrefix(route.Path, "auth/"))
}

// instrument wires the metrics into what New builds: storage and barrier
// timings, and the gauges read at every scrape. Called by New once.
func (c *Core) instrument() {
	m := c.conf.Metrics
	if m == nil {
		return
	}
	c.barrier.SetObserver(m.ObserveBarrier)
	m.GaugeFunc("core", "unsealed", "1 while the server is unsealed, 0 while sealed.", func() float64 {
		if c.Sealed() {
			return 0
		}
		return 1
	})
	m.GaugeFunc("expire", "num_leases", "Leases outstanding (0 while sealed).", func() float64 {
		if st := c.state.Load(); st != nil {
			return float64(st.leases.Count())
		}
		return 0
	})
	m.GaugeFunc("expire", "revocation_failures", "Leases whose revocation failed and is being retried.", func() float64 {
		if st := c.state.Load(); st != nil {
			n, _ := st.leases.FailureCounts()
			return float64(n)
		}
		return 0
	})
}

// sysTelemetry is what the sys backend serves sys/metrics and sys/loggers
// from; a nil pointer must not become a non-nil interface.
func sysTelemetry(conf Config, info system.Info) system.Info {
	if conf.Metrics != nil {
		info.Metrics = conf.Metrics
	}
	if conf.Loggers != nil {
		info.Loggers = conf.Loggers
	}
	return info
}

// tokenCreated counts a new token under the type of the mount whose path
// issued it: never the path itself, which may name a user.
func (c *Core) tokenCreated(rt *router.Router) func(*token.Entry) {
	m := c.conf.Metrics
	if m == nil {
		return nil
	}
	return func(e *token.Entry) {
		typ := "token"
		if route, _ := rt.Match(e.Path); route != nil {
			typ = route.Type
		}
		m.TokenCreated(typ, e.Type)
	}
}

// reportTokenCount refreshes the token gauge now and every
// usage_gauge_period until ctx ends.
func (c *Core) reportTokenCount(ctx context.Context, ts *token.Store) {
	m := c.conf.Metrics
	period := m.UsageGaugePeriod()
	if period <= 0 {
		return
	}
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		if n, err := ts.Count(ctx); err == nil {
			m.SetTokenCount(n)
		} else if ctx.Err() == nil {
			c.logger.WarnContext(ctx, "count tokens for the token gauge", "error", err.Error())
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
