package cli

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	hraft "github.com/hashicorp/raft"
	ucli "github.com/urfave/cli/v2"

	"github.com/cofferhq/coffer/internal/config"
	"github.com/cofferhq/coffer/internal/physical"
	"github.com/cofferhq/coffer/internal/physical/bolt"
	"github.com/cofferhq/coffer/internal/physical/migrate"
	"github.com/cofferhq/coffer/internal/physical/postgres"
	raftstore "github.com/cofferhq/coffer/internal/physical/raft"
)

// migrateLockTimeout is how long operator migrate waits for a storage
// file lock: a running server holds it for as long as it runs, so waiting
// longer only delays the refusal.
const migrateLockTimeout = time.Second

// errInUse is wrapped by the refusal of storage a running server holds.
var errInUse = errors.New("in use by a running server")

// migrateCommand is `coffer operator migrate`: an offline copy of every
// storage entry, as Vault's command of the same name. It talks to no
// server, only to the two storages.
func migrateCommand() *ucli.Command {
	return &ucli.Command{
		Name:  "migrate",
		Usage: "Copy all data from one storage to another, offline (stop the servers using either first)",
		UsageText: `coffer operator migrate -config=FILE [-reset] [-checksum]

FILE holds storage_source "TYPE" { ... } and storage_destination "TYPE" { ... }
(file, raft or postgresql, written as in a server's storage block), and
optionally start = "KEY" to resume an interrupted migration from KEY and
cluster_addr. Entries are copied as stored (encrypted): no unseal key is
needed, and the destination is unsealed with the source's keys.`,
		Flags: []ucli.Flag{
			&ucli.StringFlag{Name: "config", Usage: "path to the migration configuration (HCL or JSON)"},
			&ucli.BoolFlag{Name: "reset", Usage: "delete everything the destination holds before copying"},
			&ucli.BoolFlag{Name: "checksum", Usage: "also compare every value of both sides after copying, and print their SHA-256"},
			&ucli.IntFlag{Name: "batch-size", Value: migrate.DefaultBatchSize, Usage: "entries written per transaction"},
		},
		Action: runMigrate,
	}
}

func runMigrate(c *ucli.Context) error {
	if c.NArg() > 0 {
		return usageErrorf("operator migrate takes no arguments, only flags")
	}
	if c.String("config") == "" {
		return usageErrorf("operator migrate needs -config=FILE")
	}
	cfg, err := config.LoadMigrationFile(c.String("config"))
	if err != nil {
		return usageErrorf("%s", err)
	}
	if c.Bool("reset") && cfg.Start != "" {
		return usageErrorf("-reset deletes what an earlier run copied, which start resumes: use one or the other")
	}
	if c.Int("batch-size") < 1 {
		return usageErrorf("-batch-size must be positive")
	}
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()
	logger := slog.New(slog.NewTextHandler(c.App.ErrWriter, &slog.HandlerOptions{Level: slog.LevelError}))
	m := &migration{cfg: cfg, path: c.String("config"), stdout: c.App.Writer, stderr: c.App.ErrWriter, logger: logger,
		reset: c.Bool("reset"), checksum: c.Bool("checksum"), batch: c.Int("batch-size")}
	return m.run(ctx)
}

// migration is one run of operator migrate.
type migration struct {
	cfg            *config.Migration
	path           string
	stdout, stderr io.Writer
	logger         *slog.Logger
	reset          bool
	checksum       bool
	batch          int
}

func (m *migration) run(ctx context.Context) error {
	if err := samePostgresTable(m.cfg.Source, m.cfg.Destination, os.Getenv); err != nil {
		return usageErrorf("%s", err)
	}
	src, closeSrc, err := openMigrateStorage(ctx, "source", m.cfg.Source, "", m.logger)
	if err != nil {
		return migrateError(err)
	}
	defer closeSrc()
	if empty, err := migrate.Empty(ctx, src); err != nil {
		return migrateError(fmt.Errorf("read the source: %w", err))
	} else if empty {
		return migrateError(fmt.Errorf("the source (%s) holds no data: check storage_source", describeStorage(m.cfg.Source)))
	}
	dst, closeDst, err := openMigrateStorage(ctx, "destination", m.cfg.Destination, m.cfg.ClusterHostPort(), m.logger)
	if err != nil {
		return migrateError(err)
	}
	defer closeDst()
	if err := m.prepareDestination(ctx, dst); err != nil {
		return err
	}
	return m.copyAndVerify(ctx, src, dst)
}

