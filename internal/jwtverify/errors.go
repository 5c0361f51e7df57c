package jwtverify

import "errors"

// ErrInvalidToken is wrapped by every error Verify returns for a token that
// fails a check (as opposed to a configuration that cannot be used). Each
// such error also wraps exactly one of the more specific sentinels below.
var ErrInvalidToken = errors.New("invalid token")

// The checks a token can fail. Match them with errors.Is.
var (
	// ErrTooLarge: the token is longer than MaxTokenSize; it was not parsed.
	ErrTooLarge = errors.New("token is larger than the 64 KiB limit")
	// ErrMalformed: not a JWS in compact serialization with one signature
	// and a JSON object as payload.
	ErrMalformed = errors.New("token is not a well-formed signed JWT")
	// ErrAlgorithm: the header's "alg" is not among the allowed algorithms
	// ("none" and HMAC never are).
	ErrAlgorithm = errors.New("token is signed with an algorithm that is not allowed")
	// ErrUnknownKey: no configured or published key has the token's key ID
	// (or fits its algorithm), even after fetching the keys again.
	ErrUnknownKey = errors.New("no known key matches the token's key ID and algorithm")
	// ErrSignature: a key was found but the signature does not verify.
	ErrSignature = errors.New("token signature does not verify with any known key")
	// ErrIssuer: the "iss" claim is not the expected issuer.
	ErrIssuer = errors.New("invalid issuer (iss) claim")
	// ErrSubject: the "sub" claim is not the expected subject.
	ErrSubject = errors.New("invalid subject (sub) claim")
	// ErrAudience: no "aud" value is among the expected audiences.
	ErrAudience = errors.New("invalid audience (aud) claim: no audience in the token is bound")
	// ErrExpired: "exp" is in the past, beyond the leeway.
	ErrExpired = errors.New("token is expired (exp claim)")
	// ErrNotYetValid: "nbf" is in the future, beyond the leeway.
	ErrNotYetValid = errors.New("token is not yet valid (nbf claim)")
	// ErrIssuedInFuture: "iat" is in the future, beyond the leeway.
	ErrIssuedInFuture = errors.New("token was issued in the future (iat claim)")
	// ErrNoTimeClaims: the token has none of "exp", "nbf" and "iat", so it
	// would never expire.
	ErrNoTimeClaims = errors.New("token has no expiration time (exp), not before (nbf) or issued at (iat) claim")
	// ErrClaimMissing: a claim the caller asked for is absent.
	ErrClaimMissing = errors.New("claim is missing")
	// ErrClaimType: a claim has the wrong JSON type (a string "exp", a
	// number where a string is expected, ...).
	ErrClaimType = errors.New("claim has the wrong type")
	// ErrKeysUnavailable: the keys could not be fetched from the JWKS or
	// discovery URL, so the token could not be checked.
	ErrKeysUnavailable = errors.New("could not fetch the issuer's public keys")
)

// ErrConfig is wrapped by every error New returns: the key configuration
// cannot be used as given.
var ErrConfig = errors.New("invalid JWT key configuration")

// checkError is a failed check: its message says which, and errors.Is finds
// both the check's sentinel and ErrInvalidToken. It never holds the token.
type checkError struct {
	kind error
	msg  string
}

func (e *checkError) Error() string { return e.msg }

// Is lets errors.Is match the check's sentinel and ErrInvalidToken.
func (e *checkError) Is(target error) bool { return target == e.kind || target == ErrInvalidToken }

// fail returns a checkError of kind whose message is the sentinel's,
// followed by detail when there is one.
func fail(kind error, detail string) error {
	msg := kind.Error()
	if detail != "" {
		msg += ": " + detail
	}
	return &checkError{kind: kind, msg: msg}
}

// configError is a configuration problem: errors.Is finds ErrConfig.
type configError struct{ msg string }

func (e *configError) Error() string { return e.msg }

func (e *configError) Unwrap() error { return ErrConfig }
