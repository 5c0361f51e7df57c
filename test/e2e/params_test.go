package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/openbao/openbao/api/v2"
)

// sendJSON sends body, literal JSON text, with token, so the server's own
// decoding (numbers as json.Number) is what the policy sees. It returns
// the status and the raw response body.
func (s *server) sendJSON(t *testing.T, token, method, path, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, s.url+"/v1/"+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Vault-Token", token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(bytes.TrimSpace(b))
}

// tokenWith creates a token carrying only the named policy.
func (s *server) tokenWith(t *testing.T, name, text string) string {
	t.Helper()
	if err := s.client.Sys().PutPolicy(name, text); err != nil {
		t.Fatalf("policy %s: %v", name, err)
	}
	sec, err := s.client.Auth().Token().Create(&api.TokenCreateRequest{Policies: []string{name}, NoDefaultPolicy: true})
	if err != nil {
		t.Fatal(err)
	}
	return sec.Auth.ClientToken
}

// paramCase is one request against a policy with parameter rules.
type paramCase struct {
	body   string
	status int
}

// TestDeniedParametersSeeParsedValues: with token_policies "admin*"
// denied, no spelling of "admin" gets through: not an array, not a comma
// string the field splits, not upper case the field lowers, not the older
// name "policies". Each used to pass and the user's login then carried
// the admin policy.
func TestDeniedParametersSeeParsedValues(t *testing.T) {
	t.Parallel()
	s := start(t)
	if err := s.client.Sys().EnableAuthWithOptions("userpass", &api.EnableAuthOptions{Type: "userpass"}); err != nil {
		t.Fatal(err)
	}
	tok := s.tokenWith(t, "manager", `
path "auth/userpass/users/*" {
  capabilities = ["create", "update"]
  denied_parameters = { "token_policies" = ["admin*"] }
}`)
	cases := map[string]paramCase{
		"plain string":        {`{"password":"pw","token_policies":"admin"}`, http.StatusForbidden},
		"array":               {`{"password":"pw","token_policies":["admin"]}`, http.StatusForbidden},
		"array, second":       {`{"password":"pw","token_policies":["dev","admin"]}`, http.StatusForbidden},
		"comma string":        {`{"password":"pw","token_policies":"dev,admin"}`, http.StatusForbidden},
		"comma with spaces":   {`{"password":"pw","token_policies":"dev, admin-ops"}`, http.StatusForbidden},
		"upper case":          {`{"password":"pw","token_policies":"ADMIN"}`, http.StatusForbidden},
		"upper in array":      {`{"password":"pw","token_policies":["dev"," Admin "]}`, http.StatusForbidden},
		"older name":          {`{"password":"pw","policies":"admin"}`, http.StatusForbidden},
		"older name, array":   {`{"password":"pw","policies":["dev","ADMIN"]}`, http.StatusForbidden},
		"both names":          {`{"password":"pw","policies":"dev","token_policies":"dev,admin"}`, http.StatusForbidden},
		"allowed value":       {`{"password":"pw","token_policies":"dev,ops"}`, http.StatusNoContent},
		"ignored older name":  {`{"password":"pw","token_policies":"dev","policies":"admin"}`, http.StatusOK},
		"bad body still 400":  {`{"password":"pw","token_policies":{"a":1}}`, http.StatusBadRequest},
		"bad other field 400": {`{"password":"pw","token_ttl":"soon"}`, http.StatusBadRequest},
	}
	i := 0
	for name, tc := range cases {
		i++
		user := fmt.Sprintf("u%d", i)
		t.Run(name, func(t *testing.T) {
			status, body := s.sendJSON(t, tok, http.MethodPost, "auth/userpass/users/"+user, tc.body)
			if status != tc.status {
				t.Fatalf("status %d (%s), want %d", status, body, tc.status)
			}
			u, err := s.client.Logical().Read("auth/userpass/users/" + user)
			if err != nil {
				t.Fatal(err)
			}
			if tc.status >= 300 {
				if u != nil {
					t.Fatalf("a refused write created the user: %v", u.Data)
				}
				return
			}
			l, err := s.as(t, "").Logical().Write("auth/userpass/login/"+user, map[string]any{"password": "pw"})
			if err != nil || slices.Contains(l.Auth.Policies, "admin") {
				t.Fatalf("login: %+v %v", l, err)
			}
		})
	}
	// The policies route is governed by the same rule.
	if status, body := s.sendJSON(t, tok, http.MethodPost, "auth/userpass/users/u1/policies", `{"policies":"dev,admin"}`); status != http.StatusForbidden {
		t.Fatalf("policies route: %d %s", status, body)
	}
}

