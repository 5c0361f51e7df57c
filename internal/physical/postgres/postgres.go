// Package postgres is the physical.Backend on a PostgreSQL table, for teams
// that already run PostgreSQL highly available and want Coffer's data there
// (storage "postgresql" in the server configuration).
//
// The table holds one row per key: key bytea primary key, value bytea. Keys
// are bytea rather than text so that any Go string is a key and the index
// orders keys byte by byte, as the physical contract (and bbolt) do, whatever
// the database's collation. List walks that index, jumping over each
// sub-folder (one index probe per child), so listing a folder never reads
// the keys nested below it.
//
// Every write is one SQL statement or one SQL transaction that has committed
// when Put, Delete or Transaction returns; with PostgreSQL's default
// synchronous_commit (on) the commit record is flushed to disk first, so a
// write acknowledged to a client survives a crash of Coffer or of the
// database. Sessions that find synchronous_commit off turn it on.
//
// The backend stores only barrier ciphertext. The connection URL, which may
// hold a password, never appears in its errors. With HAEnabled it also
// elects the active server among several on one table (ha.go); it is not
// the place for caching or encryption.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/cofferhq/coffer/internal/physical"
)

// DefaultTable is the table used when the configuration names none.
const DefaultTable = "coffer_kv_store"

// DefaultMaxParallel bounds the connection pool when max_parallel is not
// set. Vault's default is 128; PostgreSQL's default max_connections is 100,
// which one busy Coffer at 128 would exhaust, so Coffer stays well below it.
const DefaultMaxParallel = 32

// Config says where and how to store.
type Config struct {
	// ConnectionURL is a PostgreSQL URL or key=value string, as libpq and
	// pgx accept. It may hold a password; it is never logged or put in an
	// error.
	ConnectionURL string
	// Table is the table name, optionally schema-qualified
	// ("schema.table"); DefaultTable when empty. It is created when
	// missing.
	Table string
	// MaxParallel is the most connections (so concurrent operations) the
	// backend uses; DefaultMaxParallel when zero or negative.
	MaxParallel int
	// HAEnabled makes the backend a physical.HABackend: servers sharing
	// the table elect one active server through a row of HATable
	// (DefaultHATable when empty, created when missing), instead of the
	// first server refusing the others (ErrInUse).
	HAEnabled bool
	HATable   string
	// LockTTL, RenewInterval and RetryInterval time the HA lock; zero
	// means DefaultLockTTL, DefaultRenewInterval, DefaultRetryInterval.
	LockTTL, RenewInterval, RetryInterval time.Duration
}

// Backend is a physical.Backend on a PostgreSQL table. It is safe for
// concurrent use; Close must be called once the server stops using it.
type Backend struct {
	pool *pgxpool.Pool
	// owner is the session holding the table's advisory lock; closing it
	// releases the table to another server. nil with HA.
	owner *pgx.Conn
	// ownerKey is the advisory lock's key text, unlocked by Close.
	ownerKey string
	q        queries
	// ha is the HA lock; nil when HAEnabled is off.
	ha *haLock
	// connConfig opens the init lock's own connection (outside the pool,
	// which init's writes need, whatever max_parallel is); initKey is its
	// advisory lock's key text.
	connConfig *pgx.ConnConfig
	initKey    string
}

var (
	_ physical.Backend       = (*Backend)(nil)
	_ physical.Transactional = (*Backend)(nil)
	_ physical.Closer        = (*Backend)(nil)
	_ physical.InitLocker    = (*Backend)(nil)
)

// queries are the statements, with the table name quoted in.
type queries struct {
	get, put, del, list string
	// drain waits for every write to the table in flight (see LockInit).
	drain string
}

