// Package jwt is the JWT auth method, speaking the API of Vault's jwt/oidc
// plugin for JWT logins (role_type "jwt"): workload identity federation,
// where an issuer (a Kubernetes cluster, a CI system, a cloud) signs a
// short-lived token and the operator maps issuer + subject + audience +
// claims to policies. It serves config (where the keys come from, the bound
// issuer, the allowed algorithms, the default role), role/<name> (bindings,
// claim mappings, token settings) and login (role, jwt). The same factory
// serves mounts of type "jwt" and "oidc".
//
// Tokens are checked by internal/jwtverify, keys cached per mount and
// refetched for unknown key IDs. A login returns a logical.Auth whose Alias
// is named by the role's user_claim, with the role and the claim_mappings as
// metadata; failed logins are limited per (role, client address) by
// internal/loginlimit.
//
// It is not an OIDC relying party: the browser and device flows of Vault's
// oidc role type (auth_url, callback, allowed_redirect_uris, client
// secrets) are not served, and writing such a role is refused. The verifier
// built from the config is cached per process; a cluster of several nodes
// would need to rebuild it when another node writes the config.
package jwt
