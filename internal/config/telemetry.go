package config

import (
	"strings"
	"time"

	"github.com/hashicorp/hcl/hcl/ast"
)

// Telemetry is the server's telemetry stanza, in Vault's shape.
type Telemetry struct {
	// PrometheusRetentionTime turns the Prometheus format of sys/metrics
	// on when positive (default 24h); written as 0 it turns it off.
	PrometheusRetentionTime time.Duration
	// DisableHostname drops the host label from every series.
	DisableHostname bool
	// UsageGaugePeriod is how often the gauges that scan storage (token
	// count) are refreshed (default 10m); "none" turns them off (0).
	UsageGaugePeriod time.Duration
	Line             int
}

// Defaults of the telemetry stanza, as in Vault.
const (
	DefaultPrometheusRetentionTime = 24 * time.Hour
	DefaultUsageGaugePeriod        = 10 * time.Minute
)

// ListenerTelemetry is a listener's telemetry block.
type ListenerTelemetry struct {
	// UnauthenticatedMetricsAccess serves sys/metrics on this listener
	// without a token.
	UnauthenticatedMetricsAccess bool
}

// telemetry reads the top-level telemetry { ... } block.
func (d *decoder) telemetry(s *Server, v ast.Node) error {
	body, ok := v.(*ast.ObjectType)
	if !ok {
		return d.errorf(v.Pos(), ErrInvalidValue, "telemetry must be a block: telemetry { prometheus_retention_time = \"24h\" }")
	}
	t := Telemetry{Line: v.Pos().Line, PrometheusRetentionTime: DefaultPrometheusRetentionTime, UsageGaugePeriod: DefaultUsageGaugePeriod}
	fields := map[string]func(ast.Node) error{
		"prometheus_retention_time": d.durationOrOff(&t.PrometheusRetentionTime, "prometheus_retention_time", "0"),
		"disable_hostname":          d.boolInto(&t.DisableHostname, "disable_hostname"),
		"usage_gauge_period":        d.durationOrOff(&t.UsageGaugePeriod, "usage_gauge_period", "none"),
	}
	if _, err := d.body(body, "telemetry", fields); err != nil {
		return err
	}
	s.Telemetry = t
	return nil
}

// listenerTelemetry reads a listener's telemetry { ... } block.
func (d *decoder) listenerTelemetry(l *Listener, v ast.Node) error {
	body, ok := v.(*ast.ObjectType)
	if !ok {
		return d.errorf(v.Pos(), ErrInvalidValue, "telemetry in a listener must be a block: telemetry { unauthenticated_metrics_access = true }")
	}
	fields := map[string]func(ast.Node) error{
		"unauthenticated_metrics_access": d.boolInto(&l.Telemetry.UnauthenticatedMetricsAccess, "unauthenticated_metrics_access"),
	}
	_, err := d.body(body, `listener "tcp" telemetry`, fields)
	return err
}

// durationOrOff reads a positive duration, or off (or "0") as zero.
func (d *decoder) durationOrOff(dst *time.Duration, key, off string) func(ast.Node) error {
	positive := d.durationInto(dst, key)
	return func(v ast.Node) error {
		if lit, ok := v.(*ast.LiteralType); ok {
			raw := strings.Trim(strings.TrimSpace(lit.Token.Text), `"`)
			if raw == "0" || strings.EqualFold(raw, off) {
				*dst = 0
				return nil
			}
		}
		return positive(v)
	}
}
