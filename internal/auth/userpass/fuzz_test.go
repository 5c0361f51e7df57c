package userpass

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/cofferhq/coffer/internal/logical"
)

// FuzzUserBodies sends arbitrary JSON bodies to the user and login routes.
// Nothing may panic or fail with anything but a user error, and no read may
// show a password or its hash.
func FuzzUserBodies(f *testing.F) {
	seeds := []struct{ name, body string }{
		{"alice", `{"password":"pw","policies":"a,b"}`},
		{"Bob", `{"password":"pw","token_policies":["x",1,true],"token_ttl":"1h","token_max_ttl":60}`},
		{"c", `{"password":"pw","token_bound_cidrs":["10.0.0.0/8","::1","nope"]}`},
		{"d", `{"password":"pw","token_num_uses":-1,"token_period":"1d"}`},
		{"e", `{"password":["pw"],"token_no_default_policy":"yes"}`},
		{"f", `{"password":null,"policies":{"a":1}}`},
		{"g", `{"password":"` + strings.Repeat("p", 80) + `"}`},
		{"-x", `{}`},
	}
	for _, s := range seeds {
		f.Add(s.name, s.body)
	}
	f.Fuzz(func(t *testing.T, name, body string) {
		var data map[string]any
		if json.Unmarshal([]byte(body), &data) != nil {
			return
		}
		h := newHarness(t)
		h.b.cost = bcrypt.MinCost
		userErr := func(route string, err error) {
			var ue *logical.UserError
			if err != nil && !errors.As(err, &ue) {
				t.Fatalf("%s: internal error for user input: %v", route, err)
			}
		}
		_, err := h.do(logical.CreateOperation, "users/"+name, data)
		userErr("write", err)
		_, err = h.do(logical.UpdateOperation, "login/"+name, data)
		userErr("login", err)
		r, err := h.do(logical.ReadOperation, "users/"+name, nil)
		userErr("read", err)
		if r != nil {
			// The plaintext is never stored, so only the hash could leak.
			if dump := fmt.Sprint(r.Data); strings.Contains(dump, "$2a$") || strings.Contains(dump, "password") {
				t.Fatalf("read shows the password hash: %s", dump)
			}
		}
	})
}
