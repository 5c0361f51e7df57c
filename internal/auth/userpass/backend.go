package userpass

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"strings"
	"sync"

	"golang.org/x/crypto/bcrypt"

	"github.com/cofferhq/coffer/internal/framework"
	"github.com/cofferhq/coffer/internal/logical"
)

// bcryptCost is the work factor of every stored hash and of the dummy hash
// that unknown users are checked against; the two must match so that both
// kinds of failed login cost the same.
const bcryptCost = 10

// userPrefix is the storage folder of user entries, keyed by lower-cased
// name, as Vault lays them out.
const userPrefix = "user/"

// dummyHash is a bcrypt hash of a random password nobody knows, made once
// per process: a login for an unknown user is compared against it so that it
// costs as much as a wrong password for a real one.
var dummyHash = sync.OnceValue(func() []byte {
	pw := make([]byte, 32)
	_, _ = rand.Read(pw)
	h, err := bcrypt.GenerateFromPassword(pw, bcryptCost)
	if err != nil {
		panic("userpass: bcrypt of a 32-byte password failed: " + err.Error())
	}
	return h
})

// backend holds one mount's state. Safe for concurrent use.
type backend struct {
	storage logical.Storage
	logger  *slog.Logger
	// compare checks a password against a hash; tests replace it to count
	// comparisons.
	compare func(hash, password []byte) error
	// cost is the bcrypt work factor of new hashes; only fuzz tests lower
	// it, to run more inputs.
	cost int
	// mu serialises read-modify-write of user entries. Hashing happens
	// before it is taken, so one slow write does not hold up the others.
	mu sync.Mutex
}

// Factory builds a userpass backend for a mount. It keeps every user in
// conf.Storage and returns a *framework.Backend that is safe for concurrent
// use; login/* is declared unauthenticated so that it is reachable without a
// token. It returns ErrNoStorage when conf has no storage.
func Factory(_ context.Context, conf *logical.BackendConfig) (logical.Backend, error) {
	if conf == nil || conf.Storage == nil {
		return nil, ErrNoStorage
	}
	return newBackend(conf).framework(), nil
}

func newBackend(conf *logical.BackendConfig) *backend {
	logger := conf.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	// Made now rather than on the first unknown-user login, which would
	// otherwise take twice as long as later ones.
	dummyHash()
	return &backend{storage: conf.Storage, logger: logger, compare: bcrypt.CompareHashAndPassword, cost: bcryptCost}
}

func (b *backend) framework() *framework.Backend {
	var paths []*framework.Path
	paths = append(paths, b.userPaths()...)
	paths = append(paths, b.loginPaths()...)
	return &framework.Backend{
		Paths:     paths,
		Special:   &logical.Paths{Unauthenticated: []string{"login/*"}},
		AuthRenew: b.renewAuth,
	}
}

// normaliseName lower-cases a username: names are case-insensitive, as in
// Vault, so "Alice" and "alice" are one user.
func normaliseName(name string) string { return strings.ToLower(name) }

// canonicalName accepts a username in a user-management path only when it
// is already lower case: rewriting "ALICE" to "alice" after authorisation
// would let a caller reach a user the policy denies by respelling the name.
// Logins stay case-insensitive.
func canonicalName(name string) (string, error) {
	if n := normaliseName(name); n != name {
		return "", logical.InvalidRequest("usernames are lower case in user paths: use %q", n)
	}
	return name, nil
}

// loadUser returns the entry of the named user, or nil when there is none.
func (b *backend) loadUser(ctx context.Context, name string) (*userEntry, error) {
	var u userEntry
	found, err := logical.GetJSON(ctx, b.storage, userPrefix+name, &u)
	if err != nil || !found {
		return nil, err
	}
	return &u, nil
}

func (b *backend) saveUser(ctx context.Context, name string, u *userEntry) error {
	return logical.PutJSON(ctx, b.storage, userPrefix+name, u)
}

// hashPassword returns the bcrypt hash of a new password, or a 400-class
// error that never contains the password.
func (b *backend) hashPassword(password string) (string, error) {
	switch {
	case password == "":
		return "", logical.InvalidRequest("password must not be empty")
	case len(password) > 72:
		// bcrypt reads only 72 bytes; refusing is better than silently
		// accepting any password that shares the first 72.
		return "", logical.InvalidRequest("password must be at most 72 bytes long")
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), b.cost)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return string(h), nil
}
