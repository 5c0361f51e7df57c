package database

import (
	"context"
	"fmt"

	"github.com/cofferhq/coffer/internal/engine/database/dbdriver"
	"github.com/cofferhq/coffer/internal/framework"
	"github.com/cofferhq/coffer/internal/logical"
)

// credsSecretType is the leased secret creds/<role> hands out, as Vault
// names it.
const credsSecretType = "creds"

func (b *backend) newCredsSecret() *framework.Secret {
	return &framework.Secret{Type: credsSecretType, Renew: b.renewCreds, Revoke: b.revokeCreds}
}

// internalString reads a string the lease kept for us.
func internalString(s *logical.Secret, key string) (string, error) {
	v, _ := s.InternalData[key].(string)
	if v == "" {
		return "", fmt.Errorf("database: lease is missing %q in its internal data", key)
	}
	return v, nil
}

// internalStrings reads a list the lease kept for us, which comes back
// from storage as []any.
func internalStrings(s *logical.Secret, key string) []string {
	list, _ := parseStatements(s.InternalData[key])
	return list
}

// renewCreds moves the user's expiration in the database to the lease's
// new end (its renew_statements, or the driver's default) and answers the
// role's TTLs; the lease manager caps them.
func (b *backend) renewCreds(ctx context.Context, req *logical.Request) (*logical.Response, error) {
	username, err := internalString(req.Secret, "username")
	if err != nil {
		return nil, err
	}
	roleName, err := internalString(req.Secret, "role")
	if err != nil {
		return nil, err
	}
	r, err := b.loadRole(ctx, roleName)
	if err != nil {
		return nil, err
	}
	if r == nil {
		return nil, logical.InvalidRequest("error during renew: could not find role with name %q", roleName)
	}
	dbName, stmts := r.DBName, r.Renewal
	if created, _ := req.Secret.InternalData["db_name"].(string); created != "" && created != dbName {
		// The role moved to another database since: the user is where
		// it was made, and the role's statements are for the other one.
		dbName, stmts = created, nil
	}
	ttl, maxTTL := b.ttls(r)
	if inc := req.Secret.Increment; inc > 0 {
		ttl = inc
	}
	now := b.now()
	if issued := req.Secret.IssueTime; !issued.IsZero() && maxTTL > 0 {
		ttl = min(ttl, issued.Add(maxTTL).Sub(now))
	}
	if ttl > 0 {
		err := b.withConn(ctx, dbName, func(c *conn) error {
			ru := dbdriver.RenewUserRequest{Username: username, Expiration: now.Add(ttl + expirationBuffer), Statements: stmts}
			if err := c.driver.RenewUser(ctx, ru); err != nil {
				return dbError(dbName, fmt.Sprintf("renewing user %q", username), err)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return &logical.Response{Secret: &logical.Secret{TTL: r.DefaultTTL, MaxTTL: r.MaxTTL, Renewable: true}}, nil
}

// revokeCreds removes the user from the database it was made in, with the
// role's revocation statements (those kept with the lease when the role is
// gone or now names another database), or the driver's default. Vault
// follows the role to its current database instead, which leaves a user
// that never expires behind when a role's db_name changes. An error keeps
// the lease, and the lease manager retries.
func (b *backend) revokeCreds(ctx context.Context, req *logical.Request) (*logical.Response, error) {
	username, err := internalString(req.Secret, "username")
	if err != nil {
		return nil, err
	}
	roleName, _ := req.Secret.InternalData["role"].(string)
	dbName, _ := req.Secret.InternalData["db_name"].(string)
	stmts := internalStrings(req.Secret, "revocation_statements")
	if roleName != "" {
		r, err := b.loadRole(ctx, roleName)
		if err != nil {
			return nil, err
		}
		if r != nil && (dbName == "" || dbName == r.DBName) {
			dbName, stmts = r.DBName, r.Revocation
		}
	}
	if dbName == "" {
		return nil, fmt.Errorf("error during revoke: could not find role with name %q or embedded revocation db name data", roleName)
	}
	return nil, b.withConn(ctx, dbName, func(c *conn) error {
		if err := c.driver.RevokeUser(ctx, dbdriver.RevokeUserRequest{Username: username, Statements: stmts}); err != nil {
			return dbError(dbName, fmt.Sprintf("revoking user %q", username), err)
		}
		return nil
	})
}
