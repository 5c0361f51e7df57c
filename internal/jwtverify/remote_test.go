package jwtverify

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/cofferhq/coffer/internal/jwtverify/jwttest"
)

func httpClient() *http.Client { return &http.Client{} }

func weakRSAPEM(t *testing.T) string {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

// TestKeySources verifies one token through each remote source and checks
// that the CA PEM is what makes the TLS connection trusted.
func TestKeySources(t *testing.T) {
	t.Parallel()
	iss := jwttest.New(t)
	tok := iss.Sign(t, iss.Claims("sa", "coffer"))
	cases := map[string]Config{
		"discovery":        {DiscoveryURL: iss.URL, DiscoveryCAPEM: iss.CAPEM},
		"discovery slash":  {DiscoveryURL: iss.URL + "/", DiscoveryCAPEM: iss.CAPEM},
		"jwks":             {JWKSURL: iss.JWKSURL(), JWKSCAPEM: iss.CAPEM},
		"jwks with client": {JWKSURL: iss.JWKSURL(), HTTPClient: iss.Client()},
		"static":           {PublicKeys: []string{iss.DefaultKey().PublicPEM()}},
	}
	for name, cfg := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			v, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			if err := v.Check(context.Background()); err != nil {
				t.Fatal(err)
			}
			mustVerify(t, v, tok, Expected{Issuer: iss.URL, Audiences: []string{"coffer"}})
			if wantIss := map[bool]string{true: iss.URL}[cfg.DiscoveryURL != ""]; v.DiscoveredIssuer() != wantIss {
				t.Fatalf("DiscoveredIssuer = %q, want %q", v.DiscoveredIssuer(), wantIss)
			}
		})
	}
	t.Run("untrusted CA", func(t *testing.T) {
		t.Parallel()
		v, err := New(Config{JWKSURL: iss.JWKSURL()}) // system roots only
		if err != nil {
			t.Fatal(err)
		}
		err = v.Check(context.Background())
		if !errors.Is(err, ErrKeysUnavailable) || !strings.Contains(err.Error(), "certificate") {
			t.Fatalf("check = %v", err)
		}
		_, err = v.Verify(context.Background(), tok, Expected{})
		if !errors.Is(err, ErrKeysUnavailable) || errors.Is(err, ErrInvalidToken) {
			t.Fatalf("verify = %v; want ErrKeysUnavailable only", err)
		}
	})
}

func TestDiscoveryIssuerMustMatch(t *testing.T) {
	t.Parallel()
	iss := jwttest.New(t)
	iss.SetDiscoveredIssuer("https://elsewhere.example")
	v, err := New(Config{DiscoveryURL: iss.URL, DiscoveryCAPEM: iss.CAPEM})
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Check(context.Background()); !errors.Is(err, ErrKeysUnavailable) || !strings.Contains(err.Error(), "names issuer") {
		t.Fatalf("check = %v", err)
	}
}

