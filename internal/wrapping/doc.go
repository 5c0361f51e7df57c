// Package wrapping is Vault's response wrapping: instead of a response, the
// client gets a single-use wrapping token whose cubbyhole holds it, so a
// secret (an AppRole secret ID, a token, a KV read) can travel through
// hands that must not see it, and whoever unwraps it learns whether anyone
// did first. It serves what the core and the sys/wrapping/* routes need:
// Wrap a response, Unwrap, Lookup and Rewrap a wrapping token, and Check a
// wrapping token before a request is authorised, as Vault's HTTP layer
// does.
//
// It is not where tokens are made or revoked (the token store issues the
// wrapping token and destroys its cubbyhole when it revokes it), nor where
// policies' min_wrapping_ttl and max_wrapping_ttl are enforced (the core
// does that with the rest of authorisation).
package wrapping
