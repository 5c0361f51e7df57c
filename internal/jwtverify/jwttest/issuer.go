// Package jwttest is an OpenID Connect issuer for tests: an httptest TLS
// server serving /.well-known/openid-configuration and a JWKS of keys
// generated in the test, which signs tokens with them. It speaks the real
// protocol, so code under test fetches and verifies exactly as it would
// against a production issuer. It also forges the classic bad tokens (alg
// "none", HS256 keyed with the public key, altered signatures).
//
// It is for tests only and holds private keys in memory without care.
package jwttest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// Key is one signing key the issuer holds.
type Key struct {
	ID      string
	Alg     jose.SignatureAlgorithm
	Private crypto.Signer
}

// Public returns the key's public half.
func (k *Key) Public() crypto.PublicKey { return k.Private.Public() }

// PublicPEM returns the public key as a PEM "PUBLIC KEY" block.
func (k *Key) PublicPEM() string {
	der, err := x509.MarshalPKIXPublicKey(k.Public())
	if err != nil {
		panic(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

// Issuer is a running test issuer. Safe for concurrent use.
type Issuer struct {
	// URL is the issuer (and discovery base) URL; CAPEM the PEM of the
	// test server's certificate, to trust it.
	URL   string
	CAPEM string

	srv            *httptest.Server
	mu             sync.Mutex
	keys           []*Key // published, in order; keys[0] signs by default
	hidden         map[string]*Key
	jwksHits       atomic.Int64
	discoveryHits  atomic.Int64
	jwksDelay      atomic.Int64 // nanoseconds each JWKS answer waits
	failJWKS       atomic.Bool
	issuerOverride atomic.Pointer[string]
}

// New starts an issuer with one RSA-2048 key ("key-1", RS256) and stops it
// when the test ends.
func New(t testing.TB) *Issuer {
	t.Helper()
	i := &Issuer{hidden: map[string]*Key{}}
	mux := http.NewServeMux()
	mux.HandleFunc("/.well-known/openid-configuration", i.serveDiscovery)
	mux.HandleFunc("/keys", i.serveJWKS)
	i.srv = httptest.NewTLSServer(mux)
	t.Cleanup(i.srv.Close)
	i.URL = i.srv.URL
	i.CAPEM = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: i.srv.Certificate().Raw}))
	i.AddKey(t, jose.RS256)
	return i
}

// JWKSURL is where the issuer publishes its keys.
func (i *Issuer) JWKSURL() string { return i.URL + "/keys" }

// Client returns an HTTP client that trusts the issuer.
func (i *Issuer) Client() *http.Client { return i.srv.Client() }

func (i *Issuer) serveDiscovery(w http.ResponseWriter, _ *http.Request) {
	i.discoveryHits.Add(1)
	iss := i.URL
	if o := i.issuerOverride.Load(); o != nil {
		iss = *o
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"issuer": iss, "jwks_uri": i.JWKSURL(),
		"id_token_signing_alg_values_supported": []string{"RS256", "ES256", "EdDSA"},
		"response_types_supported":              []string{"id_token"},
		"subject_types_supported":               []string{"public"},
	})
}

func (i *Issuer) serveJWKS(w http.ResponseWriter, _ *http.Request) {
	i.jwksHits.Add(1)
	if d := time.Duration(i.jwksDelay.Load()); d > 0 {
		time.Sleep(d)
	}
	if i.failJWKS.Load() {
		http.Error(w, "unavailable", http.StatusServiceUnavailable)
		return
	}
	i.mu.Lock()
	set := jose.JSONWebKeySet{}
	for _, k := range i.keys {
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: k.Public(), KeyID: k.ID, Algorithm: string(k.Alg), Use: "sig"})
	}
	i.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(set)
}

// AddKey generates and publishes a key for alg (RS256/384/512, PS256,
// ES256/384/512 or EdDSA) and returns it. It signs by default only if it is
// the first.
func (i *Issuer) AddKey(t testing.TB, alg jose.SignatureAlgorithm) *Key {
	t.Helper()
	k := GenerateKey(t, alg)
	i.mu.Lock()
	defer i.mu.Unlock()
	k.ID = fmt.Sprintf("key-%d", len(i.keys)+len(i.hidden)+1)
	i.keys = append(i.keys, k)
	return k
}

// AddHiddenKey generates a key the issuer can sign with but does not
// publish (yet): Publish makes it appear in the JWKS.
func (i *Issuer) AddHiddenKey(t testing.TB, alg jose.SignatureAlgorithm) *Key {
	t.Helper()
	k := GenerateKey(t, alg)
	i.mu.Lock()
	defer i.mu.Unlock()
	k.ID = fmt.Sprintf("key-%d", len(i.keys)+len(i.hidden)+1)
	i.hidden[k.ID] = k
	return k
}

// Publish adds a hidden key to the JWKS.
func (i *Issuer) Publish(k *Key) {
	i.mu.Lock()
	defer i.mu.Unlock()
	delete(i.hidden, k.ID)
	i.keys = append(i.keys, k)
}

// Withdraw removes a key from the JWKS (it can still sign).
func (i *Issuer) Withdraw(k *Key) {
	i.mu.Lock()
	defer i.mu.Unlock()
	for n, x := range i.keys {
		if x == k {
			i.keys = append(i.keys[:n:n], i.keys[n+1:]...)
			return
		}
	}
}

