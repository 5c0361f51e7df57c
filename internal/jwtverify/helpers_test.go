package jwtverify

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cofferhq/coffer/internal/jwtverify/jwttest"
)

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Now()} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// discoveryVerifier is a Verifier on iss's discovery document, trusting its
// CA, with clk as its clock.
func discoveryVerifier(t *testing.T, iss *jwttest.Issuer, clk *clock) *Verifier {
	t.Helper()
	v, err := New(Config{DiscoveryURL: iss.URL, DiscoveryCAPEM: iss.CAPEM, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// mustVerify fails the test unless token verifies.
func mustVerify(t *testing.T, v *Verifier, token string, want Expected) Claims {
	t.Helper()
	c, err := v.Verify(context.Background(), token, want)
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	return c
}

// assertRefused checks that err is the check kind, wraps ErrInvalidToken
// and quotes no part of token.
func assertRefused(t *testing.T, err, kind error, token string) {
	t.Helper()
	if err == nil {
		t.Fatalf("accepted; want %v", kind)
	}
	if !errors.Is(err, kind) || !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("err = %v; want %v wrapping ErrInvalidToken", err, kind)
	}
	assertNoTokenIn(t, err.Error(), token)
}

// assertNoTokenIn fails when msg contains the token or any of its
// dot-separated segments longer than a few characters.
func assertNoTokenIn(t *testing.T, msg, token string) {
	t.Helper()
	for _, part := range append([]string{token}, strings.Split(token, ".")...) {
		if len(part) > 8 && strings.Contains(msg, part) {
			t.Fatalf("error %q quotes the token", msg)
		}
	}
}
