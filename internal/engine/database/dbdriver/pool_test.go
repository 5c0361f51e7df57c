package dbdriver

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

// countingDriver is a database/sql driver whose connections do nothing but
// count how many are open at once. It stands in for a database only to
// observe the pool Pool configures; the engines' own tests use real servers.
type countingDriver struct{ open, peak atomic.Int32 }

type countingConn struct{ d *countingDriver }

func (d *countingDriver) Open(string) (driver.Conn, error) {
	n := d.open.Add(1)
	for p := d.peak.Load(); n > p && !d.peak.CompareAndSwap(p, n); p = d.peak.Load() {
	}
	return countingConn{d}, nil
}

func (c countingConn) Prepare(string) (driver.Stmt, error) { return nil, errors.New("unused") }
func (c countingConn) Close() error                        { c.d.open.Add(-1); return nil }
func (c countingConn) Begin() (driver.Tx, error)           { return nil, errors.New("unused") }

// TestPoolSettingsTakeEffect: max_open_connections bounds the connections
// a config's pool opens at once (default 4), and a negative
// max_idle_connections keeps none once they are returned.
func TestPoolSettingsTakeEffect(t *testing.T) {
	for _, tc := range []struct {
		name           string
		cfg            Config
		wantOpen       int32
		wantIdleClosed bool
	}{
		{"default", Config{}, DefaultMaxOpenConnections, false},
		{"two, no idle", Config{MaxOpenConnections: 2, MaxIdleConnections: -1}, 2, true},
		{"seven", Config{MaxOpenConnections: 7, MaxConnectionLifetime: time.Hour}, 7, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := &countingDriver{}
			name := "counting-" + tc.name
			sql.Register(name, d)
			db, err := sql.Open(name, "")
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			Pool(db, tc.cfg)
			if got := db.Stats().MaxOpenConnections; got != int(tc.wantOpen) {
				t.Fatalf("MaxOpenConnections = %d, want %d", got, tc.wantOpen)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			var conns []*sql.Conn
			for range tc.wantOpen {
				c, err := db.Conn(ctx)
				if err != nil {
					t.Fatal(err)
				}
				conns = append(conns, c)
			}
			short, cancelShort := context.WithTimeout(ctx, 50*time.Millisecond)
			if c, err := db.Conn(short); err == nil {
				c.Close()
				t.Fatalf("a connection beyond max_open_connections %d was opened", tc.wantOpen)
			}
			cancelShort()
			for _, c := range conns {
				c.Close()
			}
			if idle := db.Stats().Idle; tc.wantIdleClosed != (idle == 0) {
				t.Fatalf("idle connections after return = %d (want none: %v)", idle, tc.wantIdleClosed)
			}
			if p := d.peak.Load(); p != tc.wantOpen {
				t.Fatalf("peak open = %d, want %d", p, tc.wantOpen)
			}
		})
	}
}