// TestUnknownKeyRefresh: a token signed by a key the issuer published after
// the keys were cached is accepted after one fetch; a token with a key ID
// nobody publishes costs at most one fetch per MinRefreshInterval.
func TestUnknownKeyRefresh(t *testing.T) {
	t.Parallel()
	iss := jwttest.New(t)
	clk := newClock()
	v := discoveryVerifier(t, iss, clk)
	ctx := context.Background()
	mustVerify(t, v, iss.Sign(t, iss.Claims("a")), Expected{})
	if h := iss.JWKSHits(); h != 1 {
		t.Fatalf("JWKS fetched %d times for the first token", h)
	}
	if h := iss.DiscoveryHits(); h != 1 {
		t.Fatalf("discovery fetched %d times", h)
	}

	// Rotation: a new key appears and a token names it.
	clk.Advance(DefaultMinRefreshInterval)
	k2 := iss.AddHiddenKey(t, jose.RS256)
	iss.Publish(k2)
	mustVerify(t, v, jwttest.SignWith(t, k2, iss.Claims("a")), Expected{})
	if h := iss.JWKSHits(); h != 2 {
		t.Fatalf("JWKS fetched %d times after rotation, want 2", h)
	}

	// A flood of unknown key IDs right after: no fetch within the interval.
	bogus := jwttest.GenerateKey(t, jose.RS256)
	for i := range 20 {
		bogus.ID = "bogus-" + string(rune('a'+i))
		_, err := v.Verify(ctx, jwttest.SignWith(t, bogus, iss.Claims("a")), Expected{})
		assertRefused(t, err, ErrUnknownKey, "")
	}
	if h := iss.JWKSHits(); h != 2 {
		t.Fatalf("JWKS fetched %d times during a flood within the interval, want 2", h)
	}
	// After the interval, one more fetch; then quiet again.
	clk.Advance(DefaultMinRefreshInterval + time.Millisecond)
	for range 5 {
		_, err := v.Verify(ctx, jwttest.SignWith(t, bogus, iss.Claims("a")), Expected{})
		assertRefused(t, err, ErrUnknownKey, "")
	}
	if h := iss.JWKSHits(); h != 3 {
		t.Fatalf("JWKS fetched %d times, want 3", h)
	}
	// Known keys never cause a fetch, and the document is not re-fetched.
	for range 5 {
		mustVerify(t, v, iss.Sign(t, iss.Claims("a")), Expected{})
	}
	if iss.JWKSHits() != 3 || iss.DiscoveryHits() != 1 {
		t.Fatalf("hits: jwks %d discovery %d", iss.JWKSHits(), iss.DiscoveryHits())
	}
}

// TestConcurrentRefreshSharesOneFetch: many logins presenting a new key ID
// at once cause one JWKS request, and all of them succeed.
func TestConcurrentRefreshSharesOneFetch(t *testing.T) {
	t.Parallel()
	iss := jwttest.New(t)
	clk := newClock()
	v := discoveryVerifier(t, iss, clk)
	if err := v.Check(context.Background()); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Minute)
	k2 := iss.AddHiddenKey(t, jose.RS256)
	iss.Publish(k2)
	tok := jwttest.SignWith(t, k2, iss.Claims("a"))
	before := iss.JWKSHits()
	iss.SetJWKSDelay(50 * time.Millisecond) // holds the fetch open while others arrive
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := v.Verify(context.Background(), tok, Expected{})
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := iss.JWKSHits() - before; n != 1 {
		t.Fatalf("%d JWKS fetches for 64 concurrent logins, want 1", n)
	}
}

// TestStaleKeysRefetched: keys older than MaxKeyAge are fetched again, so a
// withdrawn key stops verifying; a failing issuer leaves the old keys in
// use rather than refusing every login.
func TestStaleKeysRefetched(t *testing.T) {
	t.Parallel()
	iss := jwttest.New(t)
	clk := newClock()
	v := discoveryVerifier(t, iss, clk)
	old := iss.DefaultKey()
	k2 := iss.AddKey(t, jose.RS256)
	// The clock moves hours ahead: tokens must outlive it.
	claims := iss.Claims("a")
	claims["exp"] = time.Now().Add(24 * time.Hour).Unix()
	tokOld := jwttest.SignWith(t, old, claims)
	mustVerify(t, v, tokOld, Expected{})

	iss.SetJWKSFailing(true)
	clk.Advance(DefaultMaxKeyAge + time.Second)
	mustVerify(t, v, tokOld, Expected{}) // the issuer is down: old keys still serve

	iss.SetJWKSFailing(false)
	iss.Withdraw(old)
	clk.Advance(DefaultMinRefreshInterval + time.Second)
	_, err := v.Verify(context.Background(), tokOld, Expected{})
	assertRefused(t, err, ErrUnknownKey, tokOld)
	mustVerify(t, v, jwttest.SignWith(t, k2, claims), Expected{})
}

