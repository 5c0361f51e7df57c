// Package token is Coffer's token store: it issues, looks up, renews and
// revokes the service tokens that authenticate every request, keeps the
// parent/child tree so that revoking a token revokes what it created, and
// expires tokens in the background. It also serves the auth/token/ routes
// (create, lookup, renew, revoke and their -self, -accessor and -orphan
// variants) as a logical.Backend.
//
// A token ID is never stored: entries are keyed by an HMAC of the ID under a
// random per-store salt, so reading the storage does not yield usable tokens.
//
// It is not where policies are evaluated (package policy) or where the
// leases of secrets live (package lease); the core asks it who a token
// belongs to and decides the rest itself.
package token
