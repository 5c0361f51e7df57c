package userpass

import (
	"context"
	"maps"

	"github.com/cofferhq/coffer/internal/framework"
	"github.com/cofferhq/coffer/internal/logical"
)

func (b *backend) loginPaths() []*framework.Path {
	return []*framework.Path{{
		Pattern: "login/" + framework.GenericNameRegex("username"),
		Fields: map[string]*framework.FieldSchema{
			"username": usernameField(),
			"password": {Type: framework.TypeString, Required: true, Description: "The user's password."},
		},
		Operations: map[logical.Operation]framework.OperationFunc{logical.UpdateOperation: b.login},
		Help:       "Log in with a username and password; served without a token.",
		// User lockout counts failures per lower-cased name, as login
		// compares it, so ALICE and alice share one count.
		LoginAlias: func(d *framework.FieldData) string { return normaliseName(d.String("username")) },
	}}
}

// login checks the password and returns the Auth the core turns into a
// token. Every failure is ErrInvalidCredentials after exactly one bcrypt
// comparison (against a dummy hash for an unknown user), so neither the
// answer nor its timing tells whether the user exists.
func (b *backend) login(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	name := normaliseName(d.String("username"))
	u, err := b.loadUser(ctx, name)
	if err != nil {
		return nil, err
	}
	hash := dummyHash()
	if u != nil {
		hash = []byte(u.PasswordHash)
	}
	if err := b.compare(hash, []byte(d.String("password"))); err != nil || u == nil {
		return nil, ErrInvalidCredentials
	}
	if !logical.AddrInCIDRs(u.BoundCIDRs, req.RemoteAddr) {
		// The caller sees the generic failure, so an outsider cannot learn
		// that the password was right; the operator learns why here.
		b.logger.Warn("userpass login refused: address outside token_bound_cidrs", "username", name, "remote_addr", req.RemoteAddr)
		return nil, ErrInvalidCredentials
	}
	// The alias names the user for the identity store, as Vault's userpass
	// does: the entity behind this mount's "alice".
	auth := &logical.Auth{Metadata: map[string]string{"username": name}, DisplayName: name, Alias: &logical.Alias{Name: name}}
	// The token is bound to the user's CIDRs too, so a stolen one is
	// useless elsewhere.
	u.Params.Apply(auth)
	return &logical.Response{Auth: auth}, nil
}

// renewAuth lets a login token be renewed only while its user exists with
// the same policies, as Vault's userpass does.
func (b *backend) renewAuth(ctx context.Context, req *logical.Request) error {
	name := ""
	if req.Auth != nil {
		name = req.Auth.Metadata["username"]
	}
	u, err := b.loadUser(ctx, name)
	if err != nil {
		return err
	}
	if u == nil {
		return logical.InvalidRequest("user %q no longer exists; log in again after it is recreated", name)
	}
	if !samePolicies(u.Policies, req.Auth.Policies) {
		return logical.InvalidRequest("policies have changed, not renewing; log in again")
	}
	return nil
}

// samePolicies compares a user's policies with a token's, ignoring the
// "default" policy the token store adds.
func samePolicies(user, tok []string) bool {
	set := func(ps []string) map[string]bool {
		m := map[string]bool{}
		for _, p := range ps {
			if p != "default" {
				m[p] = true
			}
		}
		return m
	}
	return maps.Equal(set(user), set(tok))
}
