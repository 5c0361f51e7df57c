// Package tokenutil holds the token settings every auth method offers on
// its roles or users (token_policies, token_ttl, token_max_ttl,
// token_explicit_max_ttl, token_period, token_num_uses, token_bound_cidrs,
// token_no_default_policy, token_type), in one place: their field schemas
// with Vault's older names as aliases (ttl, max_ttl, period, policies,
// bound_cidrs, num_uses), parsing and validating them into Params, the read
// view, and applying them to the logical.Auth a login returns.
//
// It is not for issuing tokens (the token store does that from the
// logical.Auth) or for the token store's own create endpoints, whose
// "ttl", "policies" and "period" are fields in their own right.
package tokenutil
