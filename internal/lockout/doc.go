// Package lockout is user lockout: Vault's brute-force protection for
// password-like logins (on by default since Vault 1.13). After
// lockout_threshold failed logins for one alias (a user name, a role ID) on
// one auth mount, further logins for that alias are refused with "permission
// denied" until lockout_duration has passed or an operator unlocks it; the
// failure count starts again after lockout_counter_reset without failures.
//
// It holds three things:
//
//   - Config resolution (Policy.Resolve): a mount's tune settings, then the
//     server configuration's user_lockout stanza for the method type, then
//     the "all" stanza, then the defaults (5, 15m, 15m); an environment
//     switch (VAULT_DISABLE_USER_LOCKOUT) overrides them all.
//   - The Tracker: failure counters in memory only (no storage write per
//     attempt), bounded so that a flood of random names cannot grow memory
//     without limit, and lock records persisted in storage so that a lock
//     survives a restart or a seal.
//   - The Guard the core drives around each unauthenticated request on an
//     auth mount: Begin asks the backend for the login's alias (an auth
//     method opts in by implementing logical.LoginAliaser, which
//     framework.Path.LoginAlias provides) and refuses a locked alias before
//     the backend runs; Attempt.End counts a logical.ErrInvalidCredentials
//     answer as a failure and a login that returned an Auth as a success.
//
// The lockout never tells whether a user exists: it counts and locks every
// alias the same way, known or not, and decides before any user lookup.
//
// It is not for: deciding whether credentials are right (the auth method
// does that), nor for rate limiting by client address (see package quota).
package lockout
