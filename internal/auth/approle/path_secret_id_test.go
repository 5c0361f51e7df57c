package approle

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/cofferhq/coffer/internal/logical"
)

func TestSecretIDIssueLimits(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.role(t, "web", map[string]any{"secret_id_num_uses": 5, "secret_id_ttl": "1h", "token_bound_cidrs": "10.0.0.0/8"})
	h.role(t, "open", map[string]any{"bind_secret_id": false, "secret_id_bound_cidrs": "127.0.0.1"})
	cases := map[string]struct {
		path string
		data map[string]any
		want error
	}{
		"more uses than the role":   {"role/web/secret-id", map[string]any{"num_uses": 6}, logical.ErrInvalidRequest},
		"unlimited under a limit":   {"role/web/secret-id", map[string]any{"num_uses": 0}, logical.ErrInvalidRequest},
		"negative uses":             {"role/web/secret-id", map[string]any{"num_uses": -1}, logical.ErrInvalidRequest},
		"longer than the role":      {"role/web/secret-id", map[string]any{"ttl": "2h"}, logical.ErrInvalidRequest},
		"token cidrs outside role":  {"role/web/secret-id", map[string]any{"token_bound_cidrs": "192.168.0.0/16"}, logical.ErrInvalidRequest},
		"bad cidr":                  {"role/web/secret-id", map[string]any{"cidr_list": "nope"}, logical.ErrInvalidRequest},
		"bad metadata":              {"role/web/secret-id", map[string]any{"metadata": "{not json"}, logical.ErrInvalidRequest},
		"metadata not strings":      {"role/web/secret-id", map[string]any{"metadata": map[string]any{"a": []any{1}}}, logical.ErrInvalidRequest},
		"role without secret IDs":   {"role/open/secret-id", nil, logical.ErrInvalidRequest},
		"missing role":              {"role/none/secret-id", nil, logical.ErrNotFound},
		"custom without secret":     {"role/web/custom-secret-id", nil, logical.ErrInvalidRequest},
		"custom with padding":       {"role/web/custom-secret-id", map[string]any{"secret_id": " x "}, logical.ErrInvalidRequest},
		"custom over the size cap":  {"role/web/custom-secret-id", map[string]any{"secret_id": string(make([]byte, 5000))}, logical.ErrInvalidRequest},
		"lookup without secret":     {"role/web/secret-id/lookup", nil, logical.ErrInvalidRequest},
		"accessor lookup, no field": {"role/web/secret-id-accessor/lookup", nil, logical.ErrInvalidRequest},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := h.do(logical.UpdateOperation, tc.path, tc.data); !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
	r := h.mustDo(t, logical.UpdateOperation, "role/web/secret-id", map[string]any{"num_uses": 2, "ttl": "30m", "metadata": "team=a,env=prod"})
	if r.Data["secret_id_num_uses"] != 2 || r.Data["secret_id_ttl"] != int64(1800) || r.Data["secret_id"] == "" || r.Data["secret_id_accessor"] == "" {
		t.Fatalf("generate = %v", r.Data)
	}
	d := h.mustDo(t, logical.UpdateOperation, "role/web/secret-id/lookup", map[string]any{"secret_id": r.Data["secret_id"]}).Data
	if !reflect.DeepEqual(d["metadata"], map[string]string{"team": "a", "env": "prod"}) || d["secret_id_accessor"] != r.Data["secret_id_accessor"] ||
		!d["expiration_time"].(time.Time).Equal(h.clock.now().Add(30*time.Minute)) || !reflect.DeepEqual(d["cidr_list"], []string{}) {
		t.Fatalf("lookup = %v", d)
	}
}

func TestParseMetadata(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		in   any
		want map[string]string
		ok   bool
	}{
		"nil":         {nil, map[string]string{}, true},
		"object":      {map[string]any{"a": "1", "n": 2.0, "b": true}, map[string]string{"a": "1", "n": "2", "b": "true"}, true},
		"json string": {`{"a":"1","b":"x=y"}`, map[string]string{"a": "1", "b": "x=y"}, true},
		"pairs":       {"a=1, b=2", map[string]string{"a": "1", "b": "2"}, true},
		"empty":       {"  ", map[string]string{}, true},
		"bare word":   {"nope", nil, false},
		"list":        {[]any{"a=1"}, nil, false},
		"nested":      {`{"a":{"b":1}}`, nil, false},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got, err := parseMetadata(tc.in)
			if tc.ok != (err == nil) || (tc.ok && !reflect.DeepEqual(got, tc.want)) {
				t.Fatalf("got %v, %v", got, err)
			}
		})
	}
}

