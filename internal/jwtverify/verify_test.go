package jwtverify

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/cofferhq/coffer/internal/jwtverify/jwttest"
)

// TestVerifyRefusesBadTokens is the catalogue of bad tokens: each is
// refused with the sentinel of the check it fails, and the message quotes
// nothing of it.
func TestVerifyRefusesBadTokens(t *testing.T) {
	t.Parallel()
	iss := jwttest.New(t)
	k := iss.DefaultKey()
	v := discoveryVerifier(t, iss, newClock())
	want := Expected{Issuer: iss.URL, Audiences: []string{"coffer"}, Subject: "sa"}
	good := iss.Claims("sa", "coffer")
	with := func(key string, val any) map[string]any {
		c := iss.Claims("sa", "coffer")
		if val == nil {
			delete(c, key)
		} else {
			c[key] = val
		}
		return c
	}
	now := time.Now().Unix()
	stranger := jwttest.GenerateKey(t, jose.RS256)
	stranger.ID = k.ID // claims to be the issuer's key
	unknown := jwttest.GenerateKey(t, jose.RS256)
	unknown.ID = "no-such-key"
	ecKey := jwttest.GenerateKey(t, jose.ES256)
	ecKey.ID = k.ID
	cases := map[string]struct {
		token string
		want  Expected
		kind  error
	}{
		"expired":                {token: iss.Sign(t, with("exp", now-3600)), kind: ErrExpired},
		"expired beyond leeway":  {token: iss.Sign(t, with("exp", now-90)), kind: ErrExpired},
		"not yet valid":          {token: iss.Sign(t, with("nbf", now+3600)), kind: ErrNotYetValid},
		"issued in the future":   {token: iss.Sign(t, with("iat", now+3600)), kind: ErrIssuedInFuture},
		"iat in future, no nbf":  {token: iss.Sign(t, map[string]any{"iss": iss.URL, "sub": "sa", "aud": "coffer", "iat": now + 3600, "exp": now + 7200}), kind: ErrNotYetValid},
		"no time claims":         {token: iss.Sign(t, map[string]any{"iss": iss.URL, "sub": "sa", "aud": "coffer"}), kind: ErrNoTimeClaims},
		"wrong audience":         {token: iss.Sign(t, with("aud", "someone-else")), kind: ErrAudience},
		"no audience":            {token: iss.Sign(t, with("aud", nil)), kind: ErrAudience},
		"wrong issuer":           {token: iss.Sign(t, with("iss", "https://evil.example")), kind: ErrIssuer},
		"wrong subject":          {token: iss.Sign(t, with("sub", "other")), kind: ErrSubject},
		"unknown key id":         {token: jwttest.SignWith(t, unknown, good), kind: ErrUnknownKey},
		"alg none":               {token: jwttest.NoneToken(good), kind: ErrAlgorithm},
		"alg none with kid":      {token: jwttest.Raw(map[string]any{"alg": "none", "kid": k.ID}, good, nil), kind: ErrAlgorithm},
		"HS256 with public key":  {token: jwttest.HMACWithPublicKey(k, good), kind: ErrAlgorithm},
		"HS256 even if allowed":  {token: jwttest.HMACWithPublicKey(k, good), want: Expected{Algorithms: []string{"HS256"}}, kind: ErrAlgorithm},
		"alg not allowed":        {token: jwttest.SignWith(t, ecKey, good), kind: ErrAlgorithm},
		"key of other type":      {token: jwttest.SignWith(t, ecKey, good), want: Expected{Algorithms: []string{"RS256", "ES256"}}, kind: ErrUnknownKey},
		"signature altered":      {token: jwttest.AlterSignature(iss.Sign(t, good)), kind: ErrSignature},
		"claims altered":         {token: jwttest.AlterClaims(iss.Sign(t, good), with("sub", "admin")), kind: ErrSignature},
		"signed by a stranger":   {token: jwttest.SignWith(t, stranger, good), kind: ErrSignature},
		"exp is a string":        {token: iss.Sign(t, with("exp", "tomorrow")), kind: ErrClaimType},
		"iat is a bool":          {token: iss.Sign(t, with("iat", true)), kind: ErrClaimType},
		"sub is a number":        {token: iss.Sign(t, with("sub", 42)), kind: ErrClaimType},
		"aud holds a number":     {token: iss.Sign(t, with("aud", []any{"coffer", 7})), kind: ErrClaimType},
		"iss is an object":       {token: iss.Sign(t, with("iss", map[string]any{"a": 1})), kind: ErrClaimType},
		"oversized":              {token: iss.Sign(t, with("pad", strings.Repeat("x", MaxTokenSize))), kind: ErrTooLarge},
		"two parts":              {token: "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0", kind: ErrMalformed},
		"garbage":                {token: "not a token at all", kind: ErrMalformed},
		"empty":                  {token: "", kind: ErrMalformed},
		"JSON serialization":     {token: `{"payload":"e30","protected":"eyJhbGciOiJSUzI1NiJ9","signature":"AA"}`, kind: ErrMalformed},
		"payload not an object":  {token: jwttest.SignWith(t, k, nil), kind: ErrMalformed},
		"bad base64 signature":   {token: strings.Join(strings.Split(iss.Sign(t, good), ".")[:2], ".") + ".!!!", kind: ErrMalformed},
		"crit header unknown":    {token: critToken(t, k, good), kind: ErrSignature},
		"no supported algorithm": {token: iss.Sign(t, good), want: Expected{Algorithms: []string{"none"}}, kind: ErrAlgorithm},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			w := want
			if tc.want.Algorithms != nil {
				w.Algorithms = tc.want.Algorithms
			}
			_, err := v.Verify(context.Background(), tc.token, w)
			assertRefused(t, err, tc.kind, tc.token)
		})
	}
	mustVerify(t, v, iss.Sign(t, good), want)
}

