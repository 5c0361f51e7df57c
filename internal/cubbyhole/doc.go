// Package cubbyhole is per-token private storage, as Vault's cubbyhole/:
// every service token has a cubbyhole of its own, which no other token can
// reach (not even root) and which is destroyed with the token. Response
// wrapping keeps a wrapped response in its wrapping token's cubbyhole.
//
// Store holds the cubbyholes, keyed by the token's salted hash (never the
// token itself); Backend serves the cubbyhole/ mount for the calling token.
// It is not where tokens live or die: the token store calls Destroy when it
// revokes one.
package cubbyhole