// prepareDestination refuses a destination holding data unless -reset
// (which empties it) or start (which resumes into it) says why.
func (m *migration) prepareDestination(ctx context.Context, dst physical.Backend) error {
	empty, err := migrate.Empty(ctx, dst)
	if err != nil {
		return migrateError(fmt.Errorf("read the destination: %w", err))
	}
	switch {
	case empty || m.cfg.Start != "":
		return nil
	case !m.reset:
		return migrateError(fmt.Errorf("the destination (%s) already holds data: migrate into empty storage, "+
			"pass -reset to delete everything in it first, or set start to resume an interrupted migration", describeStorage(m.cfg.Destination)))
	}
	n, err := migrate.Reset(ctx, dst)
	if err != nil {
		return migrateError(fmt.Errorf("-reset: %w", err))
	}
	fmt.Fprintf(m.stdout, "Deleted %d keys from the destination (-reset).\n", n)
	return nil
}

func (m *migration) copyAndVerify(ctx context.Context, src, dst physical.Backend) error {
	began, lastReport := time.Now(), time.Now()
	res, err := migrate.Copy(ctx, src, dst, migrate.Options{
		Start: m.cfg.Start, BatchSize: m.batch,
		Progress: func(n int) {
			if time.Since(lastReport) >= 5*time.Second {
				lastReport = time.Now()
				fmt.Fprintf(m.stderr, "Copied %d keys...\n", n)
			}
		},
	})
	took := time.Since(began)
	if err != nil {
		msg := fmt.Sprintf("Error migrating: %s\nCopied %d keys before the error.", err, res.Copied)
		if res.Resume != "" {
			msg += fmt.Sprintf(" To resume, add this line to %s and run again:\n  start = %s", m.path, strconv.Quote(res.Resume))
		}
		return &exitError{code: exitServer, msg: msg}
	}
	fmt.Fprintf(m.stdout, "Copied %d keys from %s to %s in %s (%.0f keys/s).\n", res.Copied, m.cfg.Source.Type, m.cfg.Destination.Type,
		took.Round(time.Millisecond), float64(res.Copied)/max(took.Seconds(), 1e-9))
	sum, err := migrate.Verify(ctx, src, dst, m.checksum)
	if err != nil {
		return migrateError(fmt.Errorf("verify: %w", err))
	}
	fmt.Fprintf(m.stdout, "Verified: the destination holds the same %d keys as the source.\n", sum.Keys)
	if m.checksum {
		fmt.Fprintf(m.stdout, "Checksum (SHA-256 of every entry, both sides): %x\n", sum.Checksum)
	}
	fmt.Fprintln(m.stdout, "Success! All of the keys have been migrated.")
	return nil
}

func migrateError(err error) error {
	return &exitError{code: exitServer, msg: "Error migrating: " + err.Error()}
}

// openMigrateStorage opens one side of a migration with a short lock
// timeout, refusing storage a running server holds (its file locks, or
// PostgreSQL's claim on the table) with errInUse. A source must exist
// already: opening a missing directory would create empty storage.
// clusterAddr, when set, is the address a new raft destination records
// for itself in the cluster it bootstraps.
func openMigrateStorage(ctx context.Context, side string, s config.Storage, clusterAddr string, logger *slog.Logger) (physical.Backend, func(), error) {
	if side == "source" {
		if err := sourceExists(s); err != nil {
			return nil, nil, err
		}
	}
	b, err := openMigrateBackend(ctx, side, s, clusterAddr, logger)
	if errors.Is(err, bolt.ErrLocked) || errors.Is(err, postgres.ErrInUse) {
		return nil, nil, fmt.Errorf("the %s storage is %w (%s): stop it first, operator migrate copies offline", side, errInUse, describeStorage(s))
	}
	if err != nil {
		return nil, nil, fmt.Errorf("open the %s: %w", side, err)
	}
	closer := func() {
		if c, ok := b.(physical.Closer); ok {
			if err := c.Close(); err != nil {
				logger.Error("close the "+side, "err", err)
			}
		}
	}
	return b, closer, nil
}

