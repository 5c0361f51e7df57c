package kubernetes

import (
	"context"
	"errors"
	"maps"
	"strings"

	"github.com/cofferhq/coffer/internal/framework"
	"github.com/cofferhq/coffer/internal/jwtverify"
	"github.com/cofferhq/coffer/internal/logical"
	"github.com/cofferhq/coffer/internal/loginlimit"
)

// algorithms are those a cluster may sign with; jwtverify never allows
// HMAC or "none" whatever is asked.
var algorithms = jwtverify.SupportedAlgorithms()

func (b *backend) loginPaths() []*framework.Path {
	return []*framework.Path{{
		Pattern: "login",
		Fields: map[string]*framework.FieldSchema{
			"role": {Type: framework.TypeLowerString, Description: "The role to log in against. Required."},
			"jwt":  {Type: framework.TypeString, Description: "The service account's token. Required."},
		},
		Operations: map[logical.Operation]framework.OperationFunc{logical.UpdateOperation: b.login},
		Help:       "Log in with a Kubernetes service-account token; served without a token.",
	}}
}

// login resolves the role, asks the failure limiter, checks the token and
// returns the Auth the core turns into a token. Failures the caller caused
// count against its (role, address), attempts at roles that do not exist
// against (UnknownRole, address); failures of the cluster count against
// nobody.
func (b *backend) login(ctx context.Context, req *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	st, err := b.loadState(ctx)
	if err != nil {
		return nil, err
	}
	if st == nil {
		return nil, errNotConfigured
	}
	name, token := d.String("role"), d.String("jwt")
	switch {
	case name == "":
		return nil, errMissingRole
	case token == "":
		return nil, errMissingJWT
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
		return nil, logical.InvalidRequest("invalid role name %q", name)
	}
	sa, err := b.check(ctx, req, st, r, token)
	if err != nil {
		return nil, b.loginFailed(name, req.RemoteAddr, err)
	}
	return &logical.Response{Auth: r.auth(name, sa)}, nil
}

// loginFailed counts err against (role, address) when the caller caused it
// and turns token errors into 403s naming the check.
func (b *backend) loginFailed(role, remote string, err error) error {
	var ue *logical.UserError
	switch {
	case errors.Is(err, jwtverify.ErrKeysUnavailable):
		b.logger.Warn("kubernetes login: the cluster's keys could not be fetched", "role", role, "error", err.Error())
		return logical.CodedError(logical.ErrUpstream, "error validating token: %v", err)
	case errors.Is(err, logical.ErrUpstream):
		b.logger.Warn("kubernetes login: the Kubernetes API failed", "role", role, "error", err.Error())
		return err
	case errors.Is(err, jwtverify.ErrInvalidToken):
		b.limit.Fail(role, remote)
		return denied("%v", err)
	case errors.As(err, &ue):
		b.limit.Fail(role, remote)
		return err
	}
	return err
}

// check proves who token belongs to and that role r binds it.
func (b *backend) check(ctx context.Context, req *logical.Request, st *configState, r *role, token string) (serviceAccount, error) {
	if len(token) > jwtverify.MaxTokenSize {
		return serviceAccount{}, denied("the jwt is %d bytes, more than the %d allowed", len(token), jwtverify.MaxTokenSize)
	}
	if !logical.AddrInCIDRs(r.BoundCIDRs, req.RemoteAddr) {
		return serviceAccount{}, errCIDR
	}
	var sa serviceAccount
	var err error
	if st.cfg.offline() {
		sa, err = b.checkOffline(ctx, st, r, token)
	} else {
		sa, err = b.checkReview(ctx, st, r, token)
	}
	if err != nil {
		return sa, err
	}
	return sa, b.checkBound(ctx, st, r, sa)
}

// checkOffline checks the signature against the cluster's JWKS, then the
// issuer, the audience (the role's, else the issuer, which is what the API
// server's own audience is by default) and the times.
func (b *backend) checkOffline(ctx context.Context, st *configState, r *role, token string) (serviceAccount, error) {
	iss := st.cfg.Issuer
	if iss == "" {
		if iss = st.verifier.DiscoveredIssuer(); iss == "" {
			iss = st.cfg.OIDCDiscoveryURL
		}
	}
	aud := r.Audience
	if aud == "" {
		aud = iss
	}
	claims, err := st.verifier.Verify(ctx, token, jwtverify.Expected{
		Algorithms: algorithms, Issuer: iss, Audiences: []string{aud},
	})
	if err != nil {
		return serviceAccount{}, err
	}
	return fromClaims(claims)
}

