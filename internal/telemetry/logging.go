package telemetry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
)

// LevelTrace is below slog's debug, for Vault's "trace".
const LevelTrace = slog.LevelDebug - 4

// RootLogger names the loggers without a component attribute.
const RootLogger = "core"

// ErrUnknownLogger is returned for a logger name no component uses.
var ErrUnknownLogger = errors.New("unknown logger")

// Levels are the run-time log levels of the server's loggers, which
// sys/loggers reads and changes. A logger is named by the "component"
// attribute it was made with (logger.With("component", "lease")), RootLogger
// when it has none. The configured level (the base LevelVar, which a SIGHUP
// may change) applies unless sys/loggers set one for the logger's name or
// for all loggers. Safe for concurrent use; checking a level takes no lock.
type Levels struct {
	base *slog.LevelVar
	all  override

	mu    sync.Mutex
	names map[string]*override
}

// override is a level that applies only while set.
type override struct {
	set atomic.Bool
	lvl slog.LevelVar
}

func (o *override) get() (slog.Level, bool) {
	if !o.set.Load() {
		return 0, false
	}
	return o.lvl.Level(), true
}

// NewLevels returns levels whose configured level is base.
func NewLevels(base *slog.LevelVar) *Levels {
	l := &Levels{base: base, names: map[string]*override{}}
	l.named(RootLogger)
	return l
}

// named returns the override of the logger name, creating it.
func (l *Levels) named(name string) *override {
	l.mu.Lock()
	defer l.mu.Unlock()
	o, ok := l.names[name]
	if !ok {
		o = new(override)
		l.names[name] = o
	}
	return o
}

// level is the level in force for the logger whose override is o.
func (l *Levels) level(o *override) slog.Level {
	if lvl, ok := o.get(); ok {
		return lvl
	}
	if lvl, ok := l.all.get(); ok {
		return lvl
	}
	return l.base.Level()
}

// Snapshot returns every known logger's level by name (trace, debug,
// info, warn, error), as GET sys/loggers reports them.
func (l *Levels) Snapshot() map[string]string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[string]string, len(l.names))
	for name, o := range l.names {
		out[name] = LevelName(l.level(o))
	}
	return out
}

// Names returns the known logger names, sorted.
func (l *Levels) Names() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Sorted(maps.Keys(l.names))
}

// Set sets the level of the logger name, or of every logger when name is
// empty (which also drops the levels set per name).
func (l *Levels) Set(name, level string) error {
	lvl, err := ParseLevel(level)
	if err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if name == "" {
		l.all.lvl.Set(lvl)
		l.all.set.Store(true)
		for _, o := range l.names {
			o.set.Store(false)
		}
		return nil
	}
	o, ok := l.names[name]
	if !ok {
		return fmt.Errorf("%w %q: known loggers are %s", ErrUnknownLogger, name, strings.Join(slices.Sorted(maps.Keys(l.names)), ", "))
	}
	o.lvl.Set(lvl)
	o.set.Store(true)
	return nil
}

// Reset returns the logger name, or every logger when name is empty, to
// the configured level.
func (l *Levels) Reset(name string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if name == "" {
		l.all.set.Store(false)
		for _, o := range l.names {
			o.set.Store(false)
		}
		return nil
	}
	o, ok := l.names[name]
	if !ok {
		return fmt.Errorf("%w %q", ErrUnknownLogger, name)
	}
	o.set.Store(false)
	return nil
}

// ParseLevel reads Vault's level names: trace, debug, info, warn, error.
func ParseLevel(s string) (slog.Level, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "trace":
		return LevelTrace, nil
	case "debug":
		return slog.LevelDebug, nil
	case "info":
		return slog.LevelInfo, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error", "err":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("invalid log level %q: use trace, debug, info, warn or error", s)
}

// LevelName is the Vault name of lvl.
func LevelName(lvl slog.Level) string {
	switch {
	case lvl <= LevelTrace:
		return "trace"
	case lvl <= slog.LevelDebug:
		return "debug"
	case lvl <= slog.LevelInfo:
		return "info"
	case lvl <= slog.LevelWarn:
		return "warn"
	}
	return "error"
}

// NewLogHandler returns a handler that writes through inner at the levels
// of lv and adds request_id to every record logged with the context of a
// request (logger.InfoContext(ctx, …)). inner must let every level through
// (HandlerOptions.Level = LevelTrace): lv decides.
func NewLogHandler(inner slog.Handler, lv *Levels) slog.Handler {
	return &logHandler{inner: inner, levels: lv, level: lv.named(RootLogger)}
}

type logHandler struct {
	inner  slog.Handler
	levels *Levels
	level  *override
}

func (h *logHandler) Enabled(_ context.Context, lvl slog.Level) bool {
	return lvl >= h.levels.level(h.level)
}

func (h *logHandler) Handle(ctx context.Context, r slog.Record) error {
	if req := FromContext(ctx); req != nil && req.ID != "" {
		r.AddAttrs(slog.String("request_id", req.ID))
	}
	return h.inner.Handle(ctx, r)
}

func (h *logHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	level := h.level
	for _, a := range attrs {
		if a.Key == "component" {
			level = h.levels.named(a.Value.String())
		}
	}
	return &logHandler{inner: h.inner.WithAttrs(attrs), levels: h.levels, level: level}
}

func (h *logHandler) WithGroup(name string) slog.Handler {
	return &logHandler{inner: h.inner.WithGroup(name), levels: h.levels, level: h.level}
}
