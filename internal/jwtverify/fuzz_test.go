package jwtverify

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/cofferhq/coffer/internal/jwtverify/jwttest"
)

// FuzzVerify feeds arbitrary strings as tokens to a verifier with a static
// key. Nothing may panic, every refusal must be an invalid-token error, and
// no message may quote the input.
func FuzzVerify(f *testing.F) {
	k := jwttest.GenerateKey(f, jose.ES256)
	k.ID = "k"
	exp := time.Now().Add(time.Hour).Unix()
	good := map[string]any{"sub": "s", "aud": []string{"a"}, "exp": exp}
	for _, s := range []string{
		jwttest.SignWith(f, k, good),
		jwttest.SignWith(f, k, map[string]any{"exp": "soon", "aud": 3}),
		jwttest.NoneToken(good),
		jwttest.HMACWithPublicKey(k, good),
		jwttest.AlterSignature(jwttest.SignWith(f, k, good)),
		jwttest.Raw(map[string]any{"alg": "ES256", "crit": []string{"x"}}, good, []byte{1, 2}),
		jwttest.RawPayload(map[string]any{"alg": "ES256"}, []byte("[]"), []byte{1}),
		"a.b.c", "..", "", "e30.e30.", `{"payload":"e30"}`, strings.Repeat("A", 300) + ".e30.AA",
	} {
		f.Add(s)
	}
	v, err := New(Config{PublicKeys: []string{k.PublicPEM()}})
	if err != nil {
		f.Fatal(err)
	}
	want := Expected{Algorithms: []string{"ES256", "RS256", "EdDSA", "HS256", "none"}, Audiences: []string{"a"}}
	f.Fuzz(func(t *testing.T, token string) {
		_, err := v.Verify(context.Background(), token, want)
		if err == nil {
			return
		}
		if !errors.Is(err, ErrInvalidToken) {
			t.Fatalf("not an invalid-token error: %v", err)
		}
		for _, part := range strings.Split(strings.TrimSpace(token), ".") {
			if len(part) > 16 && strings.Contains(err.Error(), part) {
				t.Fatalf("error %q quotes the token", err)
			}
		}
	})
}

// FuzzClaims signs arbitrary payloads with a real key, so that claim
// parsing (types, times, audiences) and the claim readers see every shape
// of JSON. Nothing may panic; refusals are invalid-token errors; a claim
// read through a reference either works or says which claim is wrong.
func FuzzClaims(f *testing.F) {
	k := jwttest.GenerateKey(f, jose.EdDSA)
	exp := time.Now().Add(time.Hour).Unix()
	for _, s := range []struct{ payload, ref string }{
		{`{"sub":"x","exp":` + jsonInt(exp) + `}`, "sub"},
		{`{"exp":1e999,"iat":"x"}`, "/a/0"},
		{`{"exp":` + jsonInt(exp) + `,"aud":["a",null,{}],"g":[1,"b"]}`, "g"},
		{`{"exp":` + jsonInt(exp) + `,"kubernetes.io":{"namespace":"n","pod":{"name":"p"}}}`, "/kubernetes.io/pod/name"},
		{`{"nbf":-1,"iat":0.5,"exp":9007199254740993}`, "/~1~0/-"},
		{`null`, ""},
		{`{"exp":` + jsonInt(exp) + `,"a":[[["deep"]]]}`, "/a/0/0/0"},
	} {
		f.Add(s.payload, s.ref)
	}
	v, err := New(Config{PublicKeys: []string{k.PublicPEM()}})
	if err != nil {
		f.Fatal(err)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.EdDSA, Key: k.Private}, nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, payload, ref string) {
		obj, err := signer.Sign([]byte(payload))
		if err != nil {
			t.Skip()
		}
		tok, err := obj.CompactSerialize()
		if err != nil {
			t.Skip()
		}
		c, err := v.Verify(context.Background(), tok, Expected{Algorithms: []string{"EdDSA"}, Audiences: nil})
		if err != nil {
			if !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("not an invalid-token error: %v", err)
			}
			return
		}
		if !json.Valid([]byte(payload)) {
			t.Fatalf("accepted a payload that is not JSON")
		}
		_, _ = c.Lookup(ref)
		for _, get := range []func(string) error{
			func(r string) error { _, err := c.String(r); return err },
			func(r string) error { _, err := c.StringList(r); return err },
		} {
			if err := get(ref); err != nil && !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("claim read error is not an invalid-token error: %v", err)
			}
		}
		_ = c.Audience()
	})
}

func jsonInt(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}