// DefaultKey is the key Sign uses.
func (i *Issuer) DefaultKey() *Key {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.keys[0]
}

// JWKSHits and DiscoveryHits count the requests served so far.
func (i *Issuer) JWKSHits() int64      { return i.jwksHits.Load() }
func (i *Issuer) DiscoveryHits() int64 { return i.discoveryHits.Load() }

// SetJWKSDelay makes every JWKS answer wait d, to hold fetches open.
func (i *Issuer) SetJWKSDelay(d time.Duration) { i.jwksDelay.Store(int64(d)) }

// SetJWKSFailing makes the JWKS endpoint answer 503 while on is true.
func (i *Issuer) SetJWKSFailing(on bool) { i.failJWKS.Store(on) }

// SetDiscoveredIssuer makes the discovery document name iss instead of URL.
func (i *Issuer) SetDiscoveredIssuer(iss string) { i.issuerOverride.Store(&iss) }

// Claims returns typical claims from this issuer: iss, sub, aud, iat and
// nbf now, exp in ten minutes.
func (i *Issuer) Claims(sub string, aud ...string) map[string]any {
	now := time.Now().Unix()
	c := map[string]any{"iss": i.URL, "sub": sub, "iat": now, "nbf": now, "exp": now + 600}
	switch len(aud) {
	case 0:
	case 1:
		c["aud"] = aud[0]
	default:
		c["aud"] = aud
	}
	return c
}

// Sign signs claims with the default key.
func (i *Issuer) Sign(t testing.TB, claims map[string]any) string {
	t.Helper()
	return SignWith(t, i.DefaultKey(), claims)
}

// GenerateKey makes a fresh key for alg with an empty ID.
func GenerateKey(t testing.TB, alg jose.SignatureAlgorithm) *Key {
	t.Helper()
	var (
		priv crypto.Signer
		err  error
	)
	switch alg {
	case jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.PS384, jose.PS512:
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	case jose.ES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case jose.ES384:
		priv, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case jose.ES512:
		priv, err = ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	case jose.EdDSA:
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	default:
		t.Fatalf("jwttest: no key for %s", alg)
	}
	if err != nil {
		t.Fatal(err)
	}
	return &Key{Alg: alg, Private: priv}
}

// SignWith signs claims with k, naming k.ID in the header when set.
func SignWith(t testing.TB, k *Key, claims map[string]any) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithType("JWT")
	if k.ID != "" {
		opts = opts.WithHeader(jose.HeaderKey("kid"), k.ID)
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: k.Alg, Key: k.Private}, opts)
	if err != nil {
		t.Fatal(err)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	obj, err := s.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	out, err := obj.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Raw builds a compact token from a header, claims and signature bytes as
// given, for forgeries no library would sign.
func Raw(header, claims map[string]any, sig []byte) string {
	h, _ := json.Marshal(header)
	c, _ := json.Marshal(claims)
	enc := base64.RawURLEncoding
	return enc.EncodeToString(h) + "." + enc.EncodeToString(c) + "." + enc.EncodeToString(sig)
}

// RawPayload is Raw with the payload bytes given as they are.
func RawPayload(header map[string]any, payload []byte, sig []byte) string {
	h, _ := json.Marshal(header)
	enc := base64.RawURLEncoding
	return enc.EncodeToString(h) + "." + enc.EncodeToString(payload) + "." + enc.EncodeToString(sig)
}

// NoneToken is an unsigned token with alg "none".
func NoneToken(claims map[string]any) string {
	return Raw(map[string]any{"alg": "none", "typ": "JWT"}, claims, nil)
}

// HMACWithPublicKey is the key-confusion forgery: an HS256 token whose
// HMAC key is the PEM text of k's public key, which a careless verifier
// would use as the secret.
func HMACWithPublicKey(k *Key, claims map[string]any) string {
	header := map[string]any{"alg": "HS256", "typ": "JWT"}
	if k.ID != "" {
		header["kid"] = k.ID
	}
	h, _ := json.Marshal(header)
	c, _ := json.Marshal(claims)
	enc := base64.RawURLEncoding
	input := enc.EncodeToString(h) + "." + enc.EncodeToString(c)
	mac := hmac.New(sha256.New, []byte(k.PublicPEM()))
	mac.Write([]byte(input))
	return input + "." + enc.EncodeToString(mac.Sum(nil))
}

// AlterSignature flips one bit in the token's signature.
func AlterSignature(token string) string {
	i := strings.LastIndexByte(token, '.')
	sig, err := base64.RawURLEncoding.DecodeString(token[i+1:])
	if err != nil || len(sig) == 0 {
		panic("jwttest: not a signed token")
	}
	sig[len(sig)/2] ^= 0x01
	return token[:i+1] + base64.RawURLEncoding.EncodeToString(sig)
}

// AlterClaims replaces the token's payload with claims and keeps the old
// signature, which then no longer matches.
func AlterClaims(token string, claims map[string]any) string {
	parts := strings.Split(token, ".")
	c, _ := json.Marshal(claims)
	return parts[0] + "." + base64.RawURLEncoding.EncodeToString(c) + "." + parts[2]
}
