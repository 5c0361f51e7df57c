package tokenutil

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/cofferhq/coffer/internal/framework"
	"github.com/cofferhq/coffer/internal/logical"
)

// parse runs body through a route with the token fields, as the framework
// would, and parses it into p.
func parse(t testing.TB, p *Params, body map[string]any) error {
	t.Helper()
	var perr error
	b := &framework.Backend{Paths: []*framework.Path{{
		Pattern: "role",
		Fields:  Fields(),
		Operations: map[logical.Operation]framework.OperationFunc{
			logical.UpdateOperation: func(_ context.Context, _ *logical.Request, d *framework.FieldData) (*logical.Response, error) {
				perr = p.Parse(d)
				return nil, nil
			},
		},
	}}}
	if _, err := b.HandleRequest(context.Background(), &logical.Request{Operation: logical.UpdateOperation, Path: "role", Data: body}); err != nil {
		return err
	}
	return perr
}

func TestParse(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		body    map[string]any
		want    Params
		wantErr error
	}{
		"current names": {
			body: map[string]any{"token_policies": "B, a,A", "token_ttl": "10s", "token_max_ttl": 60, "token_explicit_max_ttl": "2m",
				"token_period": "0", "token_num_uses": "3", "token_bound_cidrs": []any{"10.1.2.3/8", "::1"}, "token_no_default_policy": true, "token_type": "service"},
			want: Params{Policies: []string{"a", "b"}, TTL: 10 * time.Second, MaxTTL: time.Minute, ExplicitMaxTTL: 2 * time.Minute,
				NumUses: 3, BoundCIDRs: []string{"10.0.0.0/8", "::1/128"}, NoDefaultPolicy: true, Type: "service"},
		},
		"legacy names": {
			body: map[string]any{"policies": []any{"dev"}, "ttl": "10s", "max_ttl": "1m", "period": 30, "num_uses": 2, "bound_cidrs": "10.0.0.1"},
			want: Params{Policies: []string{"dev"}, TTL: 10 * time.Second, MaxTTL: time.Minute, Period: 30 * time.Second, NumUses: 2,
				BoundCIDRs: []string{"10.0.0.1/32"}, Legacy: map[string]string{"token_policies": "policies", "token_ttl": "ttl",
					"token_max_ttl": "max_ttl", "token_period": "period", "token_num_uses": "num_uses", "token_bound_cidrs": "bound_cidrs"}},
		},
		"current name wins": {
			body: map[string]any{"ttl": "1h", "token_ttl": "10s", "policies": "admin", "token_policies": "dev"},
			want: Params{TTL: 10 * time.Second, Policies: []string{"dev"}},
		},
		"null current name": {body: map[string]any{"token_ttl": nil, "ttl": "5s"}, want: Params{TTL: 5 * time.Second, Legacy: map[string]string{"token_ttl": "ttl"}}},
		"default types":     {body: map[string]any{"token_type": "default-service"}, want: Params{Type: "default-service"}},
		"root":              {body: map[string]any{"policies": "dev,ROOT"}, wantErr: ErrRootPolicy},
		"negative uses":     {body: map[string]any{"num_uses": -1}, wantErr: ErrNegativeUses},
		"ttl over max":      {body: map[string]any{"ttl": "2h", "token_max_ttl": "1h"}, wantErr: ErrTTLOverMax},
		"bad cidr":          {body: map[string]any{"bound_cidrs": "10.0.0.0/33"}, wantErr: logical.ErrInvalidRequest},
		"bad legacy ttl":    {body: map[string]any{"ttl": "soon"}, wantErr: logical.ErrInvalidRequest},
		"bad type":          {body: map[string]any{"token_type": "cheap"}, wantErr: logical.ErrInvalidRequest},
		"batch":             {body: map[string]any{"token_type": "batch"}, want: Params{Type: "batch"}},
		"default batch":     {body: map[string]any{"token_type": "default-batch"}, want: Params{Type: "default-batch"}},
		"batch with uses":   {body: map[string]any{"token_type": "default-batch", "num_uses": 2}, wantErr: logical.ErrInvalidRequest},
		"periodic batch":    {body: map[string]any{"token_type": "batch", "period": "1h"}, wantErr: logical.ErrInvalidRequest},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var p Params
			err := parse(t, &p, tc.body)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) || !errors.Is(err, logical.ErrInvalidRequest) {
					t.Fatalf("err = %v, want %v (a 400)", err, tc.wantErr)
				}
				if !reflect.DeepEqual(p, Params{}) {
					t.Fatalf("a refused parse changed the params: %+v", p)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(p, tc.want) {
				t.Fatalf("got  %+v\nwant %+v", p, tc.want)
			}
		})
	}
}

