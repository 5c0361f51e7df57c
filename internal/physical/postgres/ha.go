package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/cofferhq/coffer/internal/physical"
)

// HA on PostgreSQL (ha_enabled): one row of the lock table, in the shape of
// Vault's vault_ha_locks, names the active server and how long its claim
// is valid (valid_until, the database's clock). The holder renews the row
// every RenewInterval; another server takes the row over only once
// valid_until has passed. The holder gives up on its own once it has not
// renewed for LockTTL − RenewInterval (measured from before its last
// successful renewal was sent, so before the database's valid_until), so
// it stops acting as active before anyone else may start.

// Defaults of the lock timing, Vault's.
const (
	DefaultHATable       = "coffer_ha_locks"
	DefaultLockTTL       = 15 * time.Second
	DefaultRenewInterval = 5 * time.Second
	DefaultRetryInterval = time.Second
	// haLockKey is the ha_key of the active server's row.
	haLockKey = "core/lock"
)

// haQueries are the lock table's statements, with its name quoted in.
type haQueries struct {
	create, acquire, renew, release, value string
}

func newHAQueries(table string) haQueries {
	t := pgx.Identifier(strings.Split(table, ".")).Sanitize()
	return haQueries{
		create: `CREATE TABLE IF NOT EXISTS ` + t + ` (ha_key text COLLATE "C" PRIMARY KEY,
  ha_identity text COLLATE "C" NOT NULL, ha_value text COLLATE "C", valid_until timestamptz NOT NULL)`,
		// $4 is the TTL in microseconds.
		acquire: `INSERT INTO ` + t + ` AS l (ha_key, ha_identity, ha_value, valid_until)
  VALUES ($1, $2, $3, now() + $4 * interval '1 microsecond')
  ON CONFLICT (ha_key) DO UPDATE SET ha_identity = EXCLUDED.ha_identity, ha_value = EXCLUDED.ha_value,
    valid_until = EXCLUDED.valid_until
  WHERE l.valid_until < now() OR l.ha_identity = EXCLUDED.ha_identity`,
		renew:   `UPDATE ` + t + ` SET valid_until = now() + $3 * interval '1 microsecond' WHERE ha_key = $1 AND ha_identity = $2`,
		release: `DELETE FROM ` + t + ` WHERE ha_key = $1 AND ha_identity = $2`,
		value:   `SELECT ha_value FROM ` + t + ` WHERE ha_key = $1 AND valid_until > now()`,
	}
}

// haLock is a backend's side of the lock; nil when HA is off.
type haLock struct {
	q        haQueries
	identity string // this backend's, random
	ttl      time.Duration
	renew    time.Duration
	retry    time.Duration

	mu     sync.Mutex // guards held, stop, done
	held   bool
	stop   chan struct{} // closed to end the renewer (Resign, Close)
	done   chan struct{} // closed by the renewer when it has ended
	paused chan struct{} // tests: closed to make the renewer stop renewing
}

var _ physical.HABackend = (*Backend)(nil)

func newHALock(cfg Config) (*haLock, error) {
	table := cfg.HATable
	if table == "" {
		table = DefaultHATable
	}
	if err := CheckTable(table); err != nil {
		return nil, fmt.Errorf("ha_table: %w", err)
	}
	l := &haLock{q: newHAQueries(table), identity: uuid.NewString(), ttl: cfg.LockTTL, renew: cfg.RenewInterval,
		retry: cfg.RetryInterval, paused: make(chan struct{})}
	if l.ttl <= 0 {
		l.ttl = DefaultLockTTL
	}
	if l.renew <= 0 {
		l.renew = DefaultRenewInterval
	}
	if l.retry <= 0 {
		l.retry = DefaultRetryInterval
	}
	if l.renew >= l.ttl {
		return nil, fmt.Errorf("%w: the lock renewal interval must be shorter than its TTL", ErrBadHAConfig)
	}
	return l, nil
}

// HAEnabled reports whether the backend was opened with HAEnabled.
func (b *Backend) HAEnabled() bool { return b.ha != nil }

// Campaign takes the lock row when it is free or expired, retrying every
// RetryInterval, and keeps it renewed until Resign, Close or a renewal
// that fails (the row was taken over, or the database could not be reached
// for LockTTL − RenewInterval); then the returned channel closes.
func (b *Backend) Campaign(ctx context.Context, value string) (<-chan struct{}, error) {
	l := b.ha
	if l == nil {
		return nil, ErrHADisabled
	}
	l.mu.Lock()
	if l.held {
		l.mu.Unlock()
		return nil, errors.New("postgresql: a campaign already holds the lock")
	}
	l.mu.Unlock()
	for {
		start := time.Now()
		tag, err := b.pool.Exec(ctx, l.q.acquire, haLockKey, l.identity, value, l.ttl.Microseconds())
		if err == nil && tag.RowsAffected() == 1 {
			return l.hold(b, start), nil
		}
		t := time.NewTimer(l.retry)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
	}
}

// hold starts the renewer of a lock taken at start and returns its lost
// channel.
func (l *haLock) hold(b *Backend, start time.Time) <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	lost := make(chan struct{})
	l.held, l.stop, l.done = true, make(chan struct{}), make(chan struct{})
	go l.renewer(b, start, lost, l.stop, l.done)
	return lost
}

// renewer renews the row until stop, a lost row, or a renewal deadline
// missed; it then marks the lock free and closes lost.
func (l *haLock) renewer(b *Backend, last time.Time, lost, stop, done chan struct{}) {
	defer close(done)
	defer func() {
		l.mu.Lock()
		l.held = false
		l.mu.Unlock()
		close(lost)
	}()
	giveUp := l.ttl - l.renew
	t := time.NewTicker(min(l.renew, l.retry))
	defer t.Stop()
	next := last.Add(l.renew)
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		if time.Since(last) >= giveUp {
			return // others may take the row over soon: stop acting now
		}
		if time.Now().Before(next) || isClosed(l.paused) {
			continue
		}
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), giveUp-time.Since(last))
		tag, err := b.pool.Exec(ctx, l.q.renew, haLockKey, l.identity, l.ttl.Microseconds())
		cancel()
		switch {
		case err != nil:
			next = time.Now().Add(l.retry) // try again until giveUp
		case tag.RowsAffected() == 0:
			return // another server holds the row
		default:
			last, next = start, start.Add(l.renew)
		}
	}
}

func isClosed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// Resign stops renewing and deletes the row when this backend holds it, so
// another server may take it at its next try.
func (b *Backend) Resign(ctx context.Context) error {
	l := b.ha
	if l == nil {
		return ErrHADisabled
	}
	l.mu.Lock()
	stop, done := l.stop, l.done
	l.stop = nil // only this takes it, so stop is closed once
	l.mu.Unlock()
	if stop != nil {
		close(stop)
		<-done
	}
	if _, err := b.pool.Exec(ctx, l.q.release, haLockKey, l.identity); err != nil {
		return fmt.Errorf("release the ha lock: %w", err)
	}
	return nil
}

// LeaderValue returns the value of the server holding an unexpired lock.
func (b *Backend) LeaderValue(ctx context.Context) (string, bool, error) {
	l := b.ha
	if l == nil {
		return "", false, ErrHADisabled
	}
	var v *string
	err := b.pool.QueryRow(ctx, l.q.value, haLockKey).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("read the ha lock: %w", err)
	}
	if v == nil {
		return "", true, nil
	}
	return *v, true, nil
}
