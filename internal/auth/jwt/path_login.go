package jwt

import (
	"context"
	"errors"
	"maps"

	"github.com/cofferhq/coffer/internal/framework"
	"github.com/cofferhq/coffer/internal/jwtverify"
	"github.com/cofferhq/coffer/internal/logical"
	"github.com/cofferhq/coffer/internal/loginlimit"
)

func (b *backend) loginPaths() []*framework.Path {
	return []*framework.Path{{
		Pattern: "login",
		Fields: map[string]*framework.FieldSchema{
			"role": {Type: framework.TypeLowerString, Description: "The role to log in against; the config's default_role when empty."},
			"jwt":  {Type: framework.TypeString, Description: "The signed JWT."},
		},
		Operations: map[logical.Operation]framework.OperationFunc{logical.UpdateOperation: b.login},
		Help:       "Log in with a signed JWT; served without a token.",
	}}
}

// login resolves the role, asks the failure limiter, checks the token and
// returns the Auth the core turns into a token. Failures the caller caused
// count against its (role, address), and attempts at roles that do not
// exist all count against (unknownRole, address), so that spraying made-up
// names is limited too; a key server that cannot be reached counts against
// nobody.
func (b *backend) login(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	st, err := b.loadState(ctx)
	if err != nil {
		return nil, err
	}
	if st == nil {
		return nil, errNotConfigured
	}
	name := d.String("role")
	if name == "" {
		name = st.cfg.DefaultRole
	}
	if name == "" {
		return nil, errMissingRole
	}
	r, err := b.roles.Get(ctx, name)
	if err != nil {
		return nil, err
	}
	key := name
	if r == nil {
		key = loginlimit.UnknownRole
	}
	if err := b.limit.Allow(key, req.RemoteAddr); err != nil {
		return nil, err
	}
	if r == nil {
		b.limit.Fail(key, req.RemoteAddr)
		return nil, logical.InvalidRequest("role %q could not be found", name)
	}
	auth, err := b.loginRole(ctx, req, st, name, r, d.String("jwt"))
	if err != nil {
		return nil, b.loginFailed(name, req.RemoteAddr, err)
	}
	return &logical.Response{Auth: auth}, nil
}

// loginFailed counts err against (role, address) when the caller caused it
// and turns token errors into Vault's 400.
func (b *backend) loginFailed(role, remote string, err error) error {
	var ue *logical.UserError
	switch {
	case errors.Is(err, jwtverify.ErrKeysUnavailable):
		b.logger.Warn("jwt login: the issuer's keys could not be fetched", "role", role, "error", err.Error())
		return logical.InvalidRequest("error validating token: %v", err)
	case errors.Is(err, jwtverify.ErrInvalidToken):
		b.limit.Fail(role, remote)
		return logical.InvalidRequest("error validating token: %v", err)
	case errors.As(err, &ue):
		b.limit.Fail(role, remote)
		return err
	}
	return err
}

// loginRole checks token against role r (named name), in Vault's order:
// the role type, the token's presence, the client address, the signature
// and registered claims, the audience binding, the user and groups claims,
// the claim mappings, the bound claims.
func (b *backend) loginRole(ctx context.Context, req *logical.Request, st *configState, name string, r *role, token string) (*logical.Auth, error) {
	switch {
	case r.RoleType != roleTypeJWT:
		return nil, logical.InvalidRequest("role with %s role_type is not allowed", r.RoleType)
	case token == "":
		return nil, errMissingToken
	case !logical.AddrInCIDRs(r.BoundCIDRs, req.RemoteAddr):
		return nil, errCIDR
	}
	claims, err := st.verifier.Verify(ctx, token, jwtverify.Expected{
		Algorithms: st.cfg.JWTSupportedAlgs,
		Issuer:     st.cfg.BoundIssuer,
		Subject:    r.BoundSubject,
		Audiences:  r.BoundAudiences,

		ClockSkewLeeway:  r.ClockSkewLeeway,
		ExpirationLeeway: r.ExpirationLeeway,
		NotBeforeLeeway:  r.NotBeforeLeeway,
	})
	if err != nil {
		return nil, err
	}
	if len(r.BoundAudiences) == 0 && len(claims.Audience()) > 0 {
		return nil, errUnboundAudience
	}
	user, err := userName(claims, r)
	if err != nil {
		return nil, logical.InvalidRequest("%v", err)
	}
	var groups []*logical.Alias
	if r.GroupsClaim != "" {
		names, err := claims.StringList(r.GroupsClaim)
		if err != nil {
			return nil, logical.InvalidRequest("groups_claim: %v", err)
		}
		for _, g := range names {
			if g != "" {
				groups = append(groups, &logical.Alias{Name: g})
			}
		}
	}
	meta, err := mapClaims(claims, r.ClaimMappings)
	if err != nil {
		return nil, logical.InvalidRequest("%v", err)
	}
	meta["role"] = name
	if err := matchBoundClaims(claims, r.BoundClaimsType, r.BoundClaims); err != nil {
		return nil, logical.InvalidRequest("error validating claims: %v", err)
	}
	auth := &logical.Auth{
		DisplayName:  user,
		Metadata:     meta,
		Alias:        &logical.Alias{Name: user, Metadata: maps.Clone(meta)},
		GroupAliases: groups,
	}
	r.Params.Apply(auth)
	return auth, nil
}

// renewAuth lets a login token be renewed only while its role exists with
// the same policies.
func (b *backend) renewAuth(ctx context.Context, req *logical.Request) error {
	name := ""
	if req.Auth != nil {
		name = req.Auth.Metadata["role"]
	}
	if name == "" {
		return logical.InvalidRequest("the token names no role; log in again")
	}
	r, err := b.roles.Get(ctx, name)
	if err != nil {
		return err
	}
	if r == nil {
		return logical.InvalidRequest("role %q no longer exists; log in again after it is recreated", name)
	}
	if !samePolicies(r.Policies, req.Auth.Policies) {
		return logical.InvalidRequest("policies have changed, not renewing; log in again")
	}
	r.Params.ApplyRenewal(req.Auth)
	return nil
}

// samePolicies compares a role's policies with a token's, ignoring the
// "default" policy the token store adds.
func samePolicies(role, tok []string) bool {
	set := func(ps []string) map[string]bool {
		m := map[string]bool{}
		for _, p := range ps {
			if p != "default" {
				m[p] = true
			}
		}
		return m
	}
	return maps.Equal(set(role), set(tok))
}