// checkReview asks the TokenReview API (after the pem_keys signature and
// issuer checks, when configured), which also refuses tokens of deleted
// service accounts and deleted bound pods.
func (b *backend) checkReview(ctx context.Context, st *configState, r *role, token string) (serviceAccount, error) {
	var local *serviceAccount
	if st.verifier != nil {
		want := jwtverify.Expected{Algorithms: algorithms}
		if !st.cfg.DisableISSValidation {
			want.Issuer = st.cfg.Issuer
			if want.Issuer == "" {
				want.Issuer = defaultIssuer
			}
		}
		claims, err := st.verifier.Verify(ctx, token, want)
		if err != nil {
			return serviceAccount{}, err
		}
		sa, err := fromClaims(claims)
		if err != nil {
			return sa, err
		}
		local = &sa
	}
	var audiences []string
	if r.Audience != "" {
		audiences = []string{r.Audience}
	}
	res, err := st.api.review(ctx, token, audiences)
	if err != nil {
		var se *apiStatusError
		if errors.As(err, &se) && (se.Code == 401 || se.Code == 403) && st.api.bearer() == "" {
			// Without a reviewer the token reviews itself: the API server
			// refusing it is the token's failure.
			return serviceAccount{}, denied("lookup failed: the API server refused the token as a reviewer (HTTP %d); configure token_reviewer_jwt or grant the account system:auth-delegator", se.Code)
		}
		return serviceAccount{}, logical.CodedError(logical.ErrUpstream,
			"lookup failed: the TokenReview API at %s could not review the token: %v", st.cfg.Host, err)
	}
	if !res.Authenticated {
		return serviceAccount{}, denied("lookup failed: service account unauthorized; this could mean it has been deleted or recreated with a new token, its bound pod is gone, it has expired or is not for this audience (%s)", reviewReason(res.Error, token))
	}
	sa, err := fromReview(res)
	if err != nil {
		return sa, err
	}
	if local != nil && (local.Namespace != sa.Namespace || local.Name != sa.Name || local.UID != sa.UID) {
		return sa, denied("the token's claims do not match the service account the TokenReview API returned")
	}
	sa.SecretName = secretNameOf(token)
	return sa, nil
}

// reviewReason is the API server's reason for refusing a token, dropped if
// it could hold the token.
func reviewReason(msg, token string) string {
	if msg == "" || len(msg) > 512 || (len(token) > 8 && strings.Contains(msg, token)) {
		return "the API server gave no reason"
	}
	return "the API server said: " + msg
}

// checkBound refuses a service account the role does not bind: its name
// must match a bound name glob, its namespace a bound namespace glob or
// the role's label selector.
func (b *backend) checkBound(ctx context.Context, st *configState, r *role, sa serviceAccount) error {
	if !anyGlob(r.ServiceAccountNames, sa.Name) {
		return errName
	}
	if anyGlob(r.ServiceAccountNamespaces, sa.Namespace) {
		return nil
	}
	if r.selector == nil {
		return errNamespace
	}
	labels, err := st.api.namespaceLabels(ctx, sa.Namespace)
	if err != nil {
		return logical.CodedError(logical.ErrUpstream,
			"could not read the labels of namespace %q for bound_service_account_namespace_selector: %v", sa.Namespace, err)
	}
	if !r.selector.matches(labels) {
		return errNamespace
	}
	return nil
}

// auth is the login's result: the role's token settings, the service
// account in the metadata, and the identity alias.
func (r *role) auth(name string, sa serviceAccount) *logical.Auth {
	aliasMeta := map[string]string{
		"service_account_name":        sa.Name,
		"service_account_namespace":   sa.Namespace,
		"service_account_uid":         sa.UID,
		"service_account_secret_name": sa.SecretName,
	}
	meta := maps.Clone(aliasMeta)
	meta["role"] = name
	alias := sa.UID
	if r.AliasNameSource == aliasName {
		alias = sa.Namespace + "/" + sa.Name
	}
	a := &logical.Auth{
		DisplayName: sa.Namespace + "-" + sa.Name,
		Metadata:    meta,
		Alias:       &logical.Alias{Name: alias, Metadata: aliasMeta},
	}
	r.Params.Apply(a)
	return a
}

// renewAuth lets a login token be renewed only while its role exists and
// still binds the service account it was issued to.
func (b *backend) renewAuth(ctx context.Context, req *logical.Request) error {
	if req.Auth == nil || req.Auth.Metadata["role"] == "" {
		return logical.InvalidRequest("the token names no role; log in again")
	}
	m := req.Auth.Metadata
	name := m["role"]
	r, err := b.roles.Get(ctx, name)
	if err != nil {
		return err
	}
	if r == nil {
		return logical.InvalidRequest("role %q no longer exists; log in again after it is recreated", name)
	}
	st, err := b.loadState(ctx)
	if err != nil {
		return err
	}
	if st == nil {
		return errNotConfigured
	}
	sa := serviceAccount{Namespace: m["service_account_namespace"], Name: m["service_account_name"], UID: m["service_account_uid"]}
	if err := b.checkBound(ctx, st, r, sa); err != nil {
		if errors.Is(err, logical.ErrUpstream) {
			return err
		}
		return logical.CodedError(logical.ErrPermissionDenied, "role %q no longer binds this service account (%v); not renewing", name, err)
	}
	r.Params.ApplyRenewal(req.Auth)
	return nil
}