// critToken signs claims with a "crit" header naming an extension the
// verifier does not understand, which RFC 7515 says must be refused.
func critToken(t *testing.T, k *jwttest.Key, claims map[string]any) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithHeader("kid", k.ID).WithHeader("crit", []string{"exp-ext"}).WithHeader("exp-ext", 1)
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: k.Alg, Key: k.Private}, opts)
	if err != nil {
		t.Fatal(err)
	}
	obj, err := s.Sign([]byte(`{"sub":"sa"}`))
	if err != nil {
		t.Fatal(err)
	}
	out, err := obj.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestVerifyAlgorithms(t *testing.T) {
	t.Parallel()
	algs := []jose.SignatureAlgorithm{jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.ES256, jose.ES384, jose.ES512, jose.EdDSA}
	for _, alg := range algs {
		t.Run(string(alg), func(t *testing.T) {
			t.Parallel()
			k := jwttest.GenerateKey(t, alg)
			v, err := New(Config{PublicKeys: []string{k.PublicPEM()}})
			if err != nil {
				t.Fatal(err)
			}
			tok := jwttest.SignWith(t, k, map[string]any{"sub": "x", "exp": time.Now().Unix() + 60})
			if _, err := v.Verify(context.Background(), tok, Expected{}); alg != jose.RS256 {
				assertRefused(t, err, ErrAlgorithm, tok) // RS256 is the default
			}
			mustVerify(t, v, tok, Expected{Algorithms: []string{string(alg)}})
		})
	}
}

