package cli

import (
	"cmp"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	ucli "github.com/urfave/cli/v2"

	"github.com/cofferhq/coffer/internal/audit"
	"github.com/cofferhq/coffer/internal/cluster"
	"github.com/cofferhq/coffer/internal/config"
	"github.com/cofferhq/coffer/internal/core"
	"github.com/cofferhq/coffer/internal/httpapi"
	"github.com/cofferhq/coffer/internal/physical"
	"github.com/cofferhq/coffer/internal/physical/bolt"
	"github.com/cofferhq/coffer/internal/physical/cache"
	"github.com/cofferhq/coffer/internal/physical/inmem"
	"github.com/cofferhq/coffer/internal/physical/postgres"
	raftstore "github.com/cofferhq/coffer/internal/physical/raft"
	"github.com/cofferhq/coffer/internal/registry"
	"github.com/cofferhq/coffer/internal/telemetry"
)

// Version is the server version reported by sys/health and sys/seal-status.
const Version = "0.1.0"

// serverCommand runs the Coffer server, in dev mode or from a config file.
func serverCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "server",
		Usage:     "Run the Coffer server",
		UsageText: "coffer server -dev | coffer server -config=FILE",
		Flags: []ucli.Flag{
			&ucli.StringFlag{Name: "config", Usage: "path to an HCL server configuration file"},
			&ucli.BoolFlag{Name: "dev", Usage: "in-memory, initialised and unsealed server with KV v2 at secret/ (never for production)"},
			&ucli.StringFlag{Name: "dev-root-token-id", Usage: "root token to create in dev mode (random when empty)", EnvVars: []string{"COFFER_DEV_ROOT_TOKEN_ID", "VAULT_DEV_ROOT_TOKEN_ID"}},
			&ucli.StringFlag{Name: "dev-listen-address", Value: "127.0.0.1:8200", Usage: "address the dev server listens on (plain HTTP)", EnvVars: []string{"COFFER_DEV_LISTEN_ADDRESS", "VAULT_DEV_LISTEN_ADDRESS"}},
			&ucli.StringFlag{Name: "log-level", Usage: "trace, debug, info, warn or error (overrides the config file)"},
			&ucli.StringFlag{Name: "log-format", Usage: "standard (text) or json (overrides the config file)"},
			&ucli.StringFlag{Name: "pprof", Usage: "debug: serve Go's /debug/pprof/ on this loopback address (127.0.0.1:PORT), without authentication"},
		},
		Action: runServer,
	}
}

func runServer(c *ucli.Context) error {
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()
	hup := catchHangups()
	defer signal.Stop(hup)
	if addr := c.String("pprof"); addr != "" {
		ln, err := listenPprof(addr)
		if err != nil {
			return ucli.Exit("server: "+err.Error(), 1)
		}
		go servePprof(ctx, ln)
	}
	switch {
	case c.Bool("dev"):
		return runDev(ctx, c, hup)
	case c.String("config") != "":
		return runConfigured(ctx, c, hup)
	}
	return ucli.Exit("server: give -dev for a development server, or -config=FILE", 1)
}

// newLogger returns a logger writing to w whose configured level is lv,
// set here to level, so that a SIGHUP can change it later, and the
// run-time levels sys/loggers changes on top of it. Lines logged with a
// request's context carry its request_id.
func newLogger(w io.Writer, lv *slog.LevelVar, level, format string) (*slog.Logger, *telemetry.Levels, error) {
	l, err := parseLevel(level)
	if err != nil {
		return nil, nil, err
	}
	lv.Set(l)
	// The levels decide; the inner handler lets everything through.
	opts := &slog.HandlerOptions{Level: telemetry.LevelTrace}
	var inner slog.Handler
	switch strings.ToLower(format) {
	case "", "standard", "text":
		inner = slog.NewTextHandler(w, opts)
	case "json":
		inner = slog.NewJSONHandler(w, opts)
	default:
		return nil, nil, fmt.Errorf("unknown log format %q: use standard or json", format)
	}
	levels := telemetry.NewLevels(lv)
	return slog.New(telemetry.NewLogHandler(inner, levels)), levels, nil
}

// newMetrics builds the server's metrics from its telemetry stanza.
func newMetrics(t config.Telemetry) *telemetry.Metrics {
	return telemetry.New(telemetry.Config{
		PrometheusRetention: t.PrometheusRetentionTime, DisableHostname: t.DisableHostname, UsageGaugePeriod: t.UsageGaugePeriod,
	})
}

