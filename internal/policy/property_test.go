package policy_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cofferhq/coffer/internal/framework"
	"github.com/cofferhq/coffer/internal/logical"
	"github.com/cofferhq/coffer/internal/policy"
)

// propertyBackend is a route with every kind of field a policy may
// constrain; its handler answers with the values it used.
func propertyBackend() *framework.Backend {
	return &framework.Backend{Paths: []*framework.Path{{
		Pattern: "users/" + framework.GenericNameRegex("name"),
		Fields: map[string]*framework.FieldSchema{
			"name":           {Type: framework.TypeString},
			"token_policies": {Type: framework.TypeLowerStrings, Aliases: []string{"policies"}},
			"cidrs":          {Type: framework.TypeStringSlice},
			"ttl":            {Type: framework.TypeDurationSecond},
			"uses":           {Type: framework.TypeInt},
			"flag":           {Type: framework.TypeBool},
		},
		Operations: map[logical.Operation]framework.OperationFunc{
			logical.UpdateOperation: func(_ context.Context, _ *logical.Request, d *framework.FieldData) (*logical.Response, error) {
				used := map[string]any{"name": d.String("name")}
				for _, f := range []string{"token_policies", "cidrs", "ttl", "uses", "flag"} {
					if v, ok := d.GetOk(f); ok {
						used[f] = v
					}
				}
				return logical.DataResponse(used), nil
			},
		},
	}}}
}

// The two policies under test, each with an oracle written independently
// of the policy code: given what the handler used and the keys sent, does
// it satisfy the policy?
const (
	allowPolicy = `
path "users/*" {
  capabilities = ["update"]
  allowed_parameters = {
    "token_policies" = ["dev-*", "OPS"]
    "ttl"   = [60, "2m", 0]
    "uses"  = []
    "cidrs" = ["10.*"]
    "flag"  = [true]
    "name"  = ["alice"]
  }
  denied_parameters = {
    "policies" = ["*admin*"]
    "uses" = [0]
  }
}`
	denyPolicy = `
path "users/*" {
  capabilities = ["update"]
  denied_parameters = {
    "token_policies" = ["admin*"]
    "ttl" = [0]
    "cidrs" = ["0.0.0.0/0"]
  }
}`
)

func allowOracle(used map[string]any, sent map[string]any) string {
	for k := range sent {
		if !slices.Contains([]string{"token_policies", "policies", "ttl", "uses", "cidrs", "flag", "name"}, k) {
			return "unlisted parameter " + k
		}
	}
	if ps, ok := used["token_policies"].([]string); ok {
		for _, p := range ps {
			if !(strings.HasPrefix(p, "dev-") || p == "ops") || strings.Contains(p, "admin") {
				return "policy " + p
			}
		}
	}
	if d, ok := used["ttl"].(time.Duration); ok && d != time.Minute && d != 2*time.Minute && d != 0 {
		return "ttl " + d.String()
	}
	if n, ok := used["uses"].(int); ok && n == 0 {
		return "zero uses"
	}
	if cs, ok := used["cidrs"].([]string); ok {
		for _, c := range cs {
			if !strings.HasPrefix(c, "10.") {
				return "cidr " + c
			}
		}
	}
	if b, ok := used["flag"].(bool); ok && !b {
		return "flag false"
	}
	if _, ok := sent["name"]; ok && used["name"] != "alice" {
		return "name " + used["name"].(string)
	}
	return ""
}

func denyOracle(used map[string]any, _ map[string]any) string {
	if ps, ok := used["token_policies"].([]string); ok {
		for _, p := range ps {
			if strings.HasPrefix(p, "admin") {
				return "policy " + p
			}
		}
	}
	if d, ok := used["ttl"].(time.Duration); ok && d == 0 {
		return "zero ttl"
	}
	if cs, ok := used["cidrs"].([]string); ok && slices.Contains(cs, "0.0.0.0/0") {
		return "open cidr"
	}
	return ""
}

// FuzzPolicyHoldsForHandlerValues is the property behind parameter rules:
// whenever a request passes the policy, the values the handler ends up
// using satisfy it; and a body the policy check cannot parse is one the
// handler refuses too.
func FuzzPolicyHoldsForHandlerValues(f *testing.F) {
	for _, s := range [][2]string{
		{"alice", `{"token_policies":"admin"}`},
		{"alice", `{"token_policies":["admin"]}`},
		{"alice", `{"token_policies":"dev-a,admin"}`},
		{"alice", `{"token_policies":"ADMIN"}`},
		{"alice", `{"policies":"dev-a, Admin-x","token_policies":null}`},
		{"alice", `{"token_policies":"dev-a","policies":"admin"}`},
		{"bob", `{"name":"alice","ttl":"1m","uses":"3"}`},
		{"alice", `{"ttl":60,"uses":0,"cidrs":"10.0.0.1, 0.0.0.0/0"}`},
		{"alice", `{"ttl":"0s","uses":1.0,"flag":"false"}`},
		{"alice", `{"ttl":120,"flag":1,"cidrs":[" 10.1.1.1"]}`},
		{"alice", `{"token_policies":[{"a":1}],"other":1}`},
	} {
		f.Add(s[0], s[1])
	}
	b := propertyBackend()
	acls := map[string]struct {
		acl    *policy.ACL
		oracle func(used, sent map[string]any) string
	}{
		"allow": {mustPolicyACL(f, allowPolicy), allowOracle},
		"deny":  {mustPolicyACL(f, denyPolicy), denyOracle},
	}
	f.Fuzz(func(t *testing.T, name, body string) {
		dec := json.NewDecoder(strings.NewReader(body))
		dec.UseNumber()
		var data map[string]any
		if dec.Decode(&data) != nil {
			return
		}
		req := &logical.Request{Operation: logical.UpdateOperation, Path: "users/" + name, Data: data}
		for label, a := range acls {
			res, err := a.acl.AllowedParams(req.Operation, req.Path, func() ([]logical.Param, error) {
				return logical.RequestParams(b, req)
			})
			resp, herr := b.HandleRequest(context.Background(), req)
			if err != nil {
				if !errors.Is(err, logical.ErrInvalidRequest) || herr == nil {
					t.Fatalf("%s: the policy check refused %v, the handler answered %v", label, err, herr)
				}
				continue
			}
			if !res.Allowed || herr != nil {
				continue
			}
			if why := a.oracle(resp.Data, data); why != "" {
				t.Fatalf("%s: allowed, but the handler used %s (%v)", label, why, resp.Data)
			}
		}
	})
}

func mustPolicyACL(t testing.TB, text string) *policy.ACL {
	p, err := policy.Parse("p", text)
	if err != nil {
		t.Fatal(err)
	}
	return policy.NewACL(p)
}