// TestAllowedParametersSeeParsedValues: with token_policies limited to
// "dev-*", "dev-a,admin" no longer passes as one string that the field
// splits afterwards, while lists of allowed values (refused before, as the
// array was compared whole) and the older name pass.
func TestAllowedParametersSeeParsedValues(t *testing.T) {
	t.Parallel()
	s := start(t)
	if err := s.client.Sys().EnableAuthWithOptions("userpass", &api.EnableAuthOptions{Type: "userpass"}); err != nil {
		t.Fatal(err)
	}
	tok := s.tokenWith(t, "devonly", `
path "auth/userpass/users/*" {
  capabilities = ["create", "update"]
  allowed_parameters = {
    "token_policies" = ["dev-*"]
    "password" = []
  }
}`)
	cases := map[string]paramCase{
		"comma string":   {`{"password":"pw","token_policies":"dev-a,admin"}`, http.StatusForbidden},
		"array":          {`{"password":"pw","token_policies":["dev-a","admin"]}`, http.StatusForbidden},
		"older name":     {`{"password":"pw","policies":"dev-a,admin"}`, http.StatusForbidden},
		"other field":    {`{"password":"pw","token_policies":"dev-a","ttl":"1h"}`, http.StatusForbidden},
		"allowed comma":  {`{"password":"pw","token_policies":"dev-a,dev-b"}`, http.StatusNoContent},
		"allowed array":  {`{"password":"pw","token_policies":["dev-a","dev-b"]}`, http.StatusNoContent},
		"allowed older":  {`{"password":"pw","policies":["dev-a"]}`, http.StatusNoContent},
		"lowered by it":  {`{"password":"pw","token_policies":"DEV-A"}`, http.StatusNoContent},
		"empty is none":  {`{"password":"pw","token_policies":""}`, http.StatusNoContent},
		"bad body 400":   {`{"password":"pw","token_policies":[{"a":1}]}`, http.StatusBadRequest},
		"not a list 400": {`{"password":"pw","token_policies":true}`, http.StatusBadRequest},
	}
	i := 0
	for name, tc := range cases {
		i++
		user := fmt.Sprintf("u%d", i)
		t.Run(name, func(t *testing.T) {
			status, body := s.sendJSON(t, tok, http.MethodPost, "auth/userpass/users/"+user, tc.body)
			if status != tc.status {
				t.Fatalf("status %d (%s), want %d", status, body, tc.status)
			}
			u, err := s.client.Logical().Read("auth/userpass/users/" + user)
			if err != nil {
				t.Fatal(err)
			}
			if tc.status >= 300 {
				if u != nil {
					t.Fatalf("a refused write created the user: %v", u.Data)
				}
				return
			}
			for _, p := range u.Data["token_policies"].([]any) {
				if !strings.HasPrefix(p.(string), "dev-") {
					t.Fatalf("user got policy %q", p)
				}
			}
		})
	}
}

// TestParameterRulesCompareNumbers: JSON numbers reach the policy as
// json.Number; a number in a rule must still match them, through the
// field's type (0 and "0" on an integer, 60 and "1m" on a duration) and
// raw on fields no route declares.
func TestParameterRulesCompareNumbers(t *testing.T) {
	t.Parallel()
	s := start(t)
	if err := s.client.Sys().Mount("kv1", &api.MountInput{Type: "kv", Options: map[string]string{"version": "1"}}); err != nil {
		t.Fatal(err)
	}
	tok := s.tokenWith(t, "numbers", `
path "auth/token/create" {
  capabilities = ["update"]
  required_parameters = ["num_uses"]
  denied_parameters = { "num_uses" = [0] }
  allowed_parameters = {
    "num_uses" = []
    "ttl" = [60]
    "policies" = []
  }
}
path "kv1/*" {
  capabilities = ["create", "update"]
  allowed_parameters = {
    "n" = [60, 1.5]
    "tag" = []
  }
  denied_parameters = { "tag" = ["x*", 7] }
}`)
	cases := map[string]struct {
		path string
		paramCase
	}{
		"zero uses":            {"auth/token/create", paramCase{`{"num_uses":0,"ttl":60}`, http.StatusForbidden}},
		"zero uses as string":  {"auth/token/create", paramCase{`{"num_uses":"0","ttl":60}`, http.StatusForbidden}},
		"zero uses, no ttl":    {"auth/token/create", paramCase{`{"num_uses":0}`, http.StatusForbidden}},
		"zero uses, float":     {"auth/token/create", paramCase{`{"num_uses":0.0,"ttl":60}`, http.StatusBadRequest}},
		"one use":              {"auth/token/create", paramCase{`{"num_uses":1,"ttl":60}`, http.StatusOK}},
		"ttl as duration":      {"auth/token/create", paramCase{`{"num_uses":1,"ttl":"1m"}`, http.StatusOK}},
		"ttl as string secs":   {"auth/token/create", paramCase{`{"num_uses":2,"ttl":"60"}`, http.StatusOK}},
		"other ttl":            {"auth/token/create", paramCase{`{"num_uses":1,"ttl":61}`, http.StatusForbidden}},
		"required missing":     {"auth/token/create", paramCase{`{"ttl":60}`, http.StatusForbidden}},
		"raw number":           {"kv1/a", paramCase{`{"n":60}`, http.StatusNoContent}},
		"raw float":            {"kv1/b", paramCase{`{"n":1.5}`, http.StatusNoContent}},
		"raw array of allowed": {"kv1/c", paramCase{`{"n":[60,60.0]}`, http.StatusNoContent}},
		"raw other number":     {"kv1/d", paramCase{`{"n":61}`, http.StatusForbidden}},
		"raw string is not 60": {"kv1/e", paramCase{`{"n":"60"}`, http.StatusForbidden}},
		"raw denied element":   {"kv1/f", paramCase{`{"n":60,"tag":["y","xx"]}`, http.StatusForbidden}},
		"raw denied number":    {"kv1/g", paramCase{`{"n":60,"tag":[1,7]}`, http.StatusForbidden}},
		"raw string kept":      {"kv1/h", paramCase{`{"n":60,"tag":"y,xx"}`, http.StatusNoContent}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			status, body := s.sendJSON(t, tok, http.MethodPost, tc.path, tc.body)
			if status != tc.status {
				t.Fatalf("status %d (%s), want %d", status, body, tc.status)
			}
			if status != http.StatusOK || tc.path != "auth/token/create" {
				return
			}
			var out struct {
				Auth struct {
					ClientToken string `json:"client_token"`
					NumUses     int    `json:"num_uses"`
				} `json:"auth"`
			}
			if err := json.Unmarshal([]byte(body), &out); err != nil || out.Auth.NumUses == 0 {
				t.Fatalf("created an unlimited token: %s %v", body, err)
			}
		})
	}
}