// identPart is one part of a table name; CheckTable also bounds its length
// to PostgreSQL's 63 bytes (a {0,62} repetition here would compile to 62
// copies, allocated in package init at every start of the binary).
var identPart = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_$]*$`)

// CheckTable reports, with ErrBadTable, a table name that is not an
// identifier or schema.identifier. Names are kept plain (no quoting rules
// to get wrong) and case is kept as written.
func CheckTable(name string) error {
	parts := strings.Split(name, ".")
	if len(parts) > 2 {
		return ErrBadTable
	}
	for _, p := range parts {
		if len(p) > 63 || !identPart.MatchString(p) {
			return ErrBadTable
		}
	}
	return nil
}

func newQueries(table string) queries {
	t := pgx.Identifier(strings.Split(table, ".")).Sanitize()
	return queries{
		get: `SELECT value FROM ` + t + ` WHERE key = $1`,
		put: `INSERT INTO ` + t + ` (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value`,
		del: `DELETE FROM ` + t + ` WHERE key = $1`,
		// SHARE conflicts with the ROW EXCLUSIVE lock every INSERT,
		// UPDATE and DELETE holds until its transaction ends.
		drain: `LOCK TABLE ` + t + ` IN SHARE MODE`,
		// A loose index scan: each step finds the first key at or after
		// a lower bound. After a leaf the bound is the key plus a zero
		// byte (its successor); after a key inside a sub-folder it is
		// the folder's name followed by '0', the byte after '/', which
		// skips every key nested in that folder. The walk stops at the
		// first key without the prefix. $1 is the prefix, $2 its length.
		list: `WITH RECURSIVE walk(k) AS (
  (SELECT key FROM ` + t + ` WHERE key >= $1::bytea ORDER BY key LIMIT 1)
  UNION ALL
  SELECT (SELECT key FROM ` + t + ` WHERE key >= CASE
      WHEN position('\x2f'::bytea IN substring(w.k FROM $2::int + 1)) = 0 THEN w.k || '\x00'::bytea
      ELSE substring(w.k FROM 1 FOR $2::int + position('\x2f'::bytea IN substring(w.k FROM $2::int + 1)) - 1) || '\x30'::bytea
    END ORDER BY key LIMIT 1)
  FROM walk w WHERE w.k IS NOT NULL AND substring(w.k FROM 1 FOR $2::int) = $1::bytea
)
SELECT k FROM walk WHERE k IS NOT NULL AND substring(k FROM 1 FOR $2::int) = $1::bytea`,
	}
}

// Open connects to the database, creates the table when it is missing and
// claims it for this server (ErrInUse when another server holds it). The
// pool holds at most MaxParallel connections, plus the one holding the
// claim. Errors name neither the URL nor its password.
func Open(ctx context.Context, cfg Config) (*Backend, error) {
	if cfg.ConnectionURL == "" {
		return nil, ErrNoConnectionURL
	}
	table := cfg.Table
	if table == "" {
		table = DefaultTable
	}
	if err := CheckTable(table); err != nil {
		return nil, err
	}
	pc, err := pgxpool.ParseConfig(cfg.ConnectionURL)
	if err != nil {
		// pgx redacts passwords in its parse errors only as best
		// effort, so none of its text is kept.
		return nil, ErrBadConnectionURL
	}
	pc.MaxConns = int32(DefaultMaxParallel)
	if cfg.MaxParallel > 0 {
		pc.MaxConns = int32(min(cfg.MaxParallel, 1<<20))
	}
	pc.AfterConnect = requireSyncCommit
	where := fmt.Sprintf("PostgreSQL at %s:%d database %q user %q", pc.ConnConfig.Host, pc.ConnConfig.Port,
		pc.ConnConfig.Database, pc.ConnConfig.User)
	password := pc.ConnConfig.Password
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %s", where, scrub(err, password))
	}
	b := &Backend{pool: pool, q: newQueries(table), connConfig: pc.ConnConfig}
	if cfg.HAEnabled {
		if b.ha, err = newHALock(cfg); err != nil {
			pool.Close()
			return nil, err
		}
	}
	if err := b.createTable(ctx, table); err != nil {
		pool.Close()
		return nil, fmt.Errorf("%s: %s", where, scrub(err, password))
	}
	id, err := b.tableID(ctx, table)
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("%s: %s", where, scrub(err, password))
	}
	b.initKey = fmt.Sprintf("coffer-init:%d", id)
	if b.ha != nil {
		// Several servers share the table on purpose: the lock row
		// decides which one writes.
		return b, nil
	}
	b.ownerKey = fmt.Sprintf("coffer-owner:%d", id)
	if b.owner, err = claimTable(ctx, pc.ConnConfig, b.ownerKey); err != nil {
		pool.Close()
		if errors.Is(err, ErrInUse) {
			return nil, fmt.Errorf("table %s in %s: %w", table, where, err)
		}
		return nil, fmt.Errorf("%s: %s", where, scrub(err, password))
	}
	return b, nil
}

// claimTable takes a session-level advisory lock on key (the table's, see
// tableID) on a
// connection of its own (outside the pool, so max_parallel = 1 still
// works) and returns that connection, or ErrInUse when another session
// holds the lock. Two servers writing one table without HA would each
// cache and rewrite the other's data (the keyring included), as two
// processes on one bbolt file would; the lock refuses the second as bolt's
// file lock does. PostgreSQL drops the lock when the session ends, so a
// killed server frees the table once its connection is gone. It is a guard
// against a mistake, not HA: should the session drop while the server
// runs (a database restart), the table is unguarded until it restarts.
func claimTable(ctx context.Context, cc *pgx.ConnConfig, key string) (*pgx.Conn, error) {
	cc = cc.Copy()
	// The server probes this session's TCP connection, so the lock of a
	// server whose host died is freed in about a minute, not the
	// operating system's two hours. (Ignored on a Unix socket, which dies
	// with its host anyway.)
	cc.RuntimeParams["tcp_keepalives_idle"] = "30"
	cc.RuntimeParams["tcp_keepalives_interval"] = "10"
	cc.RuntimeParams["tcp_keepalives_count"] = "3"
	c, err := pgx.ConnectConfig(ctx, cc)
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	var got bool
	if err := c.QueryRow(ctx, `SELECT pg_try_advisory_lock(hashtext($1))`, key).Scan(&got); err != nil {
		_ = c.Close(ctx)
		return nil, fmt.Errorf("lock table: %w", err)
	}
	if !got {
		_ = c.Close(ctx)
		return nil, ErrInUse
	}
	return c, nil
}

// scrub returns err's text with the password, should any layer have
// repeated it, masked. The error is flattened on purpose: a wrapped cause
// could still print the password.
func scrub(err error, password string) string {
	msg := err.Error()
	if password != "" {
		msg = strings.ReplaceAll(msg, password, "xxxxx")
	}
	return msg
}

// requireSyncCommit turns synchronous_commit on for a session where the
// server's default has it off: without it a commit returns before its WAL
// is on disk, and an acknowledged write could be lost in a crash. Stronger
// settings (remote_apply, remote_write, local) are kept.
func requireSyncCommit(ctx context.Context, c *pgx.Conn) error {
	var v string
	if err := c.QueryRow(ctx, `SELECT current_setting('synchronous_commit')`).Scan(&v); err != nil {
		return fmt.Errorf("read synchronous_commit: %w", err)
	}
	if v != "off" {
		return nil
	}
	if _, err := c.Exec(ctx, `SET synchronous_commit TO on`); err != nil {
		return fmt.Errorf("set synchronous_commit: %w", err)
	}
	return nil
}

// createTable creates the table when missing. Several servers starting at
// once may race on CREATE TABLE IF NOT EXISTS (it is not atomic against
// itself in PostgreSQL), so a transaction-level advisory lock keyed on the
// table name serialises them.
func (b *Backend) createTable(ctx context.Context, table string) error {
	t := pgx.Identifier(strings.Split(table, ".")).Sanitize()
	return pgx.BeginFunc(ctx, b.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext($1))`, "coffer:"+table); err != nil {
			return fmt.Errorf("lock table creation: %w", err)
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS `+t+` (key bytea PRIMARY KEY, value bytea NOT NULL)`); err != nil {
			return fmt.Errorf("create table %s: %w", table, err)
		}
		if b.ha != nil {
			if _, err := tx.Exec(ctx, b.ha.q.create); err != nil {
				return fmt.Errorf("create ha_table: %w", err)
			}
		}
		return nil
	})
}

// Close closes every connection and releases the table to another server;
// operations still running fail.
func (b *Backend) Close() error {
	if b.ha != nil {
		// Free the lock row at once rather than after its TTL.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = b.Resign(ctx)
		cancel()
		b.pool.Close()
		return nil
	}
	b.pool.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// Unlock before closing: closing the session releases the lock too,
	// but only once PostgreSQL has noticed the disconnect, so a server
	// reopening the table at once could still find it held.
	_, _ = b.owner.Exec(ctx, `SELECT pg_advisory_unlock(hashtext($1))`, b.ownerKey)
	return b.owner.Close(ctx)
}

// tableID is the table's OID, which keys its advisory locks (the claim
// and the init lock). The name as configured does not identify the table:
// "t" and "public.t" are one table, and two servers naming it either way
// took different locks, so both inited it at once (the one that failed
// then removed the store the other had handed keys out for) or, without
// HA, both claimed it.
func (b *Backend) tableID(ctx context.Context, table string) (uint32, error) {
	var id uint32
	t := pgx.Identifier(strings.Split(table, ".")).Sanitize()
	if err := b.pool.QueryRow(ctx, `SELECT $1::text::regclass::oid`, t).Scan(&id); err != nil {
		return 0, fmt.Errorf("look up table %s: %w", table, err)
	}
	return id, nil
}

// Get returns the value at key, or (nil, nil) when there is none.
func (b *Backend) Get(ctx context.Context, key string) (*physical.Entry, error) {
	var v []byte
	err := b.pool.QueryRow(ctx, b.q.get, []byte(key)).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("get %q: %w", key, err)
	}
	if v == nil {
		v = []byte{}
	}
	return &physical.Entry{Key: key, Value: v}, nil
}

// Put stores entry; it returns once the statement has committed.
func (b *Backend) Put(ctx context.Context, entry *physical.Entry) error {
	if err := checkOp(physical.TxnOp{Entry: entry}); err != nil {
		return err
	}
	if _, err := b.pool.Exec(ctx, b.q.put, []byte(entry.Key), nonNil(entry.Value)); err != nil {
		return fmt.Errorf("put %q: %w", entry.Key, err)
	}
	return nil
}

// Delete removes key once committed; deleting a missing key is not an
// error.
func (b *Backend) Delete(ctx context.Context, key string) error {
	if _, err := b.pool.Exec(ctx, b.q.del, []byte(key)); err != nil {
		return fmt.Errorf("delete %q: %w", key, err)
	}
	return nil
}

// Transaction applies ops in one SQL transaction, all or none, and returns
// once it has committed. The statements go to the server in one round trip.
func (b *Backend) Transaction(ctx context.Context, ops []physical.TxnOp) error {
	for i, op := range ops {
		if err := checkOp(op); err != nil {
			return fmt.Errorf("op %d: %w", i, err)
		}
	}
	if len(ops) == 0 {
		return nil
	}
	err := pgx.BeginFunc(ctx, b.pool, func(tx pgx.Tx) error {
		var batch pgx.Batch
		for _, op := range ops {
			if op.Delete {
				batch.Queue(b.q.del, []byte(op.Entry.Key))
			} else {
				batch.Queue(b.q.put, []byte(op.Entry.Key), nonNil(op.Entry.Value))
			}
		}
		return tx.SendBatch(ctx, &batch).Close()
	})
	if err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// List returns the names directly under prefix in lexical order, sub-folders
// suffixed by "/", and an empty slice when there are none. It costs one
// index probe per name returned.
func (b *Backend) List(ctx context.Context, prefix string) ([]string, error) {
	rows, err := b.pool.Query(ctx, b.q.list, []byte(prefix), len(prefix))
	if err != nil {
		return nil, fmt.Errorf("list %q: %w", prefix, err)
	}
	keys, err := pgx.CollectRows(rows, pgx.RowTo[[]byte])
	if err != nil {
		return nil, fmt.Errorf("list %q: %w", prefix, err)
	}
	out := make([]string, 0, len(keys))
	for _, k := range keys {
		rest := string(k[len(prefix):])
		if i := strings.IndexByte(rest, '/'); i >= 0 {
			rest = rest[:i+1]
		}
		out = append(out, rest)
	}
	return out, nil
}

func checkOp(op physical.TxnOp) error {
	if op.Entry == nil {
		return ErrNilEntry
	}
	if op.Entry.Key == "" {
		return ErrEmptyKey
	}
	return nil
}

// nonNil keeps an empty value an empty bytea rather than NULL.
func nonNil(v []byte) []byte {
	if v == nil {
		return []byte{}
	}
	return v
}

// LockInit takes the table's init lock, a session-level advisory lock on a
// connection held until unlock, waiting while another server holds it
// (physical.InitLocker). If unlocking fails the connection is closed,
// which releases the lock too.
func (b *Backend) LockInit(ctx context.Context) (func(), error) {
	conn, err := pgx.ConnectConfig(ctx, b.connConfig.Copy())
	if err != nil {
		return nil, fmt.Errorf("lock init: connect: %s", scrub(err, b.connConfig.Password))
	}
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock(hashtext($1))`, b.initKey); err != nil {
		_ = conn.Close(context.Background())
		return nil, fmt.Errorf("lock init: %s", scrub(err, b.connConfig.Password))
	}
	if err := b.drainWrites(ctx, conn); err != nil {
		_ = conn.Close(context.Background())
		return nil, fmt.Errorf("lock init: wait for writes in flight: %s", scrub(err, b.connConfig.Password))
	}
	return func() {
		// Closing the session releases the lock; unlocking first frees it
		// before PostgreSQL notices the disconnect.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, _ = conn.Exec(ctx, `SELECT pg_advisory_unlock(hashtext($1))`, b.initKey)
		_ = conn.Close(ctx)
	}, nil
}

// drainWrites waits, once the init lock is held, until every write to the
// table already under way has ended. A server killed during an init loses
// its sessions, and so the init lock, at once, but PostgreSQL finishes the
// statement it was running (it notices the lost client only when it
// answers): that write, the init marker or a keyring, would otherwise land
// in the middle of the next init or after it, making the store another
// server just handed keys out for read as uninitialised (the next init
// then removed it) or unopenable by those keys (reproduced with two
// servers, a trigger slowing the first's writes, and kill -9).
func (b *Backend) drainWrites(ctx context.Context, conn *pgx.Conn) error {
	tx, err := conn.Begin(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback(context.Background()) }()
	if _, err := tx.Exec(ctx, b.q.drain); err != nil {
		return err
	}
	return tx.Commit(ctx)
}
