package core

import (
	"context"

	"github.com/cofferhq/coffer/internal/logical"
	"github.com/cofferhq/coffer/internal/router"
	"github.com/cofferhq/coffer/internal/wrapping"
)

// Admit tells the HTTP layer, before it reads a request's body, whether
// the path is served without a token (a pre-auth sys/ path, rekey and root
// generation, or a login: true; the same paths HandleRequest serves so) or whether req's token may authenticate a request now (false). It
// returns the error HandleRequest would answer whatever the body: sealed,
// or permission denied for a missing, unknown, expired or used-up token or
// one bound to other addresses. It neither consumes a use of the token nor
// authorises: HandleRequest does both once the body is decoded. It applies
// the rate-limit quotas first, as HandleRequest does, so a flood of bodies
// with made-up tokens is turned away with 429 before it costs a token
// lookup; it marks req so that HandleRequest does not count it again.
// It implements httpapi.Gate; safe for concurrent use.
func (c *Core) Admit(ctx context.Context, req *logical.Request) (bool, error) {
	if _, ok := preAuth(req.Path); ok {
		return true, nil
	}
	st := c.state.Load()
	if st == nil {
		// A standby that knows no active node, or one that lost
		// leadership and is still being forwarded to: "retry", not "sealed".
		return false, c.inactiveError(req)
	}
	if _, ok := unsealedPreAuth(req.Path); ok {
		return true, nil
	}
	if err := applyQuota(st.quotas, req); err != nil {
		return false, err
	}
	route, rest := st.router.Match(req.Path)
	if servedWithoutToken(route, rest) {
		return true, nil
	}
	if req.ClientToken == "" {
		return false, errAdmitDenied()
	}
	te, err := st.tokens.Peek(ctx, req.ClientToken)
	if err != nil {
		return false, err
	}
	if te == nil && wrapping.TakesToken(req.Path) {
		// Unwrapping with a used or expired wrapping token: Vault's 400.
		return false, wrapping.ErrInvalidToken
	}
	if te == nil || !logical.AddrInCIDRs(te.BoundCIDRs, req.RemoteAddr) {
		return false, errAdmitDenied()
	}
	if _, ok := tokenEntity(st, te); !ok {
		return false, errAdmitDenied() // a disabled or deleted entity: the body stays unread
	}
	return false, nil
}

// errAdmitDenied is Admit's answer to a token that may not be used, made
// only when one is turned away.
func errAdmitDenied() error {
	return logical.CodedError(logical.ErrPermissionDenied, "permission denied")
}

// servedWithoutToken reports whether the backend behind route serves rest
// (the path relative to the mount) without a token, as logins are.
func servedWithoutToken(route *router.Route, rest string) bool {
	return route != nil && route.Special != nil && router.MatchesPattern(route.Special.Unauthenticated, rest)
}