// TestVerifyTimes checks Vault's leeway rules at their edges, with a fixed
// clock.
func TestVerifyTimes(t *testing.T) {
	t.Parallel()
	k := jwttest.GenerateKey(t, jose.RS256)
	clk := newClock()
	v, err := New(Config{PublicKeys: []string{k.PublicPEM()}, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	now := clk.Now().Unix()
	cases := map[string]struct {
		claims map[string]any
		want   Expected
		kind   error // nil: accepted
	}{
		"exp 59s ago, default skew 60s":      {claims: map[string]any{"exp": now - 59}},
		"exp 61s ago, default skew 60s":      {claims: map[string]any{"exp": now - 61}, kind: ErrExpired},
		"exp 61s ago, skew 120s":             {claims: map[string]any{"exp": now - 61}, want: Expected{ClockSkewLeeway: 2 * time.Minute}},
		"exp 1s ago, skew disabled":          {claims: map[string]any{"exp": now - 1}, want: Expected{ClockSkewLeeway: -1}, kind: ErrExpired},
		"exp fractional, in the future":      {claims: map[string]any{"exp": float64(clk.Now().UnixNano())/1e9 + 0.5}, want: Expected{ClockSkewLeeway: -1}},
		"nbf 59s ahead":                      {claims: map[string]any{"nbf": now + 59, "exp": now + 600}},
		"nbf 61s ahead":                      {claims: map[string]any{"nbf": now + 61, "exp": now + 600}, kind: ErrNotYetValid},
		"iat only, recent":                   {claims: map[string]any{"iat": now - 100}},
		"iat only, older than exp leeway":    {claims: map[string]any{"iat": now - 300}, kind: ErrExpired},
		"iat only, exp leeway 1h":            {claims: map[string]any{"iat": now - 300}, want: Expected{ExpirationLeeway: time.Hour}},
		"iat only, exp leeway disabled":      {claims: map[string]any{"iat": now - 61}, want: Expected{ExpirationLeeway: -1}, kind: ErrExpired},
		"exp only, far ahead":                {claims: map[string]any{"exp": now + 3600}, kind: ErrNotYetValid},
		"exp only, within nbf leeway":        {claims: map[string]any{"exp": now + 100}},
		"exp only, nbf leeway 2h":            {claims: map[string]any{"exp": now + 3600}, want: Expected{NotBeforeLeeway: 2 * time.Hour}},
		"nbf only, exp leeway from nbf":      {claims: map[string]any{"nbf": now - 10}},
		"exp huge number":                    {claims: map[string]any{"exp": 1e300, "iat": now}},
		"exp negative":                       {claims: map[string]any{"exp": -5}, kind: ErrExpired},
		"iat and exp, iat 30s in the future": {claims: map[string]any{"iat": now + 30, "exp": now + 600}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			tok := jwttest.SignWith(t, k, tc.claims)
			_, err := v.Verify(context.Background(), tok, tc.want)
			if tc.kind == nil {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			assertRefused(t, err, tc.kind, tok)
		})
	}
}

func TestVerifyAudience(t *testing.T) {
	t.Parallel()
	k := jwttest.GenerateKey(t, jose.RS256)
	v, err := New(Config{PublicKeys: []string{k.PublicPEM()}})
	if err != nil {
		t.Fatal(err)
	}
	exp := time.Now().Unix() + 60
	cases := map[string]struct {
		aud  any
		want []string
		ok   bool
	}{
		"single string":        {aud: "a", want: []string{"a"}, ok: true},
		"list, one matches":    {aud: []string{"x", "b"}, want: []string{"a", "b"}, ok: true},
		"list, none matches":   {aud: []string{"x", "y"}, want: []string{"a", "b"}},
		"unbound accepts any":  {aud: []string{"x"}, ok: true},
		"case matters":         {aud: "A", want: []string{"a"}},
		"absent but required":  {want: []string{"a"}},
		"empty list, required": {aud: []string{}, want: []string{"a"}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			c := map[string]any{"exp": exp}
			if tc.aud != nil {
				c["aud"] = tc.aud
			}
			tok := jwttest.SignWith(t, k, c)
			_, err := v.Verify(context.Background(), tok, Expected{Audiences: tc.want})
			if tc.ok != (err == nil) {
				t.Fatalf("ok=%v err=%v", tc.ok, err)
			}
			if err != nil && !errors.Is(err, ErrAudience) {
				t.Fatalf("err = %v", err)
			}
		})
	}
}

// TestStaticKeys: every PEM key is tried, whatever the token's key ID; PEM
// problems are configuration errors that say what is wrong.
func TestStaticKeys(t *testing.T) {
	t.Parallel()
	a, b := jwttest.GenerateKey(t, jose.RS256), jwttest.GenerateKey(t, jose.ES256)
	b.ID = "whatever"
	v, err := New(Config{PublicKeys: []string{a.PublicPEM(), b.PublicPEM()}})
	if err != nil {
		t.Fatal(err)
	}
	claims := map[string]any{"exp": time.Now().Unix() + 60}
	mustVerify(t, v, jwttest.SignWith(t, a, claims), Expected{})
	mustVerify(t, v, jwttest.SignWith(t, b, claims), Expected{Algorithms: []string{"ES256"}})
	// Several keys in one PEM text, as a kubernetes sa.pub may hold.
	v2, err := New(Config{PublicKeys: []string{a.PublicPEM() + "\n" + b.PublicPEM()}})
	if err != nil {
		t.Fatal(err)
	}
	mustVerify(t, v2, jwttest.SignWith(t, b, claims), Expected{Algorithms: []string{"ES256"}})
}

func TestNewRefusesBadConfig(t *testing.T) {
	t.Parallel()
	k := jwttest.GenerateKey(t, jose.RS256)
	privDER := "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIFdZWaWbHkm2eZ1AxSVF5FeLGpQrDWvMYYlV4YInuHpr\n-----END PRIVATE KEY-----\n"
	cases := map[string]struct {
		cfg  Config
		want string
	}{
		"nothing":           {cfg: Config{}, want: "exactly one of"},
		"two sources":       {cfg: Config{PublicKeys: []string{k.PublicPEM()}, JWKSURL: "https://x"}, want: "exactly one of"},
		"not PEM":           {cfg: Config{PublicKeys: []string{"hello"}}, want: "no PEM block"},
		"private key":       {cfg: Config{PublicKeys: []string{privDER}}, want: "is a private key"},
		"trailing garbage":  {cfg: Config{PublicKeys: []string{k.PublicPEM() + "junk"}}, want: "not PEM"},
		"relative URL":      {cfg: Config{JWKSURL: "/keys"}, want: "absolute http or https URL"},
		"ftp URL":           {cfg: Config{DiscoveryURL: "ftp://x"}, want: "absolute http or https URL"},
		"bad CA":            {cfg: Config{JWKSURL: "https://x/keys", JWKSCAPEM: "nope"}, want: "could not parse CA PEM"},
		"CA and client too": {cfg: Config{JWKSURL: "https://x/keys", JWKSCAPEM: "x", HTTPClient: httpClient()}, want: "both given"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := New(tc.cfg)
			if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v; want ErrConfig containing %q", err, tc.want)
			}
		})
	}
}

func TestCheckAlgorithms(t *testing.T) {
	t.Parallel()
	if err := CheckAlgorithms([]string{"RS256", "ES384", "EdDSA", "PS512"}); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"HS256", "none", "rs256", ""} {
		if err := CheckAlgorithms([]string{"RS256", bad}); !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "unsupported signing algorithm") {
			t.Fatalf("%q: err = %v", bad, err)
		}
	}
}

func TestWeakRSAKeyRefused(t *testing.T) {
	t.Parallel()
	if _, err := New(Config{PublicKeys: []string{weakRSAPEM(t)}}); !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "too short") {
		t.Fatalf("err = %v", err)
	}
}