// TestFirstFetchFailure: without any keys yet, a failing issuer is
// ErrKeysUnavailable (not the token's fault), retried after the interval.
func TestFirstFetchFailure(t *testing.T) {
	t.Parallel()
	iss := jwttest.New(t)
	clk := newClock()
	v, err := New(Config{JWKSURL: iss.JWKSURL(), JWKSCAPEM: iss.CAPEM, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	iss.SetJWKSFailing(true)
	tok := iss.Sign(t, iss.Claims("a"))
	for range 3 {
		_, err := v.Verify(context.Background(), tok, Expected{})
		if !errors.Is(err, ErrKeysUnavailable) || !strings.Contains(err.Error(), "503") {
			t.Fatalf("err = %v", err)
		}
		assertNoTokenIn(t, err.Error(), tok)
	}
	if h := iss.JWKSHits(); h != 1 {
		t.Fatalf("%d fetches within the interval", h)
	}
	iss.SetJWKSFailing(false)
	clk.Advance(DefaultMinRefreshInterval)
	mustVerify(t, v, tok, Expected{})
}

func TestJWKSSkipsUnusableKeys(t *testing.T) {
	t.Parallel()
	rsaKey := jwttest.GenerateKey(t, jose.RS256)
	good, _ := jose.JSONWebKey{Key: rsaKey.Public(), KeyID: "good", Algorithm: "RS256"}.MarshalJSON()
	enc, _ := jose.JSONWebKey{Key: rsaKey.Public(), KeyID: "enc", Use: "enc"}.MarshalJSON()
	priv, _ := jose.JSONWebKey{Key: rsaKey.Private, KeyID: "priv"}.MarshalJSON()
	body := `{"keys":[` + string(good) + `,` + string(enc) + `,` + string(priv) +
		`,{"kty":"oct","k":"c2VjcmV0","kid":"hmac"},{"kty":"weird"},{"kty":"RSA","n":"AQAB","e":"AQAB","kid":"tiny"}]}`
	keys, skipped, err := parseJWKS([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 || keys[0].id != "good" || skipped != 5 {
		t.Fatalf("keys=%d skipped=%d", len(keys), skipped)
	}
	if _, _, err := parseJWKS([]byte(`[1,2]`)); err == nil {
		t.Fatal("a JSON list was accepted as a JWKS")
	}
}

// TestUnknownKeyWhileIssuerDown: a key ID the cache lacks, while the issuer
// cannot be reached, is ErrKeysUnavailable (the key may exist), not a bad
// token; known keys keep working.
func TestUnknownKeyWhileIssuerDown(t *testing.T) {
	t.Parallel()
	iss := jwttest.New(t)
	clk := newClock()
	v := discoveryVerifier(t, iss, clk)
	if err := v.Check(context.Background()); err != nil {
		t.Fatal(err)
	}
	iss.SetJWKSFailing(true)
	clk.Advance(time.Minute)
	k2 := iss.AddKey(t, jose.RS256)
	tok := jwttest.SignWith(t, k2, iss.Claims("a"))
	for range 3 {
		_, err := v.Verify(context.Background(), tok, Expected{})
		if !errors.Is(err, ErrKeysUnavailable) || errors.Is(err, ErrInvalidToken) {
			t.Fatalf("err = %v", err)
		}
	}
	mustVerify(t, v, iss.Sign(t, iss.Claims("a")), Expected{})
}

// TestNoRedirectDowngrade: keys served over https are never fetched after
// a redirect to plain http.
func TestNoRedirectDowngrade(t *testing.T) {
	t.Parallel()
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(`{"keys":[]}`))
	}))
	t.Cleanup(plain.Close)
	tlsSrv := httptest.NewTLSServer(http.RedirectHandler(plain.URL+"/keys", http.StatusFound))
	t.Cleanup(tlsSrv.Close)
	ca := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: tlsSrv.Certificate().Raw}))
	v, err := New(Config{JWKSURL: tlsSrv.URL + "/keys", JWKSCAPEM: ca})
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Check(context.Background()); !errors.Is(err, ErrKeysUnavailable) || !strings.Contains(err.Error(), "redirect from https to http") {
		t.Fatalf("check = %v", err)
	}
}