// TestParseKeepsWhatIsNotSet: a partial update changes only what it names,
// and writing a field under its current name forgets the older name.
func TestParseKeepsWhatIsNotSet(t *testing.T) {
	t.Parallel()
	var p Params
	if err := parse(t, &p, map[string]any{"ttl": "1m", "policies": "a"}); err != nil {
		t.Fatal(err)
	}
	if err := parse(t, &p, map[string]any{"token_ttl": "2m"}); err != nil {
		t.Fatal(err)
	}
	want := Params{TTL: 2 * time.Minute, Policies: []string{"a"}, Legacy: map[string]string{"token_policies": "policies"}}
	if !reflect.DeepEqual(p, want) {
		t.Fatalf("got %+v, want %+v", p, want)
	}
}

func TestDescribe(t *testing.T) {
	t.Parallel()
	p := Params{TTL: 10 * time.Second, Policies: []string{"dev"}, Legacy: map[string]string{"token_ttl": "ttl"}}
	m := map[string]any{}
	p.Describe(m)
	want := map[string]any{
		"token_policies": []string{"dev"}, "token_ttl": int64(10), "ttl": int64(10), "token_max_ttl": int64(0),
		"token_explicit_max_ttl": int64(0), "token_period": int64(0), "token_num_uses": 0, "token_bound_cidrs": []string{},
		"token_no_default_policy": false, "token_type": "default",
	}
	if !reflect.DeepEqual(m, want) {
		t.Fatalf("got  %v\nwant %v", m, want)
	}
}

func TestApply(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		p    Params
		want logical.Auth
	}{
		"everything": {
			p: Params{Policies: []string{"dev"}, TTL: time.Minute, MaxTTL: time.Hour, ExplicitMaxTTL: 2 * time.Hour, Period: 0,
				NumUses: 3, BoundCIDRs: []string{"10.0.0.0/8"}, NoDefaultPolicy: true, Type: "default-service"},
			want: logical.Auth{Policies: []string{"dev"}, LeaseDuration: time.Minute, ExplicitMaxTTL: time.Hour, NumUses: 3,
				BoundCIDRs: []string{"10.0.0.0/8"}, NoDefaultPolicy: true, TokenType: "service", Renewable: true},
		},
		"explicit max only": {p: Params{ExplicitMaxTTL: time.Hour}, want: logical.Auth{ExplicitMaxTTL: time.Hour, TokenType: "service", Renewable: true}},
		"batch":             {p: Params{Type: "default-batch"}, want: logical.Auth{TokenType: "batch", Renewable: true}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var a logical.Auth
			tc.p.Apply(&a)
			if !reflect.DeepEqual(a, tc.want) {
				t.Fatalf("got  %+v\nwant %+v", a, tc.want)
			}
			if len(a.Policies) > 0 {
				a.Policies[0] = "changed"
				if tc.p.Policies[0] == "changed" {
					t.Fatal("Apply shares the policies slice")
				}
			}
		})
	}
}

func TestFields(t *testing.T) {
	t.Parallel()
	f := Fields()
	if got := f["token_ttl"].Aliases; !reflect.DeepEqual(got, []string{"ttl"}) {
		t.Fatalf("token_ttl aliases = %v", got)
	}
	legacy := LegacyNames()
	delete(legacy, "token_ttl")
	legacy["token_explicit_max_ttl"] = []string{"explicit_max_ttl"}
	g := FieldsWithLegacy(legacy)
	if len(g["token_ttl"].Aliases) != 0 || !reflect.DeepEqual(g["token_explicit_max_ttl"].Aliases, []string{"explicit_max_ttl"}) {
		t.Fatalf("custom legacy names not applied: %v %v", g["token_ttl"].Aliases, g["token_explicit_max_ttl"].Aliases)
	}
	if len(Fields()["token_ttl"].Aliases) != 1 {
		t.Fatal("changing a LegacyNames map changed the defaults")
	}
	for name, m := range map[string]map[string]*framework.FieldSchema{
		"field":  {"token_ttl": {Type: framework.TypeString}},
		"legacy": {"ttl": {Type: framework.TypeString}},
		"alias":  {"lease": {Type: framework.TypeString, Aliases: []string{"period"}}},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: AddFields overwrote a name without panicking", name)
				}
			}()
			AddFields(m)
		}()
	}
	m := map[string]*framework.FieldSchema{"name": {Type: framework.TypeString}}
	AddFields(m)
	if len(m) != 10 {
		t.Fatalf("AddFields added %d fields, want 9", len(m)-1)
	}
}
