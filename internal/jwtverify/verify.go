package jwtverify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// MaxTokenSize is the longest token Verify parses: 64 KiB, far more than
// any identity token needs.
const MaxTokenSize = 64 << 10

// The leeways applied when Expected leaves them zero, as in Vault:
// DefaultClockSkewLeeway on every time claim, DefaultLeeway to stand in for
// a missing exp or nbf.
const (
	DefaultClockSkewLeeway = 60 * time.Second
	DefaultLeeway          = 150 * time.Second
)

type joseAlg = jose.SignatureAlgorithm

// Config says where the keys come from: exactly one of PublicKeys,
// JWKSURL and DiscoveryURL.
type Config struct {
	// PublicKeys are PEM texts of public keys or certificates (each may
	// hold several blocks). Used for every token, whatever its key ID.
	PublicKeys []string
	// JWKSURL is fetched for a JSON Web Key Set; JWKSCAPEM, when set, is
	// the only CA trusted for it.
	JWKSURL   string
	JWKSCAPEM string
	// DiscoveryURL is an OIDC issuer: its /.well-known/openid-configuration
	// must name the same issuer and give the jwks_uri to fetch.
	// DiscoveryCAPEM, when set, is the only CA trusted for both requests.
	DiscoveryURL   string
	DiscoveryCAPEM string

	// HTTPClient, when set, makes the remote requests instead of a client
	// built from the CA PEM (which must then be empty); for callers that
	// need their own transport, such as a bearer token.
	HTTPClient *http.Client
	// MinRefreshInterval and MaxKeyAge default to DefaultMinRefreshInterval
	// and DefaultMaxKeyAge.
	MinRefreshInterval time.Duration
	MaxKeyAge          time.Duration
	// Now is the clock; time.Now when nil. For tests.
	Now func() time.Time
}

// Expected is what a token must satisfy beyond a valid signature.
type Expected struct {
	// Algorithms allowed in the token's header; empty means RS256. Names
	// that are not supported asymmetric algorithms are ignored, so "none"
	// and HMAC can never be allowed.
	Algorithms []string
	// Issuer, when set, must equal the "iss" claim.
	Issuer string
	// Subject, when set, must equal the "sub" claim.
	Subject string
	// Audiences, when set, must share at least one value with "aud".
	Audiences []string
	// ClockSkewLeeway widens every time check (exp, nbf, iat); zero means
	// DefaultClockSkewLeeway, negative none.
	ClockSkewLeeway time.Duration
	// ExpirationLeeway is how long after the later of iat and nbf a token
	// without exp expires; zero means DefaultLeeway, negative none.
	ExpirationLeeway time.Duration
	// NotBeforeLeeway is how long before exp a token without nbf and iat
	// becomes valid; zero means DefaultLeeway, negative none.
	NotBeforeLeeway time.Duration
}

// keySource yields the keys that may have signed a token.
type keySource interface {
	candidates(ctx context.Context, kid string, alg joseAlg) ([]key, error)
}

// staticSource is a fixed list of keys, all tried whatever the key ID.
type staticSource []key

func (s staticSource) candidates(_ context.Context, _ string, alg joseAlg) ([]key, error) {
	return match(s, "", alg), nil
}

// Verifier checks tokens against one key configuration. Safe for
// concurrent use; build one per configuration and keep it, since it caches
// remote keys.
type Verifier struct {
	keys   keySource
	remote *remote // nil for static keys
	now    func() time.Time
}

