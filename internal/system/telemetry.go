package system

import (
	"context"
	"errors"

	"github.com/cofferhq/coffer/internal/framework"
	"github.com/cofferhq/coffer/internal/logical"
	"github.com/cofferhq/coffer/internal/telemetry"
)

// MetricsSource renders sys/metrics (telemetry.Metrics implements it).
type MetricsSource interface {
	// Encode returns the body in format ("prometheus"), or an empty
	// content type for the JSON shape Snapshot gives.
	Encode(format string) (contentType string, body []byte, err error)
	Snapshot() (telemetry.JSON, error)
}

// LogLevels are the run-time log levels behind sys/loggers
// (telemetry.Levels implements it). An empty name means every logger.
type LogLevels interface {
	Snapshot() map[string]string
	Set(name, level string) error
	Reset(name string) error
}

func (b *backend) telemetryPaths() []*framework.Path {
	var paths []*framework.Path
	if b.info.Metrics != nil {
		paths = append(paths, &framework.Path{
			Pattern:    "metrics",
			Fields:     map[string]*framework.FieldSchema{"format": {Type: framework.TypeString, Description: `"prometheus" for the Prometheus text format; empty for JSON.`}},
			Operations: map[logical.Operation]framework.OperationFunc{logical.ReadOperation: b.readMetrics},
			Help:       "The server's metrics, in the Prometheus text format or Vault's JSON shape.",
		})
	}
	if b.info.Loggers != nil {
		level := map[string]*framework.FieldSchema{"level": {Type: framework.TypeString, Description: "trace, debug, info, warn or error."}}
		paths = append(paths, &framework.Path{
			Pattern: "loggers",
			Fields:  level,
			Operations: map[logical.Operation]framework.OperationFunc{
				logical.ReadOperation: b.readLoggers(allLoggers), logical.UpdateOperation: b.setLogLevel(allLoggers),
				logical.DeleteOperation: b.resetLogLevel(allLoggers),
			},
			Help: "Read, set or reset (to the configured level) the log level of every logger.",
		}, &framework.Path{
			Pattern: "loggers/" + framework.GenericNameRegex("name"),
			Fields: map[string]*framework.FieldSchema{
				"name":  {Type: framework.TypeString, Required: true, Description: "The logger, such as core, lease or token."},
				"level": level["level"],
			},
			Operations: map[logical.Operation]framework.OperationFunc{
				logical.ReadOperation: b.readLoggers(oneLogger), logical.UpdateOperation: b.setLogLevel(oneLogger),
				logical.DeleteOperation: b.resetLogLevel(oneLogger),
			},
			Help: "Read, set or reset (to the configured level) the log level of one logger.",
		})
	}
	return paths
}

// readMetrics answers bare, as Vault does: the Prometheus text, or the
// JSON shape without an envelope.
func (b *backend) readMetrics(_ context.Context, _ *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	ct, body, err := b.info.Metrics.Encode(d.String("format"))
	if errors.Is(err, telemetry.ErrPrometheusDisabled) || errors.Is(err, telemetry.ErrUnknownFormat) {
		return nil, logical.InvalidRequest("%s", err.Error())
	}
	if err != nil {
		return nil, err
	}
	if ct != "" {
		return &logical.Response{Raw: logical.RawBody{ContentType: ct, Body: body}}, nil
	}
	snap, err := b.info.Metrics.Snapshot()
	if err != nil {
		return nil, err
	}
	return &logical.Response{Raw: snap}, nil
}

// allLoggers and oneLogger say which logger a sys/loggers path names: ""
// for every one.
func allLoggers(*framework.FieldData) string  { return "" }
func oneLogger(d *framework.FieldData) string { return d.String("name") }

func (b *backend) readLoggers(nameOf func(*framework.FieldData) string) framework.OperationFunc {
	return func(_ context.Context, _ *logical.Request, d *framework.FieldData) (*logical.Response, error) {
		return b.loggerLevels(nameOf(d))
	}
}

func (b *backend) loggerLevels(name string) (*logical.Response, error) {
	levels := b.info.Loggers.Snapshot()
	if name == "" {
		data := make(map[string]any, len(levels))
		for k, v := range levels {
			data[k] = v
		}
		return &logical.Response{Data: data}, nil
	}
	lvl, ok := levels[name]
	if !ok {
		return nil, logical.CodedError(logical.ErrNotFound, "no logger named %q", name)
	}
	return &logical.Response{Data: map[string]any{name: lvl}}, nil
}

func (b *backend) setLogLevel(nameOf func(*framework.FieldData) string) framework.OperationFunc {
	return func(_ context.Context, _ *logical.Request, d *framework.FieldData) (*logical.Response, error) {
		level := d.String("level")
		if level == "" {
			return nil, logical.InvalidRequest("level is required: trace, debug, info, warn or error")
		}
		if err := b.info.Loggers.Set(nameOf(d), level); err != nil {
			return nil, logical.InvalidRequest("%s", err.Error())
		}
		return nil, nil
	}
}

func (b *backend) resetLogLevel(nameOf func(*framework.FieldData) string) framework.OperationFunc {
	return func(_ context.Context, _ *logical.Request, d *framework.FieldData) (*logical.Response, error) {
		if err := b.info.Loggers.Reset(nameOf(d)); err != nil {
			return nil, logical.InvalidRequest("%s", err.Error())
		}
		return nil, nil
	}
}