func parseLevel(level string) (slog.Level, error) {
	switch strings.ToLower(level) {
	case "", "info":
		return slog.LevelInfo, nil
	case "trace", "debug":
		return slog.LevelDebug, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error", "err":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("unknown log level %q: use trace, debug, info, warn or error", level)
}

func runDev(ctx context.Context, c *ucli.Context, hup <-chan os.Signal) error {
	logger, levels, err := newLogger(c.App.ErrWriter, new(slog.LevelVar), c.String("log-level"), c.String("log-format"))
	if err != nil {
		return ucli.Exit(err.Error(), 1)
	}
	lp, err := lockoutPolicy(nil, os.Getenv)
	if err != nil {
		return ucli.Exit(err.Error(), 1)
	}
	co := core.New(core.Config{
		Physical: inmem.New(), StorageType: "inmem", Logger: logger, Version: Version,
		Engines: registry.Engines(), AuthMethods: registry.AuthMethods(),
		UserLockout: lp, Loggers: levels,
		Metrics: newMetrics(config.Telemetry{PrometheusRetentionTime: config.DefaultPrometheusRetentionTime, UsageGaugePeriod: config.DefaultUsageGaugePeriod}),
	})
	share, root, err := co.DevInit(ctx, c.String("dev-root-token-id"))
	if err != nil {
		return err
	}
	addr := c.String("dev-listen-address")
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	go onHangup(ctx, hup, func() {
		co.ReopenAudit(ctx)
		logger.Info("SIGHUP received: reopened the audit devices; a dev server has nothing else to reload")
	})
	fmt.Fprintf(c.App.Writer, `==> Coffer server started in DEV mode: in-memory, unsealed, plain HTTP. Never use it in production.

    Api Address: http://%s
    Unseal Key: %s
    Root Token: %s

    export COFFER_ADDR='http://%s'
`, ln.Addr(), base64.StdEncoding.EncodeToString(share), root, ln.Addr())
	return serve(ctx, logger, co, []listener{{ln: ln, maxRequestSize: 0}})
}

// serve runs one HTTP server per listener until ctx ends, then shuts them
// down gracefully and seals the core.
func serve(ctx context.Context, logger *slog.Logger, co *core.Core, lns []listener) error {
	// A soft memory limit rather than a higher GOGC: memory a burst took
	// goes back instead of staying with the process (docs/BENCHMARKS.md
	// has the cost in read throughput), and a heap floor so that small
	// stores do not collect every few hundred requests. GOGC and
	// GOMEMLIMIT in the environment still win.
	limit, source := applyMemoryLimit()
	floor := applyHeapFloor(limit)
	logger.Info("memory limit", "bytes", limit, "source", source, "gogc", cmp.Or(os.Getenv("GOGC"), "100"), "heap_floor", floor)
	bodies := httpapi.NewBodyBudget(bodyBudgetSize(lns), debug.FreeOSMemory)
	errc := make(chan error, len(lns))
	var servers []*http.Server
	for _, l := range lns {
		srv := &http.Server{
			Handler:           co.Metrics().Handler(l.handler(co, logger, bodies), l.unauthenticatedMetrics),
			ReadHeaderTimeout: 10 * time.Second,
			ReadTimeout:       30 * time.Second,
			IdleTimeout:       5 * time.Minute,
			TLSConfig:         l.tls,
			ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		}
		servers = append(servers, srv)
		go func(l listener) {
			ln := l.ln
			if l.tls != nil {
				ln = tls.NewListener(ln, l.tls)
			}
			logger.Info("listening", "address", l.ln.Addr().String(), "tls", l.tls != nil)
			if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
				errc <- err
			}
		}(l)
	}
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	shutdown, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	for _, s := range servers {
		_ = s.Shutdown(shutdown)
	}
	_ = co.Seal(shutdown)
	logger.Info("stopped")
	return err
}

// loadConfigured reads the configuration file, lets the environment
// override it (COFFER_API_ADDR, COFFER_CLUSTER_ADDR, COFFER_RAFT_NODE_ID)
// and builds the logger from its settings and the command-line flags.
func loadConfigured(c *ucli.Context) (*config.Server, *slog.Logger, *slog.LevelVar, *telemetry.Levels, error) {
	cfg, err := config.LoadFile(c.String("config"))
	if err == nil {
		err = cfg.ApplyEnv(os.Getenv)
	}
	if err != nil {
		return nil, nil, nil, nil, ucli.Exit(err.Error(), 1)
	}
	level, format := cfg.LogLevel, cfg.LogFormat
	if v := c.String("log-level"); v != "" {
		level = v
	}
	if v := c.String("log-format"); v != "" {
		format = v
	}
	lv := new(slog.LevelVar)
	logger, levels, err := newLogger(c.App.ErrWriter, lv, level, format)
	if err != nil {
		return nil, nil, nil, nil, ucli.Exit(err.Error(), 1)
	}
	return cfg, logger, lv, levels, nil
}

