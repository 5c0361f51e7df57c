// Package jwtverify checks signed JSON Web Tokens for the auth methods that
// accept them (jwt/oidc and kubernetes): where the public keys come from
// (PEM keys given by the operator, a JWKS URL, or an OIDC discovery URL whose
// document names the JWKS), which algorithms are allowed, the signature, and
// the registered claims (iss, sub, aud, exp, nbf, iat) with Vault's leeway
// rules. It hands back the token's claims for the caller's own bindings, with
// helpers that read a claim by name or JSON pointer and check its type.
//
// All cryptography is github.com/go-jose/go-jose/v4's; nothing here parses a
// signature by hand. "none" and HMAC algorithms are never accepted, whatever
// the configuration says, so a public key can never be used as an HMAC
// secret. Tokens larger than MaxTokenSize are refused before any parsing.
// Remote keys are cached and fetched again only when a token names a key ID
// the cache does not hold (or the cache is old), at most once per
// MinRefreshInterval, and concurrent callers share one fetch.
//
// Every error Verify returns wraps ErrInvalidToken and one sentinel naming
// the check that failed (ErrExpired, ErrAudience, ...); none of them contains
// the token or any part of it, so callers may show them to the client.
//
// It is not an auth method: roles, bound claims, policies and tokens are the
// caller's business, and it never stores anything.
package jwtverify
