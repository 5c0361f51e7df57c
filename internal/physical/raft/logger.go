package raft

import (
	"context"
	"encoding/json"
	"log/slog"

	"github.com/hashicorp/go-hclog"
)

type hclogLogger = hclog.Logger

// newHCLogger gives raft an hclog.Logger whose lines end up in logger:
// hclog writes JSON lines, which slogWriter turns back into records.
func newHCLogger(logger *slog.Logger) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{
		Name:        "raft",
		Level:       hclog.Info,
		Output:      slogWriter{logger},
		JSONFormat:  true,
		DisableTime: true,
	})
}

type slogWriter struct{ l *slog.Logger }

// Write takes one JSON line from hclog; raft's lines hold node IDs,
// addresses and indexes, never stored values.
func (w slogWriter) Write(p []byte) (int, error) {
	var m map[string]any
	if err := json.Unmarshal(p, &m); err != nil {
		w.l.Info(string(p))
		return len(p), nil
	}
	msg, _ := m["@message"].(string)
	level := slog.LevelInfo
	switch m["@level"] {
	case "warn":
		level = slog.LevelWarn
	case "error":
		level = slog.LevelError
	case "debug", "trace":
		level = slog.LevelDebug
	}
	attrs := make([]any, 0, 2*len(m))
	for k, v := range m {
		if k != "@message" && k != "@level" && k != "@module" {
			attrs = append(attrs, k, v)
		}
	}
	w.l.Log(context.Background(), level, msg, attrs...)
	return len(p), nil
}
