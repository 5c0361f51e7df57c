package approle

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/cofferhq/coffer/internal/logical"
)

// FuzzBodies sends arbitrary JSON bodies, decoded as the HTTP layer decodes
// them, to the role, secret ID and login routes. Nothing may panic or fail
// with anything but a user error, and no read may show a secret ID.
func FuzzBodies(f *testing.F) {
	seeds := []string{
		`{"policies":"a,b","secret_id_ttl":"10m","secret_id_num_uses":3}`,
		`{"bind_secret_id":false,"secret_id_bound_cidrs":["10.0.0.0/8","::1","nope"]}`,
		`{"token_type":"batch","token_num_uses":1,"role_id":""}`,
		`{"metadata":"{\"a\":1}","cidr_list":"127.0.0.1","num_uses":-1,"ttl":"1h"}`,
		`{"metadata":{"a":[1]},"token_bound_cidrs":"x","secret_id":"s"}`,
		`{"role_id":123,"secret_id":null,"local_secret_ids":"yes"}`,
		`{"bound_cidr_list":"10.0.0.0/8","period":"1d","ttl":5}`,
	}
	for _, s := range seeds {
		f.Add("web", s)
	}
	f.Fuzz(func(t *testing.T, name, body string) {
		dec := json.NewDecoder(strings.NewReader(body))
		dec.UseNumber()
		var data map[string]any
		if dec.Decode(&data) != nil {
			return
		}
		h := newHarness(t)
		userErr := func(route string, err error) {
			var ue *logical.UserError
			if err != nil && !errors.As(err, &ue) {
				t.Fatalf("%s: internal error for user input: %v", route, err)
			}
		}
		var issued []string
		for _, p := range []string{"role/" + name, "role/" + name + "/secret-id", "role/" + name + "/custom-secret-id", "login"} {
			r, err := h.do(logical.UpdateOperation, p, data)
			userErr(p, err)
			// Generated secret IDs are UUIDs, which no other field can
			// contain by chance; a custom one may be any short word.
			if r != nil && r.Data["secret_id"] != nil && strings.HasSuffix(p, "/secret-id") {
				issued = append(issued, fmt.Sprint(r.Data["secret_id"]))
			}
		}
		for _, p := range []string{"role/" + name, "role/" + name + "/secret-id/lookup", "role/" + name + "/secret-id-accessor/lookup"} {
			op := logical.UpdateOperation
			if p == "role/"+name {
				op = logical.ReadOperation
			}
			r, err := h.do(op, p, data)
			userErr(p, err)
			if r == nil {
				continue
			}
			dump := fmt.Sprint(r.Data)
			for _, s := range issued {
				if s != "" && strings.Contains(dump, s) {
					t.Fatalf("%s shows a secret ID: %s", p, dump)
				}
			}
		}
	})
}
