package database

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/cofferhq/coffer/internal/engine/database/dbdriver"
	"github.com/cofferhq/coffer/internal/framework"
	"github.com/cofferhq/coffer/internal/logical"
)

// expirationBuffer is added to the expiration a database is told, as in
// Vault, so that a user never expires in the database before its lease
// does.
const expirationBuffer = 5 * time.Second

func (b *backend) credsPaths() []*framework.Path {
	return []*framework.Path{{
		Pattern:    "creds/" + framework.GenericNameRegex("name"),
		Fields:     map[string]*framework.FieldSchema{"name": nameField("Name of the role.")},
		Operations: map[logical.Operation]framework.OperationFunc{logical.ReadOperation: b.readCreds},
		Help:       "Create a database user for a role, under a lease.",
	}}
}

// ttls returns the TTL and the max TTL of a role's credentials: the role's,
// or the mount's where the role sets none, the TTL capped by the max.
func (b *backend) ttls(r *role) (ttl, maxTTL time.Duration) {
	ttl, maxTTL = r.DefaultTTL, b.system.MaxLeaseTTL()
	if ttl == 0 {
		ttl = b.system.DefaultLeaseTTL()
	}
	if r.MaxTTL > 0 && (maxTTL == 0 || r.MaxTTL < maxTTL) {
		maxTTL = r.MaxTTL
	}
	if maxTTL > 0 {
		ttl = min(ttl, maxTTL)
	}
	return ttl, maxTTL
}

// allowedRole reports whether a config's allowed_roles (globs, "*" for
// all) admit role.
func allowedRole(allowed []string, role string) bool {
	return slices.ContainsFunc(allowed, func(pattern string) bool { return glob(pattern, role) })
}

// displayName is the caller's token display name, which Vault's username
// templates call DisplayName.
func displayName(req *logical.Request) string {
	if req.Auth == nil {
		return ""
	}
	return req.Auth.DisplayName
}

// readCreds makes a new database user for a role and answers its name,
// password and the config's connection_url rendered for it, leased. When
// the database cannot be reached nothing is made and no lease is taken: a
// 502 names the config.
func (b *backend) readCreds(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	name := d.String("name")
	r, err := b.loadRole(ctx, name)
	if err != nil {
		return nil, err
	}
	if r == nil {
		return nil, logical.InvalidRequest("unknown role: %s", name)
	}
	ttl, _ := b.ttls(r)
	var resp *logical.Response
	err = b.withConn(ctx, r.DBName, func(c *conn) error {
		if !allowedRole(c.cfg.AllowedRoles, name) {
			return logical.InvalidRequest("%q is not an allowed role", name)
		}
		username, err := c.names.generate(displayName(req), name)
		if err != nil {
			return fmt.Errorf("generate a username for role %q: %w", name, err)
		}
		password := newPassword()
		cu := dbdriver.CreateUserRequest{
			Username: username, Password: password, Expiration: b.now().Add(ttl + expirationBuffer),
			Statements: r.Creation, Rollback: r.Rollback,
		}
		if err := c.driver.CreateUser(ctx, cu); err != nil {
			if errors.Is(err, dbdriver.ErrRollbackFailed) {
				b.recordOrphan(ctx, orphan{DBName: r.DBName, Username: username, Rollback: r.Rollback, Revocation: r.Revocation})
			}
			return dbError(r.DBName, fmt.Sprintf("creating a user for role %q", name), err)
		}
		resp = b.creds.Response(map[string]any{
			"username":       username,
			"password":       password,
			"connection_url": c.plugin.ConnectionURL(c.cfg.ConnectionURL, username, password, c.cfg.DisableEscaping),
		}, map[string]any{
			"username": username, "role": name, "db_name": r.DBName, "revocation_statements": r.Revocation,
		})
		resp.Secret.TTL, resp.Secret.MaxTTL = ttl, r.MaxTTL
		return nil
	})
	if err != nil {
		return nil, err
	}
	return resp, nil
}