func runConfigured(ctx context.Context, c *ucli.Context, hup <-chan os.Signal) error {
	cfg, logger, lv, levels, err := loadConfigured(c)
	if err != nil {
		return err
	}
	lp, err := lockoutPolicy(cfg, os.Getenv)
	if err != nil {
		return ucli.Exit(err.Error(), 1)
	}
	listen, advertise, err := clusterAddrs(cfg)
	if err != nil {
		return ucli.Exit("server: "+err.Error(), 1)
	}
	var port *cluster.Layer
	if listen != "" {
		if port, err = cluster.Listen(listen, advertise, logger); err != nil {
			return err
		}
		defer port.Close()
	}
	p, closeStorage, err := openStorage(ctx, cfg.Storage, port, logger)
	if err != nil {
		return err
	}
	defer closeStorage()
	conf := core.Config{
		Physical: p, StorageType: cfg.Storage.Type, Logger: logger, Version: Version,
		ClusterName: cfg.ClusterName, DefaultLeaseTTL: cfg.DefaultLeaseTTL, MaxLeaseTTL: cfg.MaxLeaseTTL,
		Engines: registry.Engines(), AuthMethods: registry.AuthMethods(), UserLockout: lp,
		AuditDevices: auditDevices(cfg.Audits), AuditAPIDisabled: cfg.DisableAPIAuditCreation,
		Metrics: newMetrics(cfg.Telemetry), Loggers: levels,
	}
	if port != nil {
		conf.ClusterPort = port
		if r, ok := p.(*raftstore.Backend); ok {
			conf.Raft = r
		}
	}
	fwd := withHA(&conf, cfg, p, port, logger)
	conf.ProtectedPaths = protectedPaths(cfg, c.String("config"))
	if conf.StaticKey, err = readSealKey(cfg, logger); err != nil {
		return err
	}
	co := core.New(conf)
	if unsealed, err := co.AutoUnseal(ctx); err != nil {
		return fmt.Errorf("auto-unseal: %w", err)
	} else if unsealed {
		logger.Info("auto-unsealed with the static key")
	}
	lns, err := openListeners(cfg.Listeners)
	if err != nil {
		return err
	}
	serveForwarding(co, port, fwd, lns, logger)
	if leaders := retryJoinLeaders(cfg.Storage.Raft.RetryJoin); len(leaders) > 0 {
		go co.RetryJoin(ctx, leaders)
	}
	r := &configReloader{path: c.String("config"), levelFlag: c.String("log-level"), level: lv, logger: logger, listeners: lns,
		reopenAudit: func() { co.ReopenAudit(ctx) }}
	go onHangup(ctx, hup, r.reload)
	if cfg.PIDFile != "" {
		if err := os.WriteFile(cfg.PIDFile, []byte(fmt.Sprintf("%d\n", os.Getpid())), 0o644); err != nil {
			return fmt.Errorf("write pid_file: %w", err)
		}
		defer os.Remove(cfg.PIDFile)
	}
	return serve(ctx, logger, co, lns)
}

// readSealKey reads the static seal's key, if one is configured, and warns
// when other users can read its file.
func readSealKey(cfg *config.Server, logger *slog.Logger) ([]byte, error) {
	if cfg.Seal == nil {
		return nil, nil
	}
	key, err := cfg.Seal.ReadKey()
	if err != nil {
		return nil, ucli.Exit(err.Error(), 1)
	}
	if fi, err := os.Stat(cfg.Seal.KeyFile); err == nil && fi.Mode().Perm()&0o077 != 0 {
		logger.Warn("the seal key file can be read by other users; chmod 600 it", "key_file", cfg.Seal.KeyFile, "mode", fi.Mode().Perm().String())
	}
	return key, nil
}

// protectedPaths are what no automated snapshot directory may overlap: the
// storage path, the seal key file and the configuration file.
func protectedPaths(cfg *config.Server, file string) []string {
	paths := []string{cfg.Storage.Path, file}
	if cfg.Seal != nil {
		paths = append(paths, cfg.Seal.KeyFile)
	}
	var out []string
	for _, p := range paths {
		if abs, err := filepath.Abs(p); p != "" && err == nil {
			out = append(out, abs)
		}
	}
	return out
}

