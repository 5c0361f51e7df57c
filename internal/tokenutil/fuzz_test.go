package tokenutil

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/cofferhq/coffer/internal/logical"
)

// FuzzParse feeds arbitrary JSON bodies, decoded as the HTTP layer decodes
// them, through the token fields. Every failure must be a 400-class user
// error, and whatever parses must obey the rules: no root policy, no
// negative uses, a TTL within the max, a known type.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`{"policies":"a,B","ttl":"10s"}`,
		`{"token_policies":["x",1,true],"token_ttl":"1h","token_max_ttl":60}`,
		`{"bound_cidrs":["10.0.0.0/8","::1","nope"],"num_uses":-1}`,
		`{"token_type":"batch","period":"1d"}`,
		`{"token_no_default_policy":"yes","max_ttl":1e3}`,
		`{"policies":{"a":1},"ttl":null,"token_ttl":"5s"}`,
		`{"policies":" root "}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		dec := json.NewDecoder(strings.NewReader(body))
		dec.UseNumber()
		var data map[string]any
		if dec.Decode(&data) != nil {
			return
		}
		var p Params
		err := parse(t, &p, data)
		if err != nil {
			var ue *logical.UserError
			if !errors.As(err, &ue) || !errors.Is(err, logical.ErrInvalidRequest) {
				t.Fatalf("not a 400 user error: %v", err)
			}
			return
		}
		switch {
		case slices.Contains(p.Policies, "root"), slices.Contains(p.Policies, "response-wrapping"):
			t.Fatalf("reserved policy accepted: %v", p.Policies)
		case p.NumUses < 0 || p.TTL < 0 || p.MaxTTL < 0 || p.Period < 0 || p.ExplicitMaxTTL < 0:
			t.Fatalf("negative setting accepted: %+v", p)
		case p.MaxTTL > 0 && p.TTL > p.MaxTTL:
			t.Fatalf("ttl over max accepted: %+v", p)
		case p.IssuedType() != TypeService:
			t.Fatalf("token type %q accepted before batch tokens exist", p.Type)
		}
	})
}
