package database

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/cofferhq/coffer/internal/engine/database/dbdriver"
	"github.com/cofferhq/coffer/internal/logical"
)

// conn is the open pool of one config, with the config it was opened from.
// Operations hold mu for reading; closing takes it for writing, so that a
// pool replaced by a config change is closed only when the operations
// using it have finished.
type conn struct {
	name   string
	cfg    *dbConfig
	plugin dbdriver.Plugin
	driver dbdriver.Driver
	names  *usernameTemplate

	mu     sync.RWMutex
	closed bool
}

// close waits for the operations using c and closes its pool.
func (c *conn) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.closed {
		c.closed = true
		_ = c.driver.Close()
	}
}

// openConn opens (without connecting) a pool for cfg.
func (b *backend) openConn(name string, cfg *dbConfig) (*conn, error) {
	p, err := b.plugin(cfg.PluginName)
	if err != nil {
		return nil, err
	}
	tmpl := cfg.UsernameTemplate
	if tmpl == "" {
		tmpl = p.DefaultUsernameTemplate()
	}
	names, err := newUsernameTemplate(tmpl, p.MaxUsernameLength())
	if err != nil {
		return nil, logical.InvalidRequest("username_template: %v", err)
	}
	d, err := p.Open(cfg.driverConfig())
	if err != nil {
		if errors.Is(err, dbdriver.ErrBadConfig) {
			return nil, logical.InvalidRequest("%v", err)
		}
		return nil, err
	}
	return &conn{name: name, cfg: cfg, plugin: p, driver: d, names: names}, nil
}

// errNoConfig is the 400 for a role whose config does not exist.
func errNoConfig(name string) error {
	return logical.InvalidRequest("no database config named %q: write database/config/%s first", name, name)
}

// withConn runs fn with the pool of config name, opening it from storage
// if needed. fn holds the pool against being closed until it returns. It
// returns errNoConfig when the config does not exist.
func (b *backend) withConn(ctx context.Context, name string, fn func(*conn) error) error {
	for {
		c, err := b.conn(ctx, name)
		if err != nil {
			return err
		}
		c.mu.RLock()
		if c.closed {
			// Replaced by a config change since we looked it up.
			c.mu.RUnlock()
			continue
		}
		err = fn(c)
		c.mu.RUnlock()
		return err
	}
}

// conn returns the cached pool of config name, opening it if needed.
func (b *backend) conn(ctx context.Context, name string) (*conn, error) {
	for {
		b.mu.Lock()
		c, gen := b.conns[name], b.gen
		b.mu.Unlock()
		if c != nil {
			return c, nil
		}
		cfg, err := b.loadConfig(ctx, name)
		if err != nil {
			return nil, err
		}
		if cfg == nil {
			return nil, errNoConfig(name)
		}
		if cfg.PendingPassword != "" {
			if cfg, err = b.recoverRotation(ctx, name); err != nil {
				return nil, err
			}
			if cfg == nil {
				return nil, errNoConfig(name)
			}
		}
		c, err = b.openConn(name, cfg)
		if err != nil {
			return nil, fmt.Errorf("open config %q: %w", name, err)
		}
		b.mu.Lock()
		if b.gen == gen && b.conns[name] == nil {
			b.conns[name] = c
			b.mu.Unlock()
			return c, nil
		}
		// A config changed while we opened it: start again from storage.
		b.mu.Unlock()
		c.close()
	}
}

// swapConn installs c (nil: none) as the pool of config name and closes the
// one it replaces. Callers hold configMu and have already stored the
// config c was opened from.
func (b *backend) swapConn(name string, c *conn) {
	b.mu.Lock()
	old := b.conns[name]
	if c == nil {
		delete(b.conns, name)
	} else {
		b.conns[name] = c
	}
	b.gen++
	b.mu.Unlock()
	if old != nil {
		old.close()
	}
}
