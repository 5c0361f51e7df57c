package approle

import (
	"context"
	"errors"
	"maps"
	"strings"

	"github.com/cofferhq/coffer/internal/framework"
	"github.com/cofferhq/coffer/internal/logical"
	"github.com/cofferhq/coffer/internal/loginlimit"
)

func (b *backend) loginPaths() []*framework.Path {
	return []*framework.Path{{
		Pattern: "login" + framework.OptionalTrailingSlash,
		Fields: map[string]*framework.FieldSchema{
			"role_id":   {Type: framework.TypeString, Description: "The role's identifier."},
			"secret_id": {Type: framework.TypeString, Description: "A secret ID of the role; required when the role binds one."},
		},
		Operations: map[logical.Operation]framework.OperationFunc{logical.UpdateOperation: b.login},
		Help:       "Log in with a role ID and a secret ID; served without a token.",
		// User lockout counts failures per role ID, as Vault's does, spelt
		// as login compares it.
		LoginAlias: func(d *framework.FieldData) string { return strings.TrimSpace(d.String("role_id")) },
	}}
}

// login checks the role ID, the caller's address and, when the role binds
// one, the secret ID (spending one of its uses), and returns the Auth the
// core turns into a token. Every failure of well-formed input is
// ErrInvalidCredentials, the reason going to the log only, and counts
// against the caller's (role ID, address): past loginlimit's burst, its
// next attempts are refused with a 429 before any work.
func (b *backend) login(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	roleID := strings.TrimSpace(d.String("role_id"))
	if roleID == "" {
		return nil, logical.InvalidRequest("missing role_id")
	}
	name, role, err := b.roleByID(ctx, roleID)
	if err != nil {
		return nil, err
	}
	// Made-up role IDs count together per address, so spraying them is
	// limited as guessing at one role is; a known one under itself (the
	// role ID, which the caller has, not the role's name, which it may
	// not).
	key := roleID
	if role == nil {
		key = loginlimit.UnknownRole
	}
	if err := b.limit.Allow(key, req.RemoteAddr); err != nil {
		return nil, err
	}
	if role == nil {
		b.limit.Fail(key, req.RemoteAddr)
		return nil, ErrInvalidCredentials
	}
	resp, err := b.authenticate(ctx, req, d, name, role)
	if errors.Is(err, ErrInvalidCredentials) {
		b.limit.Fail(key, req.RemoteAddr)
	}
	return resp, err
}

// authenticate checks the caller's address and, when the role binds one,
// its secret ID, spending one of its uses.
func (b *backend) authenticate(ctx context.Context, req *logical.Request, d *framework.FieldData, name string, role *roleEntry) (*logical.Response, error) {
	var entry *secretEntry
	if role.BindSecretID {
		secretID := strings.TrimSpace(d.String("secret_id"))
		if secretID == "" {
			return nil, logical.InvalidRequest("missing secret_id")
		}
		if len(secretID) > maxInputLength {
			return nil, ErrInvalidCredentials
		}
		// The address is checked before a use is spent, so a caller from
		// the wrong place cannot burn a secret ID's uses.
		var err error
		entry, err = b.secrets.consume(ctx, name, secretID, func(e *secretEntry) error {
			return b.checkAddress(name, role, e, req.RemoteAddr)
		})
		if err != nil {
			return nil, err
		}
	} else if err := b.checkAddress(name, role, nil, req.RemoteAddr); err != nil {
		return nil, err
	}
	return &logical.Response{Auth: b.loginAuth(name, role, entry)}, nil
}

// checkAddress refuses a login from outside the role's secret_id_bound_cidrs
// or the secret ID's cidr_list, and a secret ID whose blocks are no longer
// inside the role's (the role was narrowed after it was issued).
func (b *backend) checkAddress(name string, role *roleEntry, e *secretEntry, remote string) error {
	var reason string
	switch {
	case e != nil && !cidrSubset(e.CIDRList, role.SecretIDBoundCIDRs):
		reason = "the secret ID's cidr_list is no longer within the role's secret_id_bound_cidrs"
	case e != nil && !logical.AddrInCIDRs(e.CIDRList, remote):
		reason = "address outside the secret ID's cidr_list"
	case !logical.AddrInCIDRs(role.SecretIDBoundCIDRs, remote):
		reason = "address outside the role's secret_id_bound_cidrs"
	default:
		return nil
	}
	b.logger.Warn("approle login refused", "role", name, "remote_addr", remote, "reason", reason)
	return ErrInvalidCredentials
}

// loginAuth is the Auth of a successful login: the role's token settings,
// the secret ID's token_bound_cidrs in place of the role's when it has
// some, the secret ID's metadata with role_name, and the role ID as the
// identity alias, as Vault reports them.
func (b *backend) loginAuth(name string, role *roleEntry, e *secretEntry) *logical.Auth {
	meta := map[string]string{}
	if e != nil {
		maps.Copy(meta, e.Metadata)
	}
	meta["role_name"] = name
	auth := &logical.Auth{
		Metadata: meta,
		Alias:    &logical.Alias{Name: role.RoleID, Metadata: maps.Clone(meta)},
	}
	role.Params.Apply(auth)
	if e != nil && len(e.TokenBoundCIDRs) > 0 {
		auth.BoundCIDRs = append([]string(nil), e.TokenBoundCIDRs...)
	}
	return auth
}

// renewAuth lets a login token be renewed only while its role exists, as
// Vault's approle does.
func (b *backend) renewAuth(ctx context.Context, req *logical.Request) error {
	name := ""
	if req.Auth != nil {
		name = req.Auth.Metadata["role_name"]
	}
	if name == "" {
		return logical.InvalidRequest("the token carries no role_name; log in again")
	}
	role, err := b.loadRole(ctx, name)
	if err != nil {
		return err
	}
	if role == nil {
		return logical.InvalidRequest("role %q does not exist during renewal", name)
	}
	role.Params.ApplyRenewal(req.Auth)
	return nil
}