func openMigrateBackend(ctx context.Context, side string, s config.Storage, clusterAddr string, logger *slog.Logger) (physical.Backend, error) {
	switch s.Type {
	case config.StorageFile:
		return bolt.Open(s.Path, bolt.WithLockTimeout(migrateLockTimeout))
	case config.StoragePostgres:
		return openPostgres(ctx, s, os.Getenv)
	case config.StorageRaft:
		rc := raftstore.Config{
			Path: s.Path, NodeID: s.Raft.NodeID, PerformanceMultiplier: cmp.Or(s.Raft.PerformanceMultiplier, 1),
			TrailingLogs: s.Raft.TrailingLogs, SnapshotThreshold: s.Raft.SnapshotThreshold,
			SnapshotInterval: s.Raft.SnapshotInterval, Logger: logger, LockTimeout: migrateLockTimeout,
		}
		if clusterAddr != "" {
			// Reaches no other node, as migration runs offline, but a
			// new cluster records this address for the node, as
			// Vault's does; the server corrects it at start if it
			// advertises another.
			_, rc.Transport = hraft.NewInmemTransport(hraft.ServerAddress(clusterAddr))
		}
		b, err := raftstore.Open(rc)
		if err != nil {
			return nil, err
		}
		if err := raftReady(ctx, b, side); err != nil {
			_ = b.Close()
			return nil, err
		}
		return b, nil
	}
	return nil, fmt.Errorf("storage type %q cannot be migrated", s.Type)
}

// raftReady waits until the node leads its single-node cluster (a new
// destination bootstraps one) and has applied everything committed.
func raftReady(ctx context.Context, b *raftstore.Backend, side string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for !b.IsLeader() {
		select {
		case <-ctx.Done():
			return fmt.Errorf("the raft %s did not become leader within 30s: operator migrate works on a single-node raft cluster (node %s)", side, b.NodeID())
		case <-time.After(10 * time.Millisecond):
		}
	}
	return b.Barrier(ctx)
}

// sourceExists refuses a file or raft source whose files are missing.
func sourceExists(s config.Storage) error {
	var want []string
	switch s.Type {
	case config.StorageFile:
		want = []string{filepath.Join(s.Path, bolt.FileName)}
	case config.StorageRaft:
		want = []string{filepath.Join(s.Path, "fsm", bolt.FileName), filepath.Join(s.Path, "raft", "raft.db")}
	}
	for _, f := range want {
		if _, err := os.Stat(f); err != nil {
			return fmt.Errorf("the source has no %s: is storage_source's path right? (%w)", f, errors.Unwrap(err))
		}
	}
	return nil
}

// samePostgresTable refuses a PostgreSQL source and destination that are
// one table once the environment's connection URL is applied (it wins over
// both blocks' connection_url, as in the server).
func samePostgresTable(a, b config.Storage, getenv func(string) string) error {
	if a.Type != config.StoragePostgres || b.Type != config.StoragePostgres {
		return nil
	}
	env := cmp.Or(getenv("COFFER_PG_CONNECTION_URL"), getenv("VAULT_PG_CONNECTION_URL"))
	urlA, urlB := cmp.Or(env, a.ConnectionURL), cmp.Or(env, b.ConnectionURL)
	tA, tB := cmp.Or(a.Table, postgres.DefaultTable), cmp.Or(b.Table, postgres.DefaultTable)
	if urlA == urlB && tA == tB {
		return fmt.Errorf("storage_destination is the source's own table %s (the connection URL from the environment applies to both): set another table", tA)
	}
	return nil
}

// describeStorage names storage for messages, never with a connection URL
// (it may hold a password).
func describeStorage(s config.Storage) string {
	switch s.Type {
	case config.StoragePostgres:
		return fmt.Sprintf("postgresql table %s", cmp.Or(s.Table, postgres.DefaultTable))
	}
	return fmt.Sprintf("%s at %s", s.Type, s.Path)
}