// TestCustomSecretID checks registration of a chosen secret ID, refusal of
// a duplicate and login with it.
func TestCustomSecretID(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	roleID := h.role(t, "web", nil)
	r := h.mustDo(t, logical.UpdateOperation, "role/web/custom-secret-id", map[string]any{"secret_id": "chosen"})
	if r.Data["secret_id"] != "chosen" {
		t.Fatalf("custom = %v", r.Data)
	}
	if _, err := h.do(logical.UpdateOperation, "role/web/custom-secret-id", map[string]any{"secret_id": "chosen"}); !errors.Is(err, ErrSecretIDExists) {
		t.Fatalf("duplicate: %v", err)
	}
	if _, err := h.login(roleID, "chosen", "127.0.0.1:1"); err != nil {
		t.Fatalf("login: %v", err)
	}
}

// TestAccessors covers the accessor routes: listing, lookup, destroy, and
// that one role's routes cannot reach another role's secret IDs.
func TestAccessors(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	webID := h.role(t, "web", nil)
	h.role(t, "db", nil)
	s1, a1 := h.secretID(t, "web", nil)
	_, a2 := h.secretID(t, "web", nil)
	_, dbAcc := h.secretID(t, "db", nil)
	l := h.mustDo(t, logical.ListOperation, "role/web/secret-id/", nil)
	keys := l.Data["keys"].([]string)
	if len(keys) != 2 || (keys[0] != a1 && keys[1] != a1) {
		t.Fatalf("list = %v", keys)
	}
	if r := h.mustDo(t, logical.UpdateOperation, "role/web/secret-id-accessor/lookup", map[string]any{"secret_id_accessor": a2}); r.Data["secret_id_accessor"] != a2 {
		t.Fatalf("accessor lookup = %v", r.Data)
	}
	for name, path := range map[string]string{
		"lookup other role's": "role/web/secret-id-accessor/lookup", "destroy other role's": "role/web/secret-id-accessor/destroy",
	} {
		if _, err := h.do(logical.UpdateOperation, path, map[string]any{"secret_id_accessor": dbAcc}); !errors.Is(err, logical.ErrNotFound) {
			t.Fatalf("%s: %v", name, err)
		}
	}
	h.mustDo(t, logical.DeleteOperation, "role/web/secret-id-accessor/destroy", map[string]any{"secret_id_accessor": a1})
	if _, err := h.login(webID, s1, "127.0.0.1:1"); !errors.Is(err, ErrInvalidCredentials) {
		t.Fatalf("login after destroy by accessor: %v", err)
	}
	s3, _ := h.secretID(t, "web", nil)
	h.mustDo(t, logical.UpdateOperation, "role/web/secret-id/destroy", map[string]any{"secret_id": s3})
	if r, _ := h.do(logical.UpdateOperation, "role/web/secret-id/lookup", map[string]any{"secret_id": s3}); r != nil {
		t.Fatal("destroyed secret ID still looked up")
	}
	if _, err := h.do(logical.UpdateOperation, "role/web/secret-id/destroy", map[string]any{"secret_id": "unknown"}); err != nil {
		t.Fatalf("destroying an unknown secret ID: %v", err)
	}
	if r, _ := h.do(logical.ListOperation, "role/db/secret-id/", nil); r == nil {
		t.Fatal("db's secret ID went with web's")
	}
}