// New checks cfg and returns a Verifier. It parses PEM keys and CA
// certificates but makes no network request (see Check). Errors wrap
// ErrConfig and say what to fix.
func New(cfg Config) (*Verifier, error) {
	sources := 0
	for _, set := range []bool{len(cfg.PublicKeys) > 0, cfg.JWKSURL != "", cfg.DiscoveryURL != ""} {
		if set {
			sources++
		}
	}
	if sources != 1 {
		return nil, &configError{msg: "exactly one of public keys, a JWKS URL or an OIDC discovery URL must be set"}
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	v := &Verifier{now: now}
	if len(cfg.PublicKeys) > 0 {
		keys, err := staticKeys(cfg.PublicKeys)
		if err != nil {
			return nil, err
		}
		v.keys = staticSource(keys)
		return v, nil
	}
	r := &remote{jwksURL: cfg.JWKSURL, discoveryURL: cfg.DiscoveryURL, now: now,
		minInterval: cfg.MinRefreshInterval, maxAge: cfg.MaxKeyAge, client: cfg.HTTPClient}
	name, caPEM := "jwks_url", cfg.JWKSCAPEM
	if cfg.DiscoveryURL != "" {
		name, caPEM = "oidc_discovery_url", cfg.DiscoveryCAPEM
	}
	if err := checkURL(name, cfg.JWKSURL+cfg.DiscoveryURL); err != nil {
		return nil, err
	}
	if r.client == nil {
		var err error
		if r.client, err = newHTTPClient(caPEM); err != nil {
			return nil, err
		}
	} else if caPEM != "" {
		return nil, &configError{msg: "a CA PEM and an HTTP client were both given"}
	}
	if r.minInterval <= 0 {
		r.minInterval = DefaultMinRefreshInterval
	}
	if r.maxAge <= 0 {
		r.maxAge = DefaultMaxKeyAge
	}
	v.keys, v.remote = r, r
	return v, nil
}

// Check fetches remote keys now (the discovery document first, when
// configured) and reports whether they can be used: at least one usable
// public signing key. Use it when a configuration is written; it also warms
// the cache. Static keys were checked by New, so Check returns nil. Its
// error wraps ErrKeysUnavailable.
func (v *Verifier) Check(ctx context.Context) error {
	if v.remote == nil {
		return nil
	}
	return v.remote.check(ctx)
}

// DiscoveredIssuer is the issuer named by the OIDC discovery document once
// it has been fetched, or "" (other key sources, or not fetched yet).
func (v *Verifier) DiscoveredIssuer() string {
	if v.remote == nil {
		return ""
	}
	return v.remote.issuer()
}

// Verify checks token (a JWS in compact serialization; surrounding white
// space is ignored) and returns its claims. In order: the size cap, the
// form, the algorithm, a key (fetching remote keys again for an unknown key
// ID, within the refresh limits), the signature, the claims' types, then
// iss, sub, aud and the times. Every failure wraps ErrInvalidToken and the
// sentinel of the check, except a failed key fetch, which wraps only
// ErrKeysUnavailable. No error contains any part of the token but its
// algorithm name.
func (v *Verifier) Verify(ctx context.Context, token string, want Expected) (Claims, error) {
	if len(token) > MaxTokenSize {
		return nil, fail(ErrTooLarge, fmt.Sprintf("%d bytes", len(token)))
	}
	token = strings.TrimSpace(token)
	algs := allowedAlgorithms(want.Algorithms)
	if len(algs) == 0 {
		return nil, fail(ErrAlgorithm, "no supported algorithm is allowed")
	}
	jws, err := jose.ParseSignedCompact(token, algs)
	if err != nil {
		var bad *jose.ErrUnexpectedSignatureAlgorithm
		if errors.As(err, &bad) {
			return nil, fail(ErrAlgorithm, fmt.Sprintf("%q; allowed: %s", truncate(string(bad.Got), 16), algNames(algs)))
		}
		return nil, fail(ErrMalformed, "")
	}
	if len(jws.Signatures) != 1 {
		return nil, fail(ErrMalformed, "exactly one signature is needed")
	}
	h := jws.Signatures[0].Header
	keys, err := v.keys.candidates(ctx, h.KeyID, joseAlg(h.Algorithm))
	if err != nil {
		return nil, err
	}
	if len(keys) == 0 {
		return nil, fail(ErrUnknownKey, "")
	}
	payload, err := verifyWithAny(jws, keys)
	if err != nil {
		return nil, err
	}
	claims, err := decodeClaims(payload)
	if err != nil {
		return nil, err
	}
	if err := checkClaims(claims, want, v.now()); err != nil {
		return nil, err
	}
	return claims, nil
}

// verifyWithAny returns the payload once one of keys verifies the
// signature.
func verifyWithAny(jws *jose.JSONWebSignature, keys []key) ([]byte, error) {
	for i := range keys {
		if payload, err := jws.Verify(keys[i].pub); err == nil {
			return payload, nil
		}
	}
	return nil, fail(ErrSignature, "")
}

// match returns the keys with key ID kid (any ID when kid is empty or the
// key has none) that fit alg.
func match(keys []key, kid string, alg joseAlg) []key {
	var out []key
	for _, k := range keys {
		if kid != "" && k.id != "" && k.id != kid {
			continue
		}
		if k.fits(alg) {
			out = append(out, k)
		}
	}
	return out
}

// unavailable wraps a fetch failure as ErrKeysUnavailable.
func unavailable(err error) error {
	if err == nil {
		err = errors.New("no keys have been fetched yet")
	}
	return &unavailableError{msg: ErrKeysUnavailable.Error() + ": " + err.Error()}
}

// unavailableError is a failed key fetch: not the token's fault.
type unavailableError struct{ msg string }

func (e *unavailableError) Error() string { return e.msg }

func (e *unavailableError) Unwrap() error { return ErrKeysUnavailable }

// decodeClaims reads the payload as one JSON object, numbers kept as
// json.Number so that integers stay exact.
func decodeClaims(payload []byte) (Claims, error) {
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	var c map[string]any
	if err := dec.Decode(&c); err != nil || c == nil || dec.More() {
		return nil, fail(ErrMalformed, "the payload is not a JSON object")
	}
	return Claims(c), nil
}

// checkClaims checks the registered claims' types, then iss, sub, aud and
// the times at now, with Vault's rules: a token needs at least one of exp,
// nbf and iat; a missing exp is the later of iat and nbf plus the
// expiration leeway; a missing nbf is iat, or exp minus the not-before
// leeway; every time is then compared with the clock-skew leeway.
func checkClaims(c Claims, want Expected, now time.Time) error {
	iss, err := c.optionalString("iss")
	if err != nil {
		return err
	}
	sub, err := c.optionalString("sub")
	if err != nil {
		return err
	}
	aud, err := c.optionalStrings("aud")
	if err != nil {
		return err
	}
	if want.Issuer != "" && iss != want.Issuer {
		return fail(ErrIssuer, fmt.Sprintf("want %q", want.Issuer))
	}
	if want.Subject != "" && sub != want.Subject {
		return fail(ErrSubject, "")
	}
	if len(want.Audiences) > 0 && !slices.ContainsFunc(aud, func(a string) bool { return slices.Contains(want.Audiences, a) }) {
		return fail(ErrAudience, "")
	}
	return checkTimes(c, want, now)
}

func checkTimes(c Claims, want Expected, now time.Time) error {
	var t [3]float64 // exp, nbf, iat; 0 when absent
	var set [3]bool
	for i, name := range []string{"exp", "nbf", "iat"} {
		v, ok, err := c.numericDate(name)
		if err != nil {
			return err
		}
		t[i], set[i] = v, ok
	}
	exp, nbf, iat := t[0], t[1], t[2]
	if !set[0] && !set[1] && !set[2] {
		return fail(ErrNoTimeClaims, "")
	}
	if !set[0] {
		exp = max(iat, nbf) + leeway(want.ExpirationLeeway, DefaultLeeway).Seconds()
	}
	if !set[1] {
		if set[2] {
			nbf = iat
		} else {
			nbf = exp - leeway(want.NotBeforeLeeway, DefaultLeeway).Seconds()
		}
	}
	skew := leeway(want.ClockSkewLeeway, DefaultClockSkewLeeway).Seconds()
	n := float64(now.UnixNano()) / 1e9
	switch {
	case n+skew < nbf:
		return fail(ErrNotYetValid, "")
	case n-skew > exp:
		return fail(ErrExpired, "")
	case set[2] && n+skew < iat:
		return fail(ErrIssuedInFuture, "")
	}
	return nil
}

// leeway resolves a configured leeway: zero is def, negative is none.
func leeway(d, def time.Duration) time.Duration {
	switch {
	case d < 0:
		return 0
	case d == 0:
		return def
	}
	return d
}

func algNames(algs []joseAlg) string {
	names := make([]string, len(algs))
	for i, a := range algs {
		names[i] = string(a)
	}
	return strings.Join(names, ", ")
}

// truncate shortens s to at most n bytes, for quoting header values.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// finite reports whether f is a usable time value.
func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }
