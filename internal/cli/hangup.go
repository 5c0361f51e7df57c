package cli

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/cofferhq/coffer/internal/config"
)

// catchHangups starts catching SIGHUP. Go's default for a signal nobody
// handles is to exit, and SIGHUP is what terminals send when they close
// and what operators send to reload: it must never end the server, in any
// mode. Call it before anything slow, so there is no window in which a
// SIGHUP still kills.
func catchHangups() chan os.Signal {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	return hup
}

// onHangup calls reload for every SIGHUP until ctx ends.
func onHangup(ctx context.Context, hup <-chan os.Signal, reload func()) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			reload()
		}
	}
}

// configReloader reloads, on SIGHUP, what a running server can change
// without a restart: the log level (unless -log-level overrides the file)
// and every listener's TLS certificate; it also reopens the audit devices'
// files (log rotation). Everything else in the file needs
// a restart. A file that no longer loads changes nothing.
type configReloader struct {
	path      string
	levelFlag string
	level     *slog.LevelVar
	logger    *slog.Logger
	listeners []listener
	// reopenAudit reopens the audit devices; nil in tests without a core.
	reopenAudit func()
}

func (r *configReloader) reload() {
	if cfg, err := config.LoadFile(r.path); err != nil {
		r.logger.Error("SIGHUP: the configuration file does not load; keeping the current log level", "error", err.Error())
	} else if r.levelFlag == "" {
		if lv, err := parseLevel(cfg.LogLevel); err == nil && lv != r.level.Level() {
			r.level.Set(lv)
			r.logger.Info("SIGHUP: log level changed", "log_level", cfg.LogLevel)
		}
	}
	reloaded := 0
	for _, l := range r.listeners {
		if l.cert == nil {
			continue
		}
		if err := l.cert.reload(); err != nil {
			r.logger.Error("SIGHUP: keeping the current certificate", "address", l.ln.Addr().String(), "error", err.Error())
			continue
		}
		reloaded++
		r.logger.Info("SIGHUP: reloaded the TLS certificate", "address", l.ln.Addr().String())
	}
	if r.reopenAudit != nil {
		r.reopenAudit()
	}
	r.logger.Info("SIGHUP: configuration reloaded", "certificates", reloaded)
}
