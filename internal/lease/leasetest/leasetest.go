// Package leasetest is a tiny secrets engine for tests of the lease
// manager and of the whole server: it hands out leased logins whose
// revocation can be made to fail, and remembers which logins are live. It
// is registered only by tests (through core.Config.Engines), never in the
// production registry.
package leasetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"sort"
	"sync"
	"time"

	"github.com/cofferhq/coffer/internal/framework"
	"github.com/cofferhq/coffer/internal/logical"
)

// Type is the engine's type name in tests' registries.
const Type = "leasetest"

// ErrDown is what a failing revocation returns unless told otherwise.
var ErrDown = errors.New("leasetest: the database is down")

// Engine is the engine's state, shared by every mount its Factory builds,
// so that a test can watch logins across remounts. Safe for concurrent use.
type Engine struct {
	mu      sync.Mutex
	fail    error
	failN   int
	live    map[string]bool
	markers map[string]string
	revoked []string
	renewed int
	// afterIssue, when set, runs after each login is made, before the
	// response leaves the engine (SetAfterIssue).
	afterIssue func()
}

// SetAfterIssue makes f run after each login is made and before the
// engine answers, as a slow database would leave time for: a test can
// revoke the caller's token meanwhile. nil removes it.
func (g *Engine) SetAfterIssue(f func()) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.afterIssue = f
}

// New returns an Engine with nothing issued.
func New() *Engine { return &Engine{live: map[string]bool{}, markers: map[string]string{}} }

// Marker returns the random value the login user's lease carries in its
// InternalData and nowhere else, for tests that check it never leaves the
// barrier.
func (g *Engine) Marker(user string) string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.markers[user]
}

// FailRevocations makes every revocation fail with err (nil: succeed again).
func (g *Engine) FailRevocations(err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.fail, g.failN = err, -1
}

// FailNextRevocations makes the next n revocations fail with ErrDown.
func (g *Engine) FailNextRevocations(n int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.fail, g.failN = ErrDown, n
}

// Live reports whether the login user was issued and not yet revoked.
func (g *Engine) Live(user string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.live[user]
}

// LiveCount returns how many logins are live.
func (g *Engine) LiveCount() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.live)
}

// Revoked returns the logins revoked so far, sorted.
func (g *Engine) Revoked() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := append([]string(nil), g.revoked...)
	sort.Strings(out)
	return out
}

// Renewals returns how many renew requests reached the engine.
func (g *Engine) Renewals() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.renewed
}

// Factory builds a mount of the engine.
func (g *Engine) Factory(_ context.Context, _ *logical.BackendConfig) (logical.Backend, error) {
	creds := &framework.Secret{Type: "creds", DefaultTTL: time.Hour, Renew: g.renew, Revoke: g.revoke}
	static := &framework.Secret{Type: "static", DefaultTTL: time.Hour, Revoke: g.revoke}
	fields := map[string]*framework.FieldSchema{
		"name":    {Type: framework.TypeString},
		"ttl":     {Type: framework.TypeDurationSecond},
		"max_ttl": {Type: framework.TypeDurationSecond},
	}
	return &framework.Backend{
		Secrets: []*framework.Secret{creds, static},
		Paths: []*framework.Path{
			{
				Pattern: "creds/" + framework.GenericNameRegex("name"), Fields: fields,
				Operations: map[logical.Operation]framework.OperationFunc{logical.ReadOperation: g.issue(creds)},
				Help:       "A renewable leased login; ttl and max_ttl shape its lease.",
			},
			{
				Pattern: "static/" + framework.GenericNameRegex("name"), Fields: fields,
				Operations: map[logical.Operation]framework.OperationFunc{logical.ReadOperation: g.issue(static)},
				Help:       "A leased login that cannot be renewed.",
			},
		},
	}, nil
}

// issue hands out a new login as a leased secret of kind s; the login is
// also written to the mount's storage, which revoke deletes.
func (g *Engine) issue(s *framework.Secret) framework.OperationFunc {
	return func(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
		b := make([]byte, 16)
		_, _ = rand.Read(b)
		user, marker := d.String("name")+"-"+hex.EncodeToString(b[:8]), "internal-"+hex.EncodeToString(b[8:])
		if err := req.Storage.Put(ctx, &logical.StorageEntry{Key: "users/" + user, Value: []byte("1")}); err != nil {
			return nil, err
		}
		g.mu.Lock()
		g.live[user], g.markers[user] = true, marker
		after := g.afterIssue
		g.mu.Unlock()
		if after != nil {
			after()
		}
		resp := s.Response(map[string]any{"username": user, "password": "pw-" + user}, map[string]any{"username": user, "marker": marker})
		if ttl := d.Duration("ttl"); ttl > 0 {
			resp.Secret.TTL = ttl
		}
		resp.Secret.MaxTTL = d.Duration("max_ttl")
		return resp, nil
	}
}

func (g *Engine) renew(_ context.Context, req *logical.Request) (*logical.Response, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.renewed++
	user, _ := req.Secret.InternalData["username"].(string)
	if !g.live[user] || req.Secret.InternalData["marker"] != g.markers[user] {
		return nil, logical.InvalidRequest("leasetest: no such login %q", user)
	}
	return &logical.Response{Secret: &logical.Secret{TTL: time.Hour, MaxTTL: req.Secret.MaxTTL}}, nil
}

func (g *Engine) revoke(ctx context.Context, req *logical.Request) (*logical.Response, error) {
	user, _ := req.Secret.InternalData["username"].(string)
	g.mu.Lock()
	if g.failN != 0 && g.fail != nil {
		err := g.fail
		if g.failN > 0 {
			g.failN--
		}
		g.mu.Unlock()
		return nil, err
	}
	g.mu.Unlock()
	g.mu.Lock()
	intact := user != "" && req.Secret.InternalData["marker"] == g.markers[user]
	g.mu.Unlock()
	if !intact {
		return nil, errors.New("leasetest: the lease lost its internal data")
	}
	if err := req.Storage.Delete(ctx, "users/"+user); err != nil {
		return nil, err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.live[user] {
		delete(g.live, user)
		g.revoked = append(g.revoked, user)
	}
	return nil, nil
}
