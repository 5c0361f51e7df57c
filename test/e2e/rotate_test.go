package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/openbao/openbao/api/v2"
)

// sys/rotate/config reads and writes as in Vault: defaults, partial
// updates, Vault's limits with its messages, and the setting is kept in the
// keyring across a seal.
func TestRotateConfig(t *testing.T) {
	t.Parallel()
	s := start(t)
	read := func() map[string]any {
		t.Helper()
		sec, err := s.client.Logical().Read("sys/rotate/config")
		if err != nil || sec == nil {
			t.Fatalf("read rotate config: %v", err)
		}
		return sec.Data
	}
	want := map[string]any{"max_operations": json.Number("3865470566"), "interval": json.Number("0"), "enabled": true}
	if got := read(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("defaults: %v, want %v", got, want)
	}
	if _, err := s.client.Logical().Write("sys/rotate/config", map[string]any{"max_operations": 2000000, "interval": "72h"}); err != nil {
		t.Fatalf("write: %v", err)
	}
	if _, err := s.client.Logical().Write("sys/rotate/keyring/config", map[string]any{"enabled": false}); err != nil {
		t.Fatalf("write through the keyring alias: %v", err)
	}
	want = map[string]any{"max_operations": json.Number("2000000"), "interval": "72h0m0s", "enabled": false}
	if got := read(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("after writes: %v, want %v", got, want)
	}
	bad := map[string]struct {
		body map[string]any
		msg  string
	}{
		"too few operations":  {map[string]any{"max_operations": 10}, "max_operations must be in the range [1000000,3865470566]"},
		"too many operations": {map[string]any{"max_operations": int64(1) << 32}, "max_operations must be in the range [1000000,3865470566]"},
		"short interval":      {map[string]any{"interval": "1h"}, "interval must be greater or equal to 24h0m0s"},
		"not a number":        {map[string]any{"max_operations": "many"}, "max_operations"},
	}
	for name, tc := range bad {
		_, err := s.client.Logical().Write("sys/rotate/config", tc.body)
		if statusOf(err) != http.StatusBadRequest || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if err := s.client.Sys().Seal(); err != nil {
		t.Fatal(err)
	}
	s.unseal(t)
	if got := read(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("after seal and unseal: %v, want %v", got, want)
	}
	// Setting it needs a token with the policy, like any sys/ path.
	tok, err := s.client.Auth().Token().Create(&api.TokenCreateRequest{Policies: []string{"default"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.as(t, tok.Auth.ClientToken).Logical().Write("sys/rotate/config", map[string]any{"enabled": true}); statusOf(err) != http.StatusForbidden {
		t.Fatalf("default token: %v", err)
	}
}

// sys/key-status reports the count kept in storage: a seal and unseal do
// not restart it from zero.
func TestKeyStatusCountSurvivesSeal(t *testing.T) {
	t.Parallel()
	s := start(t)
	for i := range 30 {
		if _, err := s.client.KVv2("secret").Put(t.Context(), fmt.Sprintf("k%d", i), map[string]any{"v": "x"}); err != nil {
			t.Fatal(err)
		}
	}
	before, err := s.client.Sys().KeyStatus()
	if err != nil || before.Encryptions < 30 {
		t.Fatalf("key status: %+v %v", before, err)
	}
	if err := s.client.Sys().Seal(); err != nil {
		t.Fatal(err)
	}
	s.unseal(t)
	after, err := s.client.Sys().KeyStatus()
	if err != nil || after.Term != before.Term || after.Encryptions < before.Encryptions {
		t.Fatalf("after seal and unseal: %+v (before %+v) %v", after, before, err)
	}
	if err := s.client.Sys().RotateKeyring(); err != nil {
		t.Fatalf("rotate through sys/rotate/keyring: %v", err)
	}
	if ks, err := s.client.Sys().KeyStatus(); err != nil || ks.Term != before.Term+1 {
		t.Fatalf("after rotate: %+v %v", ks, err)
	}
}