// auditDevices turns the audit blocks into the devices the core declares.
func auditDevices(blocks []config.Audit) []audit.Config {
	out := make([]audit.Config, 0, len(blocks))
	for _, a := range blocks {
		out = append(out, audit.Config{Path: a.Path, Type: a.Type, Description: a.Description, Local: a.Local, Options: a.Options})
	}
	return out
}

func openStorage(ctx context.Context, s config.Storage, port *cluster.Layer, logger *slog.Logger) (physical.Backend, func(), error) {
	switch s.Type {
	case config.StoragePostgres:
		b, err := openPostgres(ctx, s, os.Getenv)
		if err != nil {
			return nil, nil, err
		}
		return cache.New(b, 0), func() { _ = b.Close() }, nil
	case config.StorageFile:
		b, err := bolt.Open(s.Path)
		if err != nil {
			return nil, nil, fmt.Errorf("open file storage at %s: %w", s.Path, err)
		}
		if d := b.LogDamage(); d.Later > 0 {
			logger.Warn("the write-ahead log holds a damaged record followed by later ones: replay stopped at it, so the writes it and the later records held were not applied (after a power cut this can be the last unacknowledged group; otherwise the log's disk is damaging data)",
				"storage_path", s.Path, "offset", d.Offset, "seq", d.Seq, "later_records", d.Later)
		}
		for _, p := range bolt.WritableParents(s.Path) {
			logger.Warn("a directory above the data directory is writable by group or others, who could put another data directory in its place; run chmod go-w on it",
				"directory", p, "storage_path", s.Path)
		}
		return cache.New(b, 0), func() { _ = b.Close() }, nil
	case config.StorageRaft:
		open := openRaft
		if port != nil {
			open = func(ctx context.Context, s config.Storage, logger *slog.Logger) (*raftstore.Backend, error) {
				return openClusterRaft(ctx, s, port, logger)
			}
		}
		b, err := open(ctx, s, logger)
		if err != nil {
			return nil, nil, err
		}
		return b, func() { _ = b.Close() }, nil
	case config.StorageInmem:
		return inmem.New(), func() {}, nil
	}
	return nil, nil, fmt.Errorf("storage type %q is not supported", s.Type)
}

// openRaft opens storage "raft" and waits for its election, so that init
// and unseal can write at once. It is not wrapped in the read cache: on a
// follower, replication changes the data beneath a cache.
func openRaft(ctx context.Context, s config.Storage, logger *slog.Logger) (*raftstore.Backend, error) {
	b, err := raftstore.Open(raftstore.Config{
		Path: s.Path, NodeID: s.Raft.NodeID, PerformanceMultiplier: s.Raft.PerformanceMultiplier,
		TrailingLogs: s.Raft.TrailingLogs, SnapshotThreshold: s.Raft.SnapshotThreshold,
		SnapshotInterval: s.Raft.SnapshotInterval, MaxSnapshotSize: s.Raft.MaxSnapshotSize, Logger: logger,
	})
	if err != nil {
		return nil, fmt.Errorf("open raft storage at %s: %w", s.Path, err)
	}
	wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	leader, err := b.WaitLeader(wctx)
	if err != nil {
		_ = b.Close()
		return nil, err
	}
	logger.Info("raft storage ready", "node_id", b.NodeID(), "leader", leader)
	return b, nil
}

// openPostgres opens storage "postgresql". The connection URL comes from
// COFFER_PG_CONNECTION_URL or VAULT_PG_CONNECTION_URL when set (as in
// Vault, the environment wins), so a password need not sit in the config
// file. Neither the URL nor its password is ever put in an error or a log.
func openPostgres(ctx context.Context, s config.Storage, getenv func(string) string) (*postgres.Backend, error) {
	url := cmp.Or(getenv("COFFER_PG_CONNECTION_URL"), getenv("VAULT_PG_CONNECTION_URL"), s.ConnectionURL)
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	b, err := postgres.Open(ctx, postgres.Config{ConnectionURL: url, Table: s.Table, MaxParallel: s.MaxParallel,
		HAEnabled: s.HAEnabled, HATable: s.HATable})
	if err != nil {
		return nil, fmt.Errorf("open postgresql storage: %w", err)
	}
	return b, nil
}
