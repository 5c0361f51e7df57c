// Package approle is the AppRole auth method, speaking Vault's approle API:
// for machines outside Kubernetes that prove who they are with two halves
// of a credential delivered separately. An operator creates a role under
// role/<name>; the machine is given the role's role_id (not secret, often
// baked into its image) and, through another channel, a secret_id (secret,
// short-lived, limited in uses, best delivered response-wrapped). It logs
// in at login with both and receives a token carrying the role's policies
// and token settings.
//
// Secret IDs are never stored: the mount keeps HMAC-SHA256 digests under a
// random key that lives in the mount's own storage view (so inside the
// barrier), compares them in constant time, and identifies each secret ID
// to operators by a separate accessor. A secret ID's use limit holds under
// any concurrency: n uses are exactly n logins. Expired secret IDs are
// refused at login and removed by tidy (tidy/secret-id, and every minute
// in the background).
//
// It is not where tokens are made, renewed or rate-limited: a login returns
// a logical.Auth and the core issues the token. Nor does it check policies
// on its own routes; the core does that before a request arrives.
package approle
