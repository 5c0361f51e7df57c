package framework

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"sort"
	"testing"
	"time"

	"github.com/cofferhq/coffer/internal/logical"
)

func paramBackend() *Backend {
	return &Backend{Paths: []*Path{
		{
			Pattern: "users/" + GenericNameRegex("name"),
			Fields: map[string]*FieldSchema{
				"name":     {Type: TypeString},
				"policies": {Type: TypeLowerStrings, Aliases: []string{"legacy_policies"}},
				"cidrs":    {Type: TypeStringSlice},
				"ttl":      {Type: TypeDurationSecond},
				"uses":     {Type: TypeInt},
				"on":       {Type: TypeBool},
				"meta":     {Type: TypeKVPairs},
				"raw":      {Type: TypeRaw},
			},
			Operations: map[logical.Operation]OperationFunc{logical.UpdateOperation: nop},
		},
		{
			Pattern:             "kv/" + MatchAllRegex("path"),
			Fields:              map[string]*FieldSchema{"path": {Type: TypeString}},
			TakesArbitraryInput: true,
			Operations:          map[logical.Operation]OperationFunc{logical.UpdateOperation: nop},
		},
	}}
}

func nop(context.Context, *logical.Request, *FieldData) (*logical.Response, error) { return nil, nil }

// view is a Param without its function, for comparison.
type view struct {
	Names  []string
	Values []any
	Typed  bool
}

func views(ps []logical.Param) []view {
	out := make([]view, len(ps))
	for i, p := range ps {
		out[i] = view{p.Names, p.Values, p.Normalize != nil}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Names[0] != out[j].Names[0] {
			return out[i].Names[0] < out[j].Names[0]
		}
		return !out[i].Typed
	})
	return out
}

func TestParseParams(t *testing.T) {
	t.Parallel()
	b := paramBackend()
	cases := map[string]struct {
		path    string
		data    map[string]any
		want    []view
		wantErr error
	}{
		"comma string split and lowered": {path: "users/a", data: map[string]any{"policies": "Dev, ADMIN,,"},
			want: []view{{[]string{"policies", "legacy_policies"}, []any{"dev", "admin"}, true}}},
		"array lowered": {path: "users/a", data: map[string]any{"policies": []any{"A", " b "}},
			want: []view{{[]string{"policies", "legacy_policies"}, []any{"a", "b"}, true}}},
		"older name resolves": {path: "users/a", data: map[string]any{"legacy_policies": "X"},
			want: []view{{[]string{"policies", "legacy_policies"}, []any{"x"}, true}}},
		"both names: the field's own wins, once": {path: "users/a", data: map[string]any{"legacy_policies": "admin", "policies": "dev"},
			want: []view{{[]string{"policies", "legacy_policies"}, []any{"dev"}, true}}},
		"capture beats body": {path: "users/alice", data: map[string]any{"name": "root"},
			want: []view{{[]string{"name"}, []any{"alice"}, true}}},
		"types": {path: "users/a", data: map[string]any{"ttl": json.Number("60"), "uses": "3", "on": "true", "cidrs": "10.0.0.1, ::1"},
			want: []view{
				{[]string{"cidrs"}, []any{"10.0.0.1", "::1"}, true},
				{[]string{"on"}, []any{true}, true},
				{[]string{"ttl"}, []any{time.Minute}, true},
				{[]string{"uses"}, []any{3}, true},
			}},
		"null is unset": {path: "users/a", data: map[string]any{"ttl": nil},
			want: []view{{[]string{"ttl"}, nil, true}}},
		"map is one value": {path: "users/a", data: map[string]any{"meta": map[string]any{"k": "v"}},
			want: []view{{[]string{"meta"}, []any{map[string]string{"k": "v"}}, true}}},
		"raw field flattened": {path: "users/a", data: map[string]any{"raw": []any{"a", []any{json.Number("1")}}},
			want: []view{{[]string{"raw"}, []any{"a", json.Number("1")}, false}}},
		"undeclared raw": {path: "users/a", data: map[string]any{"Other": []any{"x", "y"}},
			want: []view{{[]string{"Other"}, []any{"x", "y"}, false}}},
		"arbitrary input: raw and parsed": {path: "kv/s", data: map[string]any{"path": "elsewhere", "k": "v"},
			want: []view{
				{[]string{"k"}, []any{"v"}, false},
				{[]string{"path"}, []any{"elsewhere"}, false},
				{[]string{"path"}, []any{"s"}, true},
			}},
		"does not convert": {path: "users/a", data: map[string]any{"uses": "many"}, wantErr: logical.ErrInvalidRequest},
		"older name does not convert": {path: "users/a", data: map[string]any{"legacy_policies": map[string]any{}},
			wantErr: logical.ErrInvalidRequest},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			req := &logical.Request{Operation: logical.UpdateOperation, Path: tc.path, Data: tc.data}
			ps, ok, err := b.ParseParams(req)
			if tc.wantErr != nil {
				_, herr := b.HandleRequest(t.Context(), req)
				if !ok || !errors.Is(err, tc.wantErr) || herr == nil || err.Error() != herr.Error() {
					t.Fatalf("err = %v (ok %v), handler's = %v", err, ok, herr)
				}
				return
			}
			if err != nil || !ok {
				t.Fatalf("ok = %v, err = %v", ok, err)
			}
			if got := views(ps); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got  %#v\nwant %#v", got, tc.want)
			}
		})
	}
	if _, ok, err := b.ParseParams(&logical.Request{Path: "nowhere"}); ok || err != nil {
		t.Fatalf("unrouted path: ok %v err %v", ok, err)
	}
	// No handler runs for an operation the route lacks: described raw.
	ps, ok, err := b.ParseParams(&logical.Request{Operation: logical.DeleteOperation, Path: "users/a", Data: map[string]any{"uses": "many"}})
	if !ok || err != nil || !reflect.DeepEqual(views(ps), []view{{[]string{"uses"}, []any{"many"}, false}}) {
		t.Fatalf("unserved operation: %v %v %v", ps, ok, err)
	}
}

// TestNormalizers: a policy value converts like one element of input.
func TestNormalizers(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		t       FieldType
		in, out any
		fails   bool
	}{
		"lower list":         {t: TypeLowerStrings, in: " ADMIN* ", out: "admin*"},
		"list keeps case":    {t: TypeStringSlice, in: " Admin ", out: "Admin"},
		"duration number":    {t: TypeDurationSecond, in: int64(60), out: time.Minute},
		"duration string":    {t: TypeDurationSecond, in: "1m", out: time.Minute},
		"duration glob":      {t: TypeDurationSecond, in: "1*", fails: true},
		"int from string":    {t: TypeInt, in: "0", out: 0},
		"bool":               {t: TypeBool, in: "true", out: true},
		"string from number": {t: TypeString, in: int64(5), out: "5"},
		"string from float":  {t: TypeString, in: 1.5, out: "1.5"},
		"object":             {t: TypeMap, in: "x", fails: true},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got, err := normalizer(tc.t)(tc.in)
			if tc.fails != (err != nil) || (!tc.fails && got != tc.out) {
				t.Fatalf("got %#v, %v", got, err)
			}
		})
	}
	if normalizer(TypeRaw) != nil {
		t.Fatal("raw fields compare raw")
	}
}
